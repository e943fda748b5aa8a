#!/bin/bash
# Call E (session 12, issue 8), one H100, alone: session 11's call D again (induction, vision with the tokens head,
# lookup drill, then SFT on the image cryptogram), sized so that the greedy eval fits in the call: D's SFT ran to
# 574 s of 585 and its eval was cut off. 8,000 examples instead of 12,000 (~25 s less data prep), --time-budget 7.8
# min, vision warm-up 150 steps (the tokens head is at 100% held-out by step 50, call A) so the lookup drill gets
# ~190 steps (D: 105, capped, 68.9%; C: 100% by step 200), induction 1,500 (D: 1,300, 60.5%; A: 96.5% at 1,000).
# The SFT run is written to $KEEP, outside the snapshot (a later call's carry replaces the snapshot). A GRPO call from
# it while the machine was warm (callF.sh) was planned and dropped: 99% left GRPO nothing to show.
# Greedy eval on 200 test examples.
# Writes $OUT/small.tgz (eval.json, episodes.jsonl, metrics.jsonl), $OUT/logs.txt and $OUT/warmups.txt.
# CPU check (outside the snapshot): SIZE=tiny MIN=0.5 NEX=40 BS=4 N=4 WARM=4 LOOK=5 IND=5 DEADLINE=99999 KEEP=/tmp/kE OUT=/tmp/cE bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); KEEP=${KEEP:-/tmp/keep}; rm -rf $KEEP logs small; mkdir -p logs small $KEEP $OUT
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX:-8000} --batch-size $BS --lr 1e-3 \
  --steps 100000 --time-budget ${MIN:-7.8} --context-loss-weight 0.25 --eval-every 250 --out-dir $KEEP/sft-cryptogram \
  --vision-warmup-steps ${WARM:-150} --induction-warmup-steps ${IND:-1500} --lookup-warmup-steps ${LOOK:-250} \
  --vision-warmup-head tokens > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
timeout $(left) python eval.py --task cryptogram --model $KEEP/sft-cryptogram --n $N --no-baselines \
  --out-dir $KEEP/eval-sft > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp $KEEP/eval-sft/results.json small/eval.json; cp $KEEP/eval-sft/episodes.jsonl small/episodes.jsonl
cp $KEEP/sft-cryptogram/metrics.jsonl small/metrics.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "warm-up [0-9]*[1-9]00/" | tail -40 | cut -c1-300; done > $OUT/logs.txt
grep -h "warm-up" logs/sft.log > $OUT/warmups.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
