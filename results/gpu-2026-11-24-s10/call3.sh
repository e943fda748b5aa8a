#!/bin/bash
# Call 3 (session 10, issue 8), one H100: the image variant of call 2 alone on the GPU, for longer (8.6 minutes,
# induction warm-up 1,500: call 2's image run had grown its head by step 1,000). Call 2 gave the text variant 100%
# and the image variant 0% after 754 SFT steps (the GPU shared). Greedy eval on 200 test examples.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN=0.3 NEX=40 BS=4 N=4 WARM=4 IND=5 DEADLINE=99999 OUT=/tmp/c3 bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=12
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-590}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX:-12000} --batch-size $BS --lr 1e-3 \
  --steps 100000 --time-budget ${MIN:-8.6} --context-loss-weight 0.25 --eval-every 250 --out-dir runs/sft-cryptogram \
  --vision-warmup-steps ${WARM:-300} --induction-warmup-steps ${IND:-1500} > logs/sft_cryptogram.log 2>&1
stamp "sft cryptogram (rc $?)" sft_cryptogram
timeout $(left) python eval.py --task cryptogram --model runs/sft-cryptogram --n $N --no-baselines \
  --out-dir runs/eval-cryptogram > logs/eval_cryptogram.log 2>&1; stamp "eval cryptogram (rc $?)" eval_cryptogram
cp runs/eval-cryptogram/results.json small/eval-cryptogram.json; cp runs/eval-cryptogram/episodes.jsonl small/eval-cryptogram-episodes.jsonl
cp runs/sft-cryptogram/metrics.jsonl small/sft-cryptogram.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "induction warm-up [0-9]*[1-9]00/" | tail -30 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
