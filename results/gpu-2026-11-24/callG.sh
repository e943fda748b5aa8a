#!/bin/bash
# Call G: the engine check, then vi GRPO x 3 seeds from call F's SFT checkpoint (--context-loss-weight 0.25,
# shipped back as bf16) on the medium+hard families (every easy family was already 100%), each evaluated on
# 560 test episodes of all families; the SFT checkpoint evaluated the same way; the geometric bench on vi beside.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs
ENGINE=static
python engine_check.py > logs/engine_check.log 2>&1 || ENGINE=hf
cat logs/engine_check.log; echo "engine: $ENGINE ($(( $(date +%s)-T0 ))s)"
(python eval.py --task vi --model runs/sft-vi --n 560 --no-baselines --engine $ENGINE --out-dir runs/eval-vi-sft > logs/eval_sft.log 2>&1) &
for s in 0 1 2; do
 (python grpo.py --task vi --model runs/sft-vi --families medium,hard --seed $s --steps 1000 --time-budget 5 --lr 5e-5 \
   --prompts-per-step 16 --eval-every 0 --engine $ENGINE --out-dir runs/grpo-vi-s$s > logs/grpo_vi_s$s.log 2>&1
  echo "grpo s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_vi_s$s.log
  python eval.py --task vi --model runs/grpo-vi-s$s --n 560 --no-baselines --engine $ENGINE --out-dir runs/eval-vi-s$s > logs/eval_vi_s$s.log 2>&1
  echo "eval s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_s$s.log) &
done
(timeout 470 python bench/geometric_bench.py --tasks vi --sft vi=runs/sft-vi --seeds 3 --jobs 3 --steps 30 \
   --test-examples 100 --score-episodes 8 --out-dir runs/bench-geometric > logs/geo_vi.log 2>&1) &
wait
for d in runs/eval-*; do cp $d/results.json $OUT/$(basename $d).json; done
for s in 0 1 2; do cp runs/grpo-vi-s$s/metrics.jsonl $OUT/grpo_vi_s$s.jsonl; done
cp runs/bench-geometric/results.json $OUT/geometric_vi.json 2>/dev/null
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -14; grep "^step" $f | awk 'NR%10==1'; done > $OUT/logs.txt
cut -c1-300 $OUT/logs.txt | tail -c 7000; echo total $(( $(date +%s)-T0 ))s
