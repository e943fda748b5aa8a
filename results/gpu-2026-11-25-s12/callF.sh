#!/bin/bash
# Call F (session 12, issue 8), one H100, sent while call E's machine was still warm: GRPO on the image
# cryptogram from call E's SFT run (in $KEEP, outside the snapshot), then the greedy eval of the GRPO model on the
# same 200 test examples as call E's eval of the SFT model. lr 2e-5, 16 prompts x 8 samples, the tower frozen
# (grpo.py's default), r1_vlm's rewards (format, chars, correct, answer partial credit).
# If $KEEP/sft-cryptogram is not there (the machine was given back between the calls), it stops at once.
# Writes $OUT/small.tgz (eval.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check (outside the snapshot, after callE.sh's): SIZE=tiny GRPO_MIN=0.3 N=4 PROMPTS=2 G=2 DEADLINE=99999 KEEP=/tmp/kE OUT=/tmp/cF bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
T0=$(date +%s); KEEP=${KEEP:-/tmp/keep}; N=${N:-200}; DEADLINE=${DEADLINE:-585}
[ -d $KEEP/sft-cryptogram/ckpt ] || { echo "no $KEEP/sft-cryptogram: a fresh machine"; ls $KEEP; exit 3; }
nvidia-smi -L 2>/dev/null
rm -rf logs small; mkdir -p logs small $OUT
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python grpo.py --task cryptogram --model $KEEP/sft-cryptogram --steps 100000 --time-budget ${GRPO_MIN:-7.0} \
  --lr ${LR:-2e-5} --prompts-per-step ${PROMPTS:-16} --num-generations ${G:-8} --eval-every 0 --save-every 25 \
  --out-dir $KEEP/grpo-cryptogram > logs/grpo.log 2>&1; stamp "grpo (rc $?)" grpo
timeout $(left) python eval.py --task cryptogram --model $KEEP/grpo-cryptogram --n $N --no-baselines \
  --out-dir $KEEP/eval-grpo > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp $KEEP/eval-grpo/results.json small/eval.json; cp $KEEP/eval-grpo/episodes.jsonl small/episodes.jsonl
cp $KEEP/grpo-cryptogram/metrics.jsonl small/metrics.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -40 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
