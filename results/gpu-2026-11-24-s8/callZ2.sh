#!/bin/bash
# Call Z2 (session 8, issue 8), one H100, two jobs side by side, as call Z with more distinct examples:
# in call Z the text variant learned to copy the coded letters (train loss 0.235) but overfitted its 12,000
# examples after ~10 epochs (val loss 0.318 at step 1000, 0.426 at the end) and scored 0%: now 80,000 text and
# 16,000 image examples (each cipher is drawn per example, so more examples = more ciphers to decode):
#  cryptogram: the new decoder (one coded->plain pair per image token, the warm-up names the pair) and the new demo
#     (the think section decodes the message letter by letter, "J->h Z->e _ B->o"); SFT (warm-up, tower frozen
#     after it), greedy eval on 200 test examples (episodes.jsonl: what the model wrote).
#  cryptogram-text: the same demo with the decoder table as text: does the LM learn the copy + lookup at all?
#     (call X, the old demo: 2,095 steps, 0%, chars 16%.)
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny CT_MIN=0.2 CI_MIN=0.2 NEX_I=40 NEX_T=40 BS=4 N=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/z bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-555}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
crypto() {  # $1 = cryptogram or cryptogram-text, $2 = vision warm-up steps, $3 = examples, $4 = minutes
  timeout $(left) python sft.py --task $1 --model-size $SIZE --num-examples $3 --batch-size $BS \
    --lr 1e-3 --steps 100000 --time-budget $4 --vision-warmup-steps $2 --eval-every 250 \
    --out-dir runs/sft-$1 > logs/sft_$1.log 2>&1; stamp "sft $1 (rc $?)" sft_$1
  timeout $(left) python eval.py --task $1 --model runs/sft-$1 --n $N --no-baselines \
    --out-dir runs/eval-$1 > logs/eval_$1.log 2>&1; stamp "eval $1 (rc $?)" eval_$1
}
crypto cryptogram ${WARM_C:-300} ${NEX_I:-16000} ${CI_MIN:-6.3} & crypto cryptogram-text 0 ${NEX_T:-80000} ${CT_MIN:-7.2} & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
