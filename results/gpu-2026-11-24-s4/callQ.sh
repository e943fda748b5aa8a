#!/bin/bash
# Call Q: from call P's exec SFT checkpoint (carried in ckpt-in/; 86.3% answer correct on 240 test prompts there):
# exec GRPO (lr 5e-5, 5 minutes) and its eval (issue 5: the tiny model after sft.py then grpo.py), and beside it
# the geometric bench on exec: geometric vs --control (same forward passes, and same steps) vs --estimator es,
# 3 seeds (issue 6).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
cat ckpt-in/sft-exec.tgz.part-* | tar xz -C runs && ls runs/sft-exec/model.safetensors || exit 3
(python grpo.py --task exec --model runs/sft-exec --steps 1000 --time-budget 5 --lr 5e-5 --prompts-per-step 16 \
   --eval-every 0 --out-dir runs/grpo-exec > logs/grpo_exec.log 2>&1
 echo "grpo exec done $(( $(date +%s)-T0 ))s" >> logs/grpo_exec.log
 python eval.py --task exec --model runs/sft-exec runs/grpo-exec --n 240 --no-baselines --out-dir runs/eval-exec > logs/eval_exec.log 2>&1
 echo "eval exec done $(( $(date +%s)-T0 ))s" >> logs/eval_exec.log) &
(timeout 540 python bench/geometric_bench.py --tasks exec --sft exec=runs/sft-exec --seeds 3 --jobs 4 --steps 20 \
   --test-examples 100 --score-episodes 8 --out-dir runs/bench-geometric-exec > logs/geo_exec.log 2>&1
 echo "geometric done $(( $(date +%s)-T0 ))s" >> logs/geo_exec.log) &
wait
cp runs/eval-exec/results.json small/eval-exec.json 2>/dev/null
cp runs/grpo-exec/metrics.jsonl small/grpo-exec.jsonl 2>/dev/null
cp runs/bench-geometric-exec/results.json small/geometric_exec.json 2>/dev/null
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -30 | cut -c1-300; grep "^step" $f | awk 'NR%10==1' | cut -c1-220; done > $OUT/logs.txt
tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
