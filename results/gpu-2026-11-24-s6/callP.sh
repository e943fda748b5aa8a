#!/bin/bash
# Call P (session 6, the last of its device time), two jobs one after the other, each with the GPU to itself:
# (1) issue 9: the GRPO step vs TRL with LoRA, both sides in one process (bench/grpo_vs_trl.py), after grpo.py's
#     LM-head chunk stopped copying logits to divide by T = 1 and sums p log p 32 rows at a time (call M: that
#     chunk's recompute held the last 0.14 GiB of our 13.20 GiB peak; TRL 13.17);
# (2) issue 8: cryptogram SFT alone on the GPU for what is left of the call (call N: loss 1.21 -> 1.12 between
#     steps 700 and 968, where its 7 minutes ran out), 150 warm-up steps (call N's tower was at 99.4% by step 150),
#     then greedy eval on 200 test examples.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-.whl}/*.whl && export PYTHONPATH=/tmp/site
timeout ${BENCH_S:-250} python bench/grpo_vs_trl.py --model ${BENCH_MODEL:-qwen3-0.6b} --lora --compile-decode 2>&1 | grep -v Warning > $OUT/bench.log
tail -8 $OUT/bench.log
SFT_MIN=$(python -c "print(round(max(0.2, (${DEADLINE:-575} - 90 - ($(date +%s) - $T0)) / 60), 1))")   # ~60 s data prep, ~30 s eval
echo "bench done $(( $(date +%s)-T0 ))s; cryptogram SFT --time-budget $SFT_MIN min"
python sft.py --task cryptogram --model-size ${SIZE:-small} --num-examples ${NEX:-12000} --batch-size ${BS:-128} --lr 1e-3 \
  --steps 100000 --time-budget $SFT_MIN --vision-warmup-steps ${WARM:-150} --eval-every 500 --out-dir runs/sft-cryptogram \
  > logs/sft_cryptogram.log 2>&1
echo "sft cryptogram done $(( $(date +%s)-T0 ))s" >> logs/sft_cryptogram.log
timeout $(( ${DEADLINE:-575} - ($(date +%s)-T0) )) python eval.py --task cryptogram --model runs/sft-cryptogram \
  --n ${N:-200} --no-baselines --out-dir runs/eval-cryptogram > logs/eval_cryptogram.log 2>&1
echo "eval cryptogram done (rc $?) $(( $(date +%s)-T0 ))s" >> logs/eval_cryptogram.log
cp runs/eval-cryptogram/results.json small/eval-cryptogram.json; cp runs/sft-cryptogram/metrics.jsonl small/sft-cryptogram.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
tail -c 5000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
