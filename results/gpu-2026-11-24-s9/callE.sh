#!/bin/bash
# Call E (session 9, issue 8), one H100, call D again with one change: every train message is random letters
# (CryptogramTask.nonwords 0.5 -> 1; in call D both variants wrote English-looking words from a word prior in
# place of the lookup: looked up 6.5% image, 5.5% text). As call D: the "Jh" think step and the
# context loss (0.25 x the loss on the prompt's text tokens; sft.py now leaves a VLM's image placeholders out of
# it). Calls A and C (no context loss): the image variant copied 32.9% -> 50.1% of the coded letters after 2,282 +
# 3,001 steps; session 8's text variant (context loss 0.25 by default) copied 100% by step ~450.
#   1. the image variant, as call A plus --context-loss-weight 0.25 (12,000 examples: less data preparation);
#   2. the text variant (table "Jh Ze ..." in the prompt: the lookup is an induction one token back).
# SFT for 6.3 / 6.5 minutes each, greedy eval on 200 test examples each.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny MIN_I=0.2 MIN_T=0.2 NEX_I=40 NEX_T=40 BS=4 N=4 WARM=4 DEADLINE=99999 OUT=/tmp/d bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-560}
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
crypto cryptogram ${NEX_I:-12000} ${MIN_I:-6.3} --vision-warmup-steps ${WARM:-300} &
crypto cryptogram-text ${NEX_T:-40000} ${MIN_T:-6.5} &
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
