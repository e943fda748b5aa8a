#!/bin/bash
# Call E (session 13, issue 8), one H100, alone: the curiosity comparison on `pixel-text` color_at, where the model
# does learn the tool call (session 12, CPU: 100% after 900 SFT steps of 16). On `pixel` the copy of the question's
# (x, y) into GET_PROPERTIES was not learned in calls A, C and D (teacher-forced, 51% of call D's coordinate
# characters right), so tools never paid there.
# SFT (`cpu` preset, batch 64, lr 3e-3, 3 minutes): 7 demos in 10 answer at once (a blind guess: the text variant
# shows no image), 3 call GET_PROPERTIES (variants:pixel-text-mixed70). probe.py on the SFT model (sampled tool use).
# GRPO from it, two arms side by side, the same but for the curiosity bonus (alpha 0.5, H 0.3): 8 prompts x 8, lr 3e-4,
# 3.5 minutes each; then the greedy eval of the three on 200 test scenes.
# Writes $OUT/small.tgz (metrics, evals, episodes, probe), $OUT/logs.txt.
# CPU check: PSIZE=tiny PMIN=0.3 GMIN=0.2 PNEX=40 PBS=4 PROMPTS=2 G=2 N=4 NPROBE=2 DEADLINE=99999 OUT=/tmp/cE bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
HERE=$(cd "$(dirname "$0")" && pwd); export PYTHONPATH=$PWD:$HERE
T0=$(date +%s); rm -rf logs small runs; mkdir -p logs small runs $OUT
DEADLINE=${DEADLINE:-585}; FAM=color_at
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(( $(left) - 320 )) python sft.py --task variants:pixel-text-mixed70 --families $FAM --model-size ${PSIZE:-cpu} \
  --num-examples ${PNEX:-8000} --batch-size ${PBS:-64} --lr 3e-3 --steps 100000 --time-budget ${PMIN:-3} \
  --eval-every 500 --out-dir runs/sft > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
python $HERE/probe.py runs/sft ${NPROBE:-40} $FAM 8 pixel-text > logs/probe.log 2>&1; stamp "probe (rc $?)" probe
grpo() {  # name, extra flags
  timeout $(( $(left) - 60 )) python grpo.py --task pixel-text --families $FAM --model runs/sft --steps 1000 \
    --time-budget ${GMIN:-3.5} --lr 3e-4 --prompts-per-step ${PROMPTS:-8} --num-generations ${G:-8} --eval-every 0 \
    --out-dir runs/$1 "${@:2}" > logs/$1.log 2>&1
  stamp "$1 (rc $?)" $1
}
grpo grpo-curiosity --curiosity-bonus 0.5 --curiosity-target 0.3 & grpo grpo & wait
models="runs/sft"; for m in runs/grpo runs/grpo-curiosity; do [ -f $m/config.json ] && models="$models $m"; done
timeout $(( $(left) - 5 )) python eval.py --task pixel-text --families $FAM --model $models --n ${N:-200} --no-baselines \
  --out-dir runs/eval > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp runs/eval/results.json small/eval.json; cp runs/eval/episodes.jsonl small/episodes.jsonl; cp logs/probe.log small/
for d in runs/sft runs/grpo runs/grpo-curiosity; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "Warning\|output = func\|deprecated" | tail -25 | cut -c1-400; done > $OUT/logs.txt
ls -la $OUT; tail -c 6000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
