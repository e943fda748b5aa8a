#!/bin/bash
# Call I: vi GRPO learning-rate check: call G's run (lr 5e-5) again at lr 1.5e-4 and 4e-4, 3 seeds each, all six
# side by side on one H100 from the same SFT checkpoint, each evaluated on 560 test episodes of all families.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs
for lr in 1.5e-4 4e-4; do for s in 0 1 2; do
 (python grpo.py --task vi --model runs/sft-vi --families medium,hard --seed $s --steps 1000 --time-budget 5.5 --lr $lr \
   --prompts-per-step 16 --eval-every 0 --out-dir runs/grpo-vi-lr$lr-s$s > logs/grpo_lr$lr-s$s.log 2>&1
  echo "grpo lr$lr s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_lr$lr-s$s.log
  python eval.py --task vi --model runs/grpo-vi-lr$lr-s$s --n 560 --no-baselines --out-dir runs/eval-vi-lr$lr-s$s > logs/eval_lr$lr-s$s.log 2>&1
  echo "eval lr$lr s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_lr$lr-s$s.log) &
done; done
wait
mkdir -p out/evals out/metrics   # at most 8 files come back: one archive
for d in runs/eval-*; do cp $d/results.json out/evals/$(basename $d).json; done
for d in runs/grpo-vi-*; do cp $d/metrics.jsonl out/metrics/$(basename $d).jsonl; done
tar czf $OUT/callI.tgz -C out evals metrics
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "^runs/\|^ *-  *easy\|^ *all  *delete" | tail -6; grep "^step" $f | awk 'NR%15==1' | cut -c1-120; done > $OUT/logs.txt
tail -c 6000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
