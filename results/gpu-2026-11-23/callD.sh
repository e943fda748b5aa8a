#!/bin/bash
# Call D: vi GRPO x 3 seeds (fp32 master weights) from call B's SFT checkpoint, evals; then the TRL bench.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s)
for s in 0 1 2; do
 (python grpo.py --task vi --model runs/sft-vi --families all --seed $s --steps 1000 --time-budget 4.5 --lr 5e-5 \
   --prompts-per-step 16 --eval-every 0 --out-dir runs/grpo-vi-s$s > logs/grpo_vi_s$s.log 2>&1
  echo "grpo s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_vi_s$s.log
  python eval.py --task vi --model runs/grpo-vi-s$s --n 560 --no-baselines --out-dir runs/eval-vi-s$s > logs/eval_vi_s$s.log 2>&1
  echo "eval s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_s$s.log) &
done
wait
for d in runs/eval-*; do cp $d/results.json $OUT/$(basename $d).json; done
for s in 0 1 2; do cp runs/grpo-vi-s$s/metrics.jsonl $OUT/grpo_vi_s$s.jsonl; done
for f in logs/*.log; do echo "=== $f"; grep -v "^step .*reward" $f | tail -8; grep "^step" $f | awk 'NR%10==1'; done > $OUT/logs.txt
LEFT=$(( 585 - ($(date +%s)-T0) )); echo "TRL bench gets ${LEFT}s"
if [ $LEFT -gt 60 ]; then
 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
 timeout $LEFT python3 bench/grpo_vs_trl.py --model qwen3-0.6b --lora 2>&1 | tee $OUT/grpo_vs_trl.log | tail -30
fi
cut -c1-250 $OUT/logs.txt | tail -c 5000; echo total $(( $(date +%s)-T0 ))s
