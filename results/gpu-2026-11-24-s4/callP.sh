#!/bin/bash
# Call P (self-contained: call O's machine went cold with its runs): call O's vi SFT checkpoint (carried in
# ckpt-in/) evaluated on 560 test episodes, then vi GRPO x 3 seeds on the families it leaves below 90% (KL anchor
# to the SFT policy, beta 0.04, lr 1e-4), each evaluated the same way. Beside it: exec SFT again (call O's
# 2,000-step command; its checkpoint was lost with the machine), evaluated, and shipped back for call Q.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
cat ckpt-in/sft-vi.tgz.part-* | tar xz -C runs && ls runs/sft-vi/model.safetensors || exit 3
(python sft.py --task exec --model-size small --num-examples 10000 --batch-size 64 --lr 1e-3 --steps 2000 \
   --eval-every 500 --out-dir runs/sft-exec > logs/sft_exec.log 2>&1
 echo "sft exec done $(( $(date +%s)-T0 ))s" >> logs/sft_exec.log
 python eval.py --task exec --model runs/sft-exec --n 240 --no-baselines --out-dir runs/eval-exec-sft > logs/eval_exec_sft.log 2>&1
 echo "eval exec done $(( $(date +%s)-T0 ))s" >> logs/eval_exec_sft.log
 python - <<'PY'
import torch; from safetensors.torch import load_file, save_file
d = "runs/sft-exec"
save_file({k: v.to(torch.bfloat16) for k, v in load_file(d + "/model.safetensors").items()}, d + "/model.safetensors", metadata={"format": "pt"})
PY
 rm -rf runs/sft-exec/ckpt && tar czf /tmp/sft.tgz -C runs sft-exec && split -b 15M /tmp/sft.tgz $OUT/sft-exec.tgz.part-) &
python eval.py --task vi --model runs/sft-vi --n 560 --no-baselines --out-dir runs/eval-vi-sft > logs/eval_vi_sft.log 2>&1
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
 (python grpo.py --task vi --model runs/sft-vi --families $FAMS --seed $s --steps 1000 --time-budget 5 --lr 1e-4 \
   --beta 0.04 --prompts-per-step 16 --eval-every 0 --out-dir runs/grpo-vi-s$s > logs/grpo_vi_s$s.log 2>&1
  echo "grpo s$s done $(( $(date +%s)-T0 ))s" >> logs/grpo_vi_s$s.log
  python eval.py --task vi --model runs/grpo-vi-s$s --n 560 --no-baselines --out-dir runs/eval-vi-s$s > logs/eval_vi_s$s.log 2>&1
  echo "eval s$s done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_s$s.log) &
done
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/grpo-* runs/sft-exec; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -14 | cut -c1-300; grep "^step" $f | awk 'NR%10==1' | cut -c1-220; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
