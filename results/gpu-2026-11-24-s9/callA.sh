#!/bin/bash
# Call A (session 9, issue 8), one H100, the image cryptogram alone on the GPU with the new think step "Jh" (the
# plain letter written right after its coded letter, so the lookup is made at the coded letter's own token; session
# 8's "J->h" fetched the query from 3 tokens back and was not learned). Recipe as call Z3 of session 8: 16,000
# examples, vision warm-up 300 steps (tower frozen after it), SFT for the rest of 7.3 minutes, greedy eval on 200
# test examples. The model is kept in $RUNS (outside the snapshot) for a warm-restarted call C.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN=0.2 NEX=40 BS=4 N=4 WARM=4 DEADLINE=99999 OUT=/tmp/a RUNS=/tmp/a/runs bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-555}; RUNS=${RUNS:-../runs/s9}; mkdir -p $RUNS
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX:-16000} --batch-size $BS \
  --lr 1e-3 --steps 100000 --time-budget ${MIN:-7.3} --vision-warmup-steps ${WARM:-300} --eval-every 250 \
  --out-dir $RUNS/sft-cryptogram > logs/sft_cryptogram.log 2>&1; stamp "sft cryptogram (rc $?)" sft_cryptogram
timeout $(left) python eval.py --task cryptogram --model $RUNS/sft-cryptogram --n $N --no-baselines \
  --out-dir $RUNS/eval-cryptogram > logs/eval_cryptogram.log 2>&1; stamp "eval cryptogram (rc $?)" eval_cryptogram
cp $RUNS/eval-cryptogram/results.json small/eval-cryptogram.json; cp $RUNS/eval-cryptogram/episodes.jsonl small/eval-cryptogram-episodes.jsonl
cp $RUNS/sft-cryptogram/metrics.jsonl small/sft-cryptogram.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
