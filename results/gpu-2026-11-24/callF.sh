#!/bin/bash
# Call F: vi SFT (small, all families) with and without --context-loss-weight, same seed/data/budget, run
# side by side on one H100; each evaluated on 560 test episodes; the better one (medium success) comes back.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs
for w in 0 0.25; do
 (python sft.py --task vi --model-size small --families all --num-examples 40000 --num-val-examples 100 \
   --steps 100000 --time-budget 6.3 --batch-size 64 --lr 1e-3 --warmup-steps 100 --eval-every 500 \
   --context-loss-weight $w --out-dir runs/sft-vi-w$w > logs/sft_w$w.log 2>&1
  echo "sft w$w done $(( $(date +%s)-T0 ))s" >> logs/sft_w$w.log
  python eval.py --task vi --model runs/sft-vi-w$w --n 560 --no-baselines --out-dir runs/eval-vi-w$w > logs/eval_w$w.log 2>&1
  echo "eval w$w done $(( $(date +%s)-T0 ))s" >> logs/eval_w$w.log) &
done
wait
for w in 0 0.25; do cp runs/eval-vi-w$w/results.json $OUT/eval-vi-sft-w$w.json; cp runs/sft-vi-w$w/metrics.jsonl $OUT/sft_vi_w$w.jsonl; done
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25; grep "^step" $f | awk 'NR%2==1'; done > $OUT/logs.txt
BEST=$(python - <<'PY'
import json
def med(w):
    r = json.load(open(f"runs/eval-vi-w{w}/results.json"))["rows"][f"runs/sft-vi-w{w}"]
    fams = [v for k, v in r.items() if isinstance(v, dict) and v.get("difficulty") == "medium"]
    return sum(v["success"] for v in fams) / len(fams)
print(max(["0", "0.25"], key=med))
PY
)
echo "best: w$BEST"
python - <<PY
import torch; from safetensors.torch import load_file, save_file
d = "runs/sft-vi-w$BEST"
save_file({k: v.to(torch.bfloat16) for k, v in load_file(d + "/model.safetensors").items()}, d + "/model.safetensors", metadata={"format": "pt"})
PY
rm -rf runs/sft-vi-w$BEST/ckpt && tar czf /tmp/sft.tgz -C runs sft-vi-w$BEST && split -b 15M /tmp/sft.tgz $OUT/sft.tgz.part-
ls -la $OUT; tail -c 6000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
