#!/bin/bash
# Call 4 (session 10, issue 8), one H100: call 2 again, both variants side by side, with --seed 1 (other model
# init, examples and order): is the text variant's 100% repeatable, in less time (5 minutes)? The image variant
# gets 20,000 examples (call 3's val loss rose from 0.295 at step 750 to 0.332 at step 1,999 on 12,000) and 6.5
# minutes, so that its eval fits (call 3's SFT ran to 571 s and its eval was cut off). Greedy eval on 200 test
# examples each. Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN_I=0.3 MIN_T=0.3 NEX_I=40 NEX_T=40 BS=4 N=4 WARM=4 IND_I=5 IND_T=5 DEADLINE=99999 OUT=/tmp/c4 bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
crypto() {  # $1 = cryptogram or cryptogram-text, $2 = examples, $3 = minutes, $4... = extra sft flags
  local task=$1 nex=$2 min=$3; shift 3
  timeout $(left) python sft.py --task $task --model-size $SIZE --num-examples $nex --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget $min --context-loss-weight 0.25 --eval-every 250 --seed 1 --out-dir runs/sft-$task "$@" \
    > logs/sft_$task.log 2>&1; stamp "sft $task (rc $?)" sft_$task
  timeout $(left) python eval.py --task $task --model runs/sft-$task --n $N --no-baselines \
    --out-dir runs/eval-$task > logs/eval_$task.log 2>&1; stamp "eval $task (rc $?)" eval_$task
}
crypto cryptogram ${NEX_I:-20000} ${MIN_I:-6.5} --vision-warmup-steps ${WARM:-300} --induction-warmup-steps ${IND_I:-1500} &
crypto cryptogram-text ${NEX_T:-40000} ${MIN_T:-5} --induction-warmup-steps ${IND_T:-3000} &
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "induction warm-up [0-9]*[1-9]00/" | tail -30 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
