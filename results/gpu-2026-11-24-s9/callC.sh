#!/bin/bash
# Call C (session 9, issue 8), one H100, right after call A on the same warm machine: SFT goes on from call A's
# image-cryptogram model ($RUNS/sft-cryptogram; session 8's call Z3 was still improving when one call's time ran
# out). A warm restart: the tower stays frozen (no second warm-up), a fresh schedule at lr 5e-4, 16,000 new
# examples (seed 1: other messages and ciphers), SFT for 7.5 minutes, greedy eval on the same 200 test examples.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check (after call A's): SIZE=tiny MIN=0.2 NEX=40 BS=4 N=4 DEADLINE=99999 OUT=/tmp/c RUNS=/tmp/a/runs bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small
BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-555}; RUNS=${RUNS:-../runs/s9}
[ -f $RUNS/sft-cryptogram/config.json ] || { echo "no call-A model in $RUNS/sft-cryptogram (a fresh machine?)"; exit 1; }
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model $RUNS/sft-cryptogram --num-examples ${NEX:-16000} --seed 1 \
  --batch-size $BS --lr 5e-4 --steps 100000 --time-budget ${MIN:-7.5} --vision-warmup-steps 0 --freeze-vision 1 \
  --eval-every 250 --out-dir $RUNS/sft2-cryptogram > logs/sft2_cryptogram.log 2>&1; stamp "sft2 cryptogram (rc $?)" sft2_cryptogram
timeout $(left) python eval.py --task cryptogram --model $RUNS/sft2-cryptogram --n $N --no-baselines \
  --out-dir $RUNS/eval2-cryptogram > logs/eval2_cryptogram.log 2>&1; stamp "eval2 cryptogram (rc $?)" eval2_cryptogram
cp $RUNS/eval2-cryptogram/results.json small/eval2-cryptogram.json; cp $RUNS/eval2-cryptogram/episodes.jsonl small/eval2-cryptogram-episodes.jsonl
cp $RUNS/sft2-cryptogram/metrics.jsonl small/sft2-cryptogram.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
