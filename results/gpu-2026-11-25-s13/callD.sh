#!/bin/bash
# Call D (session 13, issue 8), one H100, alone: pixel SFT on color_at alone (one frame: short sequences, more steps),
# with the induction drill (letters and digits, 1,500 steps) first, and 3 demos in 10 calling GET_PROPERTIES (7 answer
# at once: variants:pixel-mixed70). Calls A (4 families) and C (color_at and leave_frames, 860 steps at 0.28 s) gave
# models whose tool calls did not copy the question's (x, y): tools never paid (probe.py: success after a tool 0-11%).
# `cpu` preset, batch 64, lr 3e-3, vision warm-up 300 steps, 6 minutes; the greedy eval (200 test scenes), probe.py
# (40 scenes x 8 samples).
# Writes $OUT/sft-pixel.tgz (the weights, for call D), $OUT/small.tgz, $OUT/logs.txt.
# CPU check: IND=4 PSIZE=tiny PMIN=0.3 PNEX=40 PBS=4 PN=4 PWARM=4 NPROBE=2 DEADLINE=99999 OUT=/tmp/cC bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
HERE=$(cd "$(dirname "$0")" && pwd); export PYTHONPATH=$PWD:$HERE
T0=$(date +%s); rm -rf logs small runs; mkdir -p logs small runs $OUT
DEADLINE=${DEADLINE:-585}; FAM=color_at
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(( $(left) - 130 )) python sft.py --task variants:pixel-mixed70 --families $FAM --model-size ${PSIZE:-cpu} \
  --num-examples ${PNEX:-8000} --batch-size ${PBS:-64} --lr 3e-3 --steps 100000 --time-budget ${PMIN:-6} \
  --vision-warmup-steps ${PWARM:-300} --induction-warmup-steps ${IND:-1500} --eval-every 500 --out-dir runs/sft-pixel > logs/sft-pixel.log 2>&1
stamp "sft pixel (rc $?)" sft-pixel
tar czf $OUT/sft-pixel.tgz --exclude=ckpt -C runs sft-pixel   # the weights, not the optimizer state
timeout $(( $(left) - 70 )) python eval.py --task pixel --families $FAM --model runs/sft-pixel --n ${PN:-200} \
  --no-baselines --out-dir runs/eval-pixel > logs/eval-pixel.log 2>&1; stamp "eval (rc $?)" eval-pixel
timeout $(( $(left) - 5 )) python $HERE/probe.py runs/sft-pixel ${NPROBE:-40} $FAM > logs/probe.log 2>&1
stamp "probe (rc $?)" probe
cp runs/eval-pixel/results.json small/eval-pixel.json; cp runs/eval-pixel/episodes.jsonl small/episodes-pixel.jsonl
cp runs/sft-pixel/metrics.jsonl small/sft-pixel.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "Warning\|output = func\|deprecated" | tail -25 | cut -c1-400; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
