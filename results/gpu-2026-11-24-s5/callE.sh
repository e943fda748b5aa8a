#!/bin/bash
# Call E (session 5, issue 7): does GRPO improve a coords policy that SFT leaves half-trained? Call D's 2,000-step
# SFT reached 99% (nothing left for GRPO); its val loss was 0.37 at step 1,000. Here: SFT 1,000 steps, evaluated,
# then GRPO x 3 seeds (150 steps, lr 5e-5) from it, each evaluated on the same 300 test screens.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
python sft.py --task coords --model-size small --num-examples 40000 --batch-size 64 --lr 1e-3 --steps 1000 \
  --eval-every 250 --out-dir runs/sft-coords > logs/sft_coords.log 2>&1
echo "sft coords done $(( $(date +%s)-T0 ))s" >> logs/sft_coords.log
python eval.py --task coords --model runs/sft-coords --n 300 --no-baselines --out-dir runs/eval-coords-sft > logs/eval_coords_sft.log 2>&1 &
for s in 0 1 2; do
 (timeout $(( 510 - ($(date +%s)-T0) )) python grpo.py --task coords --model runs/sft-coords --seed $s --lr 5e-5 \
   --prompts-per-step 16 --steps 150 --eval-every 0 --out-dir runs/grpo-coords-s$s > logs/grpo_coords_s$s.log 2>&1
  echo "grpo s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_coords_s$s.log
  timeout $(( 580 - ($(date +%s)-T0) )) python eval.py --task coords --model runs/grpo-coords-s$s --n 300 --no-baselines \
    --out-dir runs/eval-coords-s$s > logs/eval_coords_s$s.log 2>&1
  echo "eval s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_coords_s$s.log) &
done
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/grpo-* runs/sft-coords; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -14 | cut -c1-300; grep "^step" $f | awk 'NR%15==1' | cut -c1-200; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
