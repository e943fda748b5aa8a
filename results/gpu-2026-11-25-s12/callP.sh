#!/bin/bash
# Call P (session 12, issue 8), one H100, alone: the pixel task (tiny Qwen2.5-VL, --model-size small, from scratch)
# with the induction warm-up in front. Call W (session 7): 4.0% test success, format 66.7%, 0.35 tool errors an
# episode; color_at (copy (x, y) from the question into GET_PROPERTIES, copy the colour out of the reply) 5.3%. The
# CPU runs of pixel-text showed why: the model wrote the same coordinates for every question (no copy), got
# "no object" / error replies that no demo shows, and then lost the format. Changes since call W: sft.py's induction
# drill (letters and digits for pixel, `PixelTask.induction_chars`) first, --context-loss-weight 0.25 (as for the
# cryptogram calls), and demos whose READ_TEXT box no longer depends on the hidden label's length.
# On CPU (pixel-text, cpu preset, color_at only, 250 SFT steps, n = 60) the drill formed (98%) but did not show a
# gain: success 13.3% without, 23.3% with (noise at n = 60), exact coordinate copies 11.7% vs 6.7%. IND=0 turns it off.
# SFT: warm-ups induction (up to $IND steps) then vision (300), sharing half of the SFT budget; the tower frozen after.
# GRPO from it, two arms side by side (with and without --curiosity-bonus 0.5), ~1.5 min each (~4 steps: says
# little); then the greedy eval of the three on 150 test examples.
# Writes $OUT/small.tgz (eval-sft.json, eval-grpo.json, episodes-*.jsonl, metrics) and $OUT/logs.txt, $OUT/induction.txt.
# CPU check (outside the snapshot): SIZE=tiny SFT_MIN=0.4 GRPO_MIN=0.15 NEX=40 BS=4 N=4 PROMPTS=2 G=2 WARM=4 IND=20 DEADLINE=99999 OUT=/tmp/cP bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); rm -rf logs small runs/sft-pixel runs/grpo-pixel runs/grpo-pixel-curiosity runs/eval-pixel
mkdir -p logs small runs $OUT
SIZE=${SIZE:-small}; BS=${BS:-32}; N=${N:-150}; DEADLINE=${DEADLINE:-585}; PROMPTS=${PROMPTS:-16}; G=${G:-8}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
grpo() {  # out name, extra flags
  timeout $(( $(left) - 90 > 30 ? $(left) - 90 : 30 )) python grpo.py --task pixel --model runs/sft-pixel --steps 1000 \
    --time-budget ${GRPO_MIN:-1.5} --lr 1e-4 --prompts-per-step $PROMPTS --num-generations $G --eval-every 0 \
    --out-dir runs/$1 "${@:2}" > logs/$1.log 2>&1
  stamp "$1 (rc $?)" $1
}
timeout $(( $(left) - 220 )) python sft.py --task pixel --model-size $SIZE --num-examples ${NEX:-3000} --batch-size $BS \
  --lr 1e-3 --steps 100000 --time-budget ${SFT_MIN:-5.0} --vision-warmup-steps ${WARM:-300} \
  --induction-warmup-steps ${IND:-3000} --context-loss-weight 0.25 --eval-every 200 --out-dir runs/sft-pixel \
  > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
evaluate() {  # name, checkpoints: each eval writes its own dir, so a cut-off second one leaves the first's results
  timeout $(( $(left) - 8 )) python eval.py --task pixel --model "${@:2}" --n $N --no-baselines --out-dir runs/eval-$1 \
    > logs/eval-$1.log 2>&1; stamp "eval $1 (rc $?)" eval-$1
  cp runs/eval-$1/results.json small/eval-$1.json; cp runs/eval-$1/episodes.jsonl small/episodes-$1.jsonl
}
if [ -f runs/sft-pixel/config.json ]; then
  grpo grpo-pixel-curiosity --curiosity-bonus 0.5 --curiosity-target 0.3 & grpo grpo-pixel & wait
  evaluate sft runs/sft-pixel
  models=""; for m in runs/grpo-pixel runs/grpo-pixel-curiosity; do [ -f $m/config.json ] && models="$models $m"; done
  [ -n "$models" ] && evaluate grpo $models
fi
for d in runs/sft-pixel runs/grpo-pixel runs/grpo-pixel-curiosity; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "warm-up [0-9]*[1-9]00/" | tail -30 | cut -c1-300; done > $OUT/logs.txt
grep -h "induction warm-up\|vision warm-up" logs/sft.log > $OUT/induction.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
