#!/bin/bash
# Call D (session 5, issue 7): `coords` (the accessibility tree lists each element's clickable point) with a longer
# SFT than call C's 700 steps, whose loss sat at ~1.3 (vi's copying set in between 1,000 and 2,000 steps):
# SFT 2,000 steps -> GRPO 80 steps -> eval of both on 300 test screens. Beside it (issue 8): digits with a longer
# SFT than call B's (341 steps after a time-budgeted warm-up): vision warm-up 500 steps, then a fixed 1,000 SFT
# steps on 10,000 examples, evaluated on 200 test images (the image processor runs on the CPU: this job is
# CPU-bound and leaves the GPU to coords).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
(OMP_NUM_THREADS=4 python sft.py --task digits --model-size small --num-examples 10000 --batch-size 32 --lr 1e-3 \
   --steps 1000 --vision-warmup-steps 500 --eval-every 250 --out-dir runs/sft-digits > logs/sft_digits.log 2>&1
 echo "sft digits done $(( $(date +%s)-T0 ))s" >> logs/sft_digits.log
 timeout $(( 580 - ($(date +%s)-T0) )) python eval.py --task digits --model runs/sft-digits --n 200 --no-baselines \
   --out-dir runs/eval-digits > logs/eval_digits.log 2>&1
 echo "eval digits done $(( $(date +%s)-T0 ))s" >> logs/eval_digits.log) &
python sft.py --task coords --model-size small --num-examples 40000 --batch-size 64 --lr 1e-3 --steps 2000 \
  --eval-every 500 --out-dir runs/sft-coords > logs/sft_coords.log 2>&1
echo "sft coords done $(( $(date +%s)-T0 ))s" >> logs/sft_coords.log
timeout $(( 500 - ($(date +%s)-T0) )) python grpo.py --task coords --model runs/sft-coords --lr 5e-5 --prompts-per-step 16 \
  --steps 80 --eval-every 0 --out-dir runs/grpo-coords > logs/grpo_coords.log 2>&1
echo "grpo coords done $(( $(date +%s)-T0 ))s" >> logs/grpo_coords.log
models="runs/sft-coords"; [ -f runs/grpo-coords/config.json ] && models="$models runs/grpo-coords"
timeout $(( 575 - ($(date +%s)-T0) )) python eval.py --task coords --model $models --n 300 \
  --out-dir runs/eval-coords > logs/eval_coords.log 2>&1
echo "eval coords done $(( $(date +%s)-T0 ))s" >> logs/eval_coords.log
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/grpo-* runs/sft-coords runs/sft-digits; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -20 | cut -c1-300; grep "^step" $f | awk 'NR%8==1' | cut -c1-200; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
