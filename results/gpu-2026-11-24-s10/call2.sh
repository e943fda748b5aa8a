#!/bin/bash
# Call 2 (session 10, issue 8), one H100: session 9's call D (both cryptogram variants side by side, "Jh" think
# steps, context loss 0.25) with one change: sft.py --induction-warmup-steps first trains the LM on variable-offset
# repeats of random letters. Call 1 (induction.py) grew an induction head that way in ~2,500 small-preset steps;
# the cryptogram's own signal had not in 5,283 (calls A + C). Text variant: 3,000 induction steps; image variant
# (vision warm-up 300 first): 2,500. Greedy eval on 200 test examples each.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN_I=0.3 MIN_T=0.3 NEX_I=40 NEX_T=40 BS=4 N=4 WARM=4 IND_I=5 IND_T=5 DEADLINE=99999 OUT=/tmp/c2 bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-575}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
crypto() {  # $1 = cryptogram or cryptogram-text, $2 = examples, $3 = minutes, $4... = extra sft flags
  local task=$1 nex=$2 min=$3; shift 3
  timeout $(left) python sft.py --task $task --model-size $SIZE --num-examples $nex --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget $min --context-loss-weight 0.25 --eval-every 250 --out-dir runs/sft-$task "$@" \
    > logs/sft_$task.log 2>&1; stamp "sft $task (rc $?)" sft_$task
  timeout $(left) python eval.py --task $task --model runs/sft-$task --n $N --no-baselines \
    --out-dir runs/eval-$task > logs/eval_$task.log 2>&1; stamp "eval $task (rc $?)" eval_$task
}
crypto cryptogram ${NEX_I:-12000} ${MIN_I:-7} --vision-warmup-steps ${WARM:-300} --induction-warmup-steps ${IND_I:-2500} &
crypto cryptogram-text ${NEX_T:-40000} ${MIN_T:-7.3} --induction-warmup-steps ${IND_T:-3000} &
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "induction warm-up [0-9]*[1-9]00/" | tail -30 | cut -c1-300; done > $OUT/logs.txt
grep -h "induction warm-up" logs/*.log | awk 'NR%5==0' > $OUT/induction.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; cat $OUT/induction.txt; echo total $(( $(date +%s)-T0 ))s
