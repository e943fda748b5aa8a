#!/bin/bash
# Call A (session 11, issue 8), one H100, alone: the image cryptogram with the vision warm-up's new "tokens" head
# (each pair token named by its coded and plain letter through the LM's own input embeddings of them), the induction
# warm-up first (it trains those embeddings). Otherwise session 10's call 2/4 recipe (small preset, batch 128, lr 1e-3,
# context loss 0.25, 12,000 examples). Greedy eval on 200 test examples.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN=0.4 NEX=40 BS=4 N=4 WARM=4 IND=5 DEADLINE=99999 OUT=/tmp/cA bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX:-12000} --batch-size $BS --lr 1e-3 \
  --steps 100000 --time-budget ${MIN:-7.6} --context-loss-weight 0.25 --eval-every 250 --out-dir runs/sft-cryptogram \
  --vision-warmup-steps ${WARM:-300} --induction-warmup-steps ${IND:-1500} --vision-warmup-head tokens \
  > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
timeout $(left) python eval.py --task cryptogram --model runs/sft-cryptogram --n $N --no-baselines \
  --out-dir runs/eval-cryptogram > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp runs/eval-cryptogram/results.json small/eval.json; cp runs/eval-cryptogram/episodes.jsonl small/episodes.jsonl
cp runs/sft-cryptogram/metrics.jsonl small/metrics.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "induction warm-up [0-9]*[1-9]00/" | tail -40 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
