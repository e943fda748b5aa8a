#!/bin/bash
# Call P, on the machine call O left warm (its runs/sft-vi and runs/sft-exec are still there; run from .snap):
# vi GRPO x 3 seeds from call O's SFT on the families it leaves below 90% (KL anchor to the SFT policy, beta 0.04,
# lr 1e-4), each evaluated on the same 560 test episodes as the SFT; exec GRPO (1 seed) from call O's exec SFT;
# the geometric bench on exec (geometric vs control vs es, 3 seeds) beside them.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small
ls runs/sft-vi/model.safetensors runs/sft-exec/model.safetensors || exit 3
FAMS=$(python - <<'PY'
import json
rows = json.load(open("runs/eval-vi-sft/results.json"))["rows"]["runs/sft-vi"]
weak = [f for f, v in rows.items() if f != "all" and v["success"] < 0.9]
print(",".join(weak) or "medium,hard")
PY
)
echo "GRPO families: $FAMS"
for s in 0 1 2; do
 (python grpo.py --task vi --model runs/sft-vi --families $FAMS --seed $s --steps 1000 --time-budget 5.5 --lr 1e-4 \
   --beta 0.04 --prompts-per-step 16 --eval-every 0 --out-dir runs/grpo-vi-s$s > logs/grpo_vi_s$s.log 2>&1
  echo "grpo s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_vi_s$s.log
  python eval.py --task vi --model runs/grpo-vi-s$s --n 560 --no-baselines --out-dir runs/eval-vi-s$s > logs/eval_vi_s$s.log 2>&1
  echo "eval s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_s$s.log) &
done
(python grpo.py --task exec --model runs/sft-exec --steps 1000 --time-budget 5.5 --lr 5e-5 --prompts-per-step 16 \
   --eval-every 0 --out-dir runs/grpo-exec > logs/grpo_exec.log 2>&1
 echo "grpo exec done $(( $(date +%s)-T0 ))s" >> logs/grpo_exec.log
 python eval.py --task exec --model runs/grpo-exec --n 240 --no-baselines --out-dir runs/eval-exec-grpo > logs/eval_exec_grpo.log 2>&1
 echo "eval exec done $(( $(date +%s)-T0 ))s" >> logs/eval_exec_grpo.log) &
(timeout 500 python bench/geometric_bench.py --tasks exec --sft exec=runs/sft-exec --seeds 3 --jobs 4 --steps 20 \
   --test-examples 100 --score-episodes 8 --out-dir runs/bench-geometric-exec > logs/geo_exec.log 2>&1
 echo "geometric done $(( $(date +%s)-T0 ))s" >> logs/geo_exec.log) &
wait
for d in runs/eval-vi-s* runs/eval-exec-grpo; do cp $d/results.json small/$(basename $d).json; done
for d in runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
cp runs/bench-geometric-exec/results.json small/geometric_exec.json 2>/dev/null
tar czf $OUT/small.tgz small
for f in logs/grpo* logs/eval_vi_s* logs/eval_exec_grpo.log logs/geo_exec.log; do echo "=== $f"; grep -v "^step " $f | tail -14 | cut -c1-300; grep "^step" $f | awk 'NR%10==1' | cut -c1-220; done > $OUT/logs.txt
tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
