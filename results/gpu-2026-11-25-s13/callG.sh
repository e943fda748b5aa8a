#!/bin/bash
# Call G (session 13, issue 8), one H100, alone: call F again (`pixel` color_at, every demo calling GET_PROPERTIES,
# SFT 4.2 minutes: call F's SFT model scored 64.5%), with two GRPO arms side by side at lower learning rates: call F's
# GRPO at lr 3e-4 fell to 50.0% in 38 steps (per-step success swinging 0.28-0.78). Arms lr 1e-4 and 3e-5, 8 prompts
# x 8, 2.5 minutes each; the greedy eval of the three on 200 test scenes.
# Writes $OUT/small.tgz (metrics, evals, episodes), $OUT/logs.txt.
# CPU check: PSIZE=tiny PMIN=0.3 GMIN=0.2 PNEX=40 PBS=4 PWARM=4 PROMPTS=2 G=2 N=4 DEADLINE=99999 OUT=/tmp/cG bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
T0=$(date +%s); rm -rf logs small runs; mkdir -p logs small runs $OUT
DEADLINE=${DEADLINE:-585}; FAM=color_at
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(( $(left) - 250 )) python sft.py --task pixel --families $FAM --model-size ${PSIZE:-cpu} \
  --num-examples ${PNEX:-6000} --batch-size ${PBS:-64} --lr 3e-3 --steps 100000 --time-budget ${PMIN:-4.2} \
  --vision-warmup-steps ${PWARM:-300} --eval-every 500 --out-dir runs/sft > logs/sft.log 2>&1; stamp "sft (rc $?)" sft
grpo() {  # name, lr
  timeout $(( $(left) - 75 )) python grpo.py --task pixel --families $FAM --model runs/sft --steps 1000 \
    --time-budget ${GMIN:-2.5} --lr $2 --prompts-per-step ${PROMPTS:-8} --num-generations ${G:-8} --eval-every 0 \
    --out-dir runs/$1 > logs/$1.log 2>&1; stamp "$1 (rc $?)" $1
}
grpo grpo-lr1e-4 1e-4 & grpo grpo-lr3e-5 3e-5 & wait
models="runs/sft"; for m in runs/grpo-lr1e-4 runs/grpo-lr3e-5; do [ -f $m/config.json ] && models="$models $m"; done
timeout $(( $(left) - 3 )) python eval.py --task pixel --families $FAM --model $models --n ${N:-200} --no-baselines \
  --out-dir runs/eval > logs/eval.log 2>&1; stamp "eval (rc $?)" eval
cp runs/eval/results.json small/eval.json; cp runs/eval/episodes.jsonl small/episodes.jsonl
for d in runs/sft runs/grpo-lr1e-4 runs/grpo-lr3e-5; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "Warning\|output = func\|deprecated" | tail -25 | cut -c1-400; done > $OUT/logs.txt
for f in logs/grpo-*.log; do echo "=== $f"; grep "^step " $f | awk 'NR % 5 == 1' | cut -c1-200; done >> $OUT/logs.txt
ls -la $OUT; tail -c 7000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
