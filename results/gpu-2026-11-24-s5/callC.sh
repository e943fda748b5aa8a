#!/bin/bash
# Call C (session 5): call A's vi SFT checkpoint (carried in ckpt-in/) evaluated on 1,120 test episodes (40 per
# family), then vi GRPO x 3 seeds on the families it leaves below 90% (KL anchor to the SFT policy, beta 0.04,
# lr 1e-4, a fixed 50 steps: a time budget measured beside other jobs is wrong), each evaluated the same way.
# Beside it (issue 7): `coords` (the accessibility tree now lists each element's clickable point) SFT -> GRPO ->
# eval, the commands of call M (session 4) with fixed step counts.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
cat ckpt-in/sft-vi.tgz.part-* | tar xz -C runs && ls runs/sft-vi/model.safetensors || exit 3
(python sft.py --task coords --model-size small --num-examples 20000 --batch-size 64 --lr 1e-3 --steps 700 \
   --out-dir runs/sft-coords > logs/sft_coords.log 2>&1
 echo "sft coords done $(( $(date +%s)-T0 ))s" >> logs/sft_coords.log
 python grpo.py --task coords --model runs/sft-coords --lr 5e-5 --prompts-per-step 16 --steps 100 --eval-every 0 \
   --out-dir runs/grpo-coords > logs/grpo_coords.log 2>&1
 echo "grpo coords done $(( $(date +%s)-T0 ))s" >> logs/grpo_coords.log
 timeout $(( 575 - ($(date +%s)-T0) )) python eval.py --task coords --model runs/sft-coords runs/grpo-coords --n 300 \
   --out-dir runs/eval-coords > logs/eval_coords.log 2>&1
 echo "eval coords done $(( $(date +%s)-T0 ))s" >> logs/eval_coords.log) &
python eval.py --task vi --model runs/sft-vi --n 1120 --no-baselines --out-dir runs/eval-vi-sft > logs/eval_vi_sft.log 2>&1
echo "eval vi sft done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_sft.log
FAMS=$(python - <<'PY'
import json
rows = json.load(open("runs/eval-vi-sft/results.json"))["rows"]["runs/sft-vi"]
weak = [f for f, v in rows.items() if f != "all" and v["success"] < 0.9]
print(",".join(weak) or "medium,hard")
PY
)
echo "GRPO families: $FAMS" | tee -a logs/eval_vi_sft.log
for s in 0 1 2; do
 (python grpo.py --task vi --model runs/sft-vi --families $FAMS --seed $s --steps 50 --lr 1e-4 \
   --beta 0.04 --prompts-per-step 16 --eval-every 0 --out-dir runs/grpo-vi-s$s > logs/grpo_vi_s$s.log 2>&1
  echo "grpo s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_vi_s$s.log
  timeout $(( 575 - ($(date +%s)-T0) )) python eval.py --task vi --model runs/grpo-vi-s$s --n 1120 --no-baselines \
    --out-dir runs/eval-vi-s$s > logs/eval_vi_s$s.log 2>&1
  echo "eval s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_s$s.log) &
done
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/grpo-* runs/sft-coords; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -20 | cut -c1-300; grep "^step" $f | awk 'NR%8==1' | cut -c1-200; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
