#!/bin/bash
# Call H (session 12, issue 8), one H100: GRPO on the image cryptogram from an SFT model that is not yet finished.
# Call E's recipe (induction 1,500, vision 150 with the tokens head, lookup drill 250, the warm-ups capped at half
# of --time-budget 7.8 min), seed 1, but SFT stopped at 300 steps (call E's val loss: 0.399 at step 250, 0.016 at
# 500; its 1,092 steps scored 99.0%), then GRPO for ~2.5 min (lr 3e-5, 16 prompts x 8, tower frozen), then the
# greedy eval of both models on the same 200 test examples. Also a second seed of the warm-ups.
# Writes $OUT/small.tgz (eval.json, sft_metrics.jsonl, grpo_metrics.jsonl), $OUT/logs.txt and $OUT/warmups.txt.
# CPU check (outside the snapshot): SIZE=tiny MIN=0.3 SFT_STEPS=20 GRPO_MIN=0.2 NEX=40 BS=4 N=4 WARM=4 LOOK=5 IND=5 PROMPTS=2 G=2 DEADLINE=99999 KEEP=/tmp/kH OUT=/tmp/cH bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); KEEP=${KEEP:-/tmp/keep}; rm -rf $KEEP logs small; mkdir -p logs small $KEEP $OUT
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX:-8000} --batch-size $BS --lr 1e-3 \
  --steps ${SFT_STEPS:-300} --time-budget ${MIN:-7.8} --context-loss-weight 0.25 --eval-every 100 --seed 1 \
  --out-dir $KEEP/sft-cryptogram --vision-warmup-steps ${WARM:-150} --induction-warmup-steps ${IND:-1500} \
  --lookup-warmup-steps ${LOOK:-250} --vision-warmup-head tokens > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
timeout $(left) python grpo.py --task cryptogram --model $KEEP/sft-cryptogram --steps 100000 --time-budget ${GRPO_MIN:-2.5} \
  --lr ${LR:-3e-5} --prompts-per-step ${PROMPTS:-16} --num-generations ${G:-8} --eval-every 0 --save-every 20 --seed 1 \
  --out-dir $KEEP/grpo-cryptogram > logs/grpo.log 2>&1; stamp "grpo (rc $?)" grpo
timeout $(left) python eval.py --task cryptogram --model $KEEP/sft-cryptogram $KEEP/grpo-cryptogram --n $N --no-baselines \
  --out-dir $KEEP/eval > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp $KEEP/eval/results.json small/eval.json; cp $KEEP/sft-cryptogram/metrics.jsonl small/sft_metrics.jsonl
cp $KEEP/grpo-cryptogram/metrics.jsonl small/grpo_metrics.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "warm-up [0-9]*[1-9]00/" | tail -30 | cut -c1-300; done > $OUT/logs.txt
grep -h "warm-up" logs/sft.log > $OUT/warmups.txt
ls -la $OUT; tail -c 7000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
