#!/bin/bash
# Call F (session 13, issue 8), one H100, alone: `pixel` (images) color_at with every demo calling GET_PROPERTIES
# (the plain task: no answers without a tool), then GRPO from it. Calls A, C and D mixed in answers without a tool (3 in
# 4, 3 in 4, 7 in 10) and their models never learned to copy the question's (x, y) into the call; call E learned it on
# pixel-text from 3 demos in 10. Does the image variant learn it when every demo shows it, and does GRPO raise it?
# SFT: `cpu` preset, batch 64, lr 3e-3, vision warm-up 300 steps, 4.2 minutes in all; GRPO: 8 prompts x 8, lr 3e-4,
# 2.5 minutes; the greedy eval of both on 200 test scenes.
# Writes $OUT/small.tgz (metrics, evals, episodes), $OUT/logs.txt.
# CPU check: PSIZE=tiny PMIN=0.3 GMIN=0.2 PNEX=40 PBS=4 PWARM=4 PROMPTS=2 G=2 N=4 DEADLINE=99999 OUT=/tmp/cF bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); rm -rf logs small runs; mkdir -p logs small runs $OUT
DEADLINE=${DEADLINE:-585}; FAM=color_at
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(( $(left) - 250 )) python sft.py --task pixel --families $FAM --model-size ${PSIZE:-cpu} \
  --num-examples ${PNEX:-6000} --batch-size ${PBS:-64} --lr 3e-3 --steps 100000 --time-budget ${PMIN:-4.2} \
  --vision-warmup-steps ${PWARM:-300} --eval-every 500 --out-dir runs/sft > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
timeout $(( $(left) - 75 )) python grpo.py --task pixel --families $FAM --model runs/sft --steps 1000 \
  --time-budget ${GMIN:-2.5} --lr 3e-4 --prompts-per-step ${PROMPTS:-8} --num-generations ${G:-8} --eval-every 0 \
  --out-dir runs/grpo > logs/grpo.log 2>&1; stamp "grpo (rc $?)" grpo
models="runs/sft"; [ -f runs/grpo/config.json ] && models="$models runs/grpo"
timeout $(( $(left) - 3 )) python eval.py --task pixel --families $FAM --model $models --n ${N:-200} --no-baselines \
  --out-dir runs/eval > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp runs/eval/results.json small/eval.json; cp runs/eval/episodes.jsonl small/episodes.jsonl
for d in runs/sft runs/grpo; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "Warning\|output = func\|deprecated" | tail -25 | cut -c1-400; done > $OUT/logs.txt
grep "^step " logs/grpo.log | awk 'NR % 5 == 1' | cut -c1-200 >> $OUT/logs.txt
ls -la $OUT; tail -c 7000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
