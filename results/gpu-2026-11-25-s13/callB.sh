#!/bin/bash
# Call B (session 13, issue 8), one H100: GRPO on `pixel` from call A's SFT model (`cpu` preset, 1.9M; its demos
# answered without a tool 3 times in 4, so it seldom calls tools: greedy 12.5% on 200 test scenes, 0% tool use),
# two arms side by side, the same but for Pixel-Reasoner's curiosity bonus (alpha 0.5, H 0.3): a group whose rate of
# tool use is under 0.3 pays each tool-using episode 0.5 * (0.3 - rate). 8 prompts x 8 samples a step, lr 3e-4,
# 6 minutes each; then the greedy eval of both on the same 200 test scenes.
# Needs call A's checkpoint in .carry/sft-pixel (carry .carry). Writes $OUT/small.tgz (metrics, evals, episodes), $OUT/logs.txt.
# CPU check: MIN=0.3 PROMPTS=2 G=2 N=4 DEADLINE=99999 OUT=/tmp/cB bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); rm -rf logs small runs; mkdir -p logs small runs $OUT
DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
grpo() {  # name, extra flags
  timeout $(( $(left) - 120 )) python grpo.py --task pixel --model .carry/sft-pixel --steps 1000 --time-budget ${MIN:-6} \
    --lr 3e-4 --prompts-per-step ${PROMPTS:-8} --num-generations ${G:-8} --eval-every 0 --out-dir runs/$1 "${@:2}" \
    > logs/$1.log 2>&1
  stamp "$1 (rc $?)" $1
}
grpo grpo-pixel-curiosity --curiosity-bonus 0.5 --curiosity-target 0.3 & grpo grpo-pixel & wait
models=""; for m in runs/grpo-pixel runs/grpo-pixel-curiosity; do [ -f $m/config.json ] && models="$models $m"; done
timeout $(( $(left) - 5 )) python eval.py --task pixel --model $models --n ${N:-200} --no-baselines --out-dir runs/eval \
  > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp runs/eval/results.json small/eval-grpo.json; cp runs/eval/episodes.jsonl small/episodes-grpo.jsonl
for d in runs/grpo-pixel runs/grpo-pixel-curiosity; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
for f in logs/grpo*.log; do echo "=== $f"; grep "^step " $f | awk 'NR % 4 == 1' | cut -c1-260; done >> $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
