#!/bin/bash
# Call Z (session 8, issue 8), one H100, two jobs side by side (call Y ran them with a third job and ran past the
# call's limit: nothing came back; sft.py's --time-budget is now a hard bound and every command has a timeout):
#  cryptogram: the new decoder (one coded->plain pair per image token, the warm-up names the pair) and the new demo
#     (the think section decodes the message letter by letter, "J->h Z->e _ B->o"); SFT (warm-up, tower frozen
#     after it), greedy eval on 200 test examples (episodes.jsonl: what the model wrote).
#  cryptogram-text: the same demo with the decoder table as text: does the LM learn the copy + lookup at all?
#     (call X, the old demo: 2,095 steps, 0%, chars 16%.)
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny CT_MIN=0.2 NEX_C=40 BS=4 N=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/z bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-555}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
crypto() {  # $1 = cryptogram or cryptogram-text, $2 = vision warm-up steps
  timeout $(left) python sft.py --task $1 --model-size $SIZE --num-examples ${NEX_C:-12000} --batch-size $BS \
    --lr 1e-3 --steps 100000 --time-budget ${CT_MIN:-7.6} --vision-warmup-steps $2 --eval-every 500 \
    --out-dir runs/sft-$1 > logs/sft_$1.log 2>&1; stamp "sft $1 (rc $?)" sft_$1
  timeout $(left) python eval.py --task $1 --model runs/sft-$1 --n $N --no-baselines \
    --out-dir runs/eval-$1 > logs/eval_$1.log 2>&1; stamp "eval $1 (rc $?)" eval_$1
}
crypto cryptogram ${WARM_C:-300} & crypto cryptogram-text 0 & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
