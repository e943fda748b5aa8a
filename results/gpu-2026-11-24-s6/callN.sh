#!/bin/bash
# Call N (session 6, issue 8): call K again with the vision tower's attention packed (vlm.packed_sdpa: one SDPA call per
# run of equal-size images instead of one per image; call K ran ~490 SFT steps at 0.4 s/step): digits and cryptogram,
# the per-example pixel inputs made once, cryptogram's demo copying the decoder's 26 pairs out in its think section.
# Both SFTs share the GPU, batch 128 (a step is launch-bound: ~0.14 s at batch 32), each with a --time-budget of 7 min (vision warm-up first, at most half of it), then
# greedy eval of each on 200 test examples. Writes $OUT/small.tgz (results.json + metrics.jsonl) and $OUT/logs.txt.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
run() {  # task, warm-up steps, train examples
  python sft.py --task $1 --model-size ${SIZE:-small} --num-examples $3 --batch-size ${BS:-128} --lr 1e-3 --steps 100000 \
    --time-budget ${SFT_MIN:-7.0} --vision-warmup-steps $2 --eval-every 500 --out-dir runs/sft-$1 > logs/sft_$1.log 2>&1
  echo "sft $1 done $(( $(date +%s)-T0 ))s" >> logs/sft_$1.log
  timeout $(( ${DEADLINE:-585} - ($(date +%s)-T0) )) python eval.py --task $1 --model runs/sft-$1 --n ${N:-200} \
    --no-baselines --out-dir runs/eval-$1 > logs/eval_$1.log 2>&1
  echo "eval $1 done (rc $?) $(( $(date +%s)-T0 ))s" >> logs/eval_$1.log
}
run digits ${WARM_DIGITS:-600} ${NEX:-20000} & run cryptogram ${WARM_CRYPTO:-300} ${NEX:-12000} & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
