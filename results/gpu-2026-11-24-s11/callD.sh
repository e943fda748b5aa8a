#!/bin/bash
# Call D (session 11, issue 8), one H100, alone: call C (below) with the induction warm-up back in front. Call C looked
# up 100% of the letters it wrote but copied only 4.8% of the coded letters from the message (calls A, B: copied
# ~100%, looked up 14-16%): the copy is the induction head's job and the lookup the drill's. Warm-ups: induction
# 1,300, vision 300 (tokens head), lookup 400 (call C: 100% by step 200); they share half of the budget by steps.
# Call C: the image cryptogram with sft.py's new lookup warm-up. After the
# vision warm-up (tokens head, 300 steps), the LM alone trains on rows of a decoder image followed by 40 of its
# pairs in random order, "Jh Ze Jh ...", the loss on every plain letter: a dense drill of the lookup that call A's
# SFT learned 14% of, as the induction warm-up was for cryptogram-text. No induction warm-up (the image lookup is a
# match on an image token's content, which an induction head does not do; and it leaves the drill more time).
# Otherwise call A. Greedy eval on 200 test examples.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN=0.5 NEX=40 BS=4 N=4 WARM=4 LOOK=5 IND=5 DEADLINE=99999 OUT=/tmp/cD bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs $OUT
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX:-12000} --batch-size $BS --lr 1e-3 \
  --steps 100000 --time-budget ${MIN:-8.3} --context-loss-weight 0.25 --eval-every 250 --out-dir runs/sft-cryptogram \
  --vision-warmup-steps ${WARM:-300} --induction-warmup-steps ${IND:-1300} --lookup-warmup-steps ${LOOK:-400} \
  --vision-warmup-head tokens > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
timeout $(left) python eval.py --task cryptogram --model runs/sft-cryptogram --n $N --no-baselines \
  --out-dir runs/eval-cryptogram > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp runs/eval-cryptogram/results.json small/eval.json; cp runs/eval-cryptogram/episodes.jsonl small/episodes.jsonl
cp runs/sft-cryptogram/metrics.jsonl small/metrics.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "warm-up [0-9]*[1-9]00/" | tail -40 | cut -c1-300; done > $OUT/logs.txt
grep -h "lookup warm-up\|induction warm-up" logs/sft.log > $OUT/lookup.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
