#!/bin/bash
# Call A (session 5): vi SFT with the cased renames (vi_env.new_name), 3,500 steps instead of 2,000 (val loss
# was still falling steeply at 2,000: 0.377 at 1,000 -> 0.039 at 2,000), evaluated on 560 test episodes and
# shipped back (bf16) for GRPO. Beside it (issue 6): `--estimator es` on exec, 3 seeds, aggressive preset, at the
# forward budget the geometric runs of call S measured (1,096 sequences), from call P's exec SFT checkpoint.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small runs
cat ckpt-in/sft-exec.tgz.part-* | tar xz -C runs && ls runs/sft-exec/model.safetensors || exit 3
(python sft.py --task vi --model-size small --families all --num-examples 40000 --num-val-examples 100 \
   --steps 3500 --batch-size 64 --lr 1e-3 --warmup-steps 100 --eval-every 500 --out-dir runs/sft-vi > logs/sft_vi.log 2>&1
 echo "sft vi done $(( $(date +%s)-T0 ))s" >> logs/sft_vi.log
 timeout $(( 560 - ($(date +%s)-T0) )) python eval.py --task vi --model runs/sft-vi --n 560 --no-baselines --out-dir runs/eval-vi-sft > logs/eval_vi_sft.log 2>&1
 echo "eval vi done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_sft.log) &
(timeout 540 python bench/geometric_bench.py --tasks exec --sft exec=runs/sft-exec --seeds 3 --jobs 3 --steps 20 \
   --test-examples 100 --score-episodes 4 --geometric-args "--preset aggressive" --methods es --forward-budget 1096 \
   --out-dir runs/bench-geometric-exec > logs/geo_exec_es.log 2>&1
 echo "geometric es done $(( $(date +%s)-T0 ))s" >> logs/geo_exec_es.log) &
wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
cp runs/sft-vi/metrics.jsonl small/sft-vi.jsonl; cp runs/bench-geometric-exec/results.json small/geometric_exec_es.json 2>/dev/null
tar czf $OUT/small.tgz small
python - <<'PY'
import torch; from safetensors.torch import load_file, save_file
d = "runs/sft-vi"
save_file({k: v.to(torch.bfloat16) for k, v in load_file(d + "/model.safetensors").items()}, d + "/model.safetensors", metadata={"format": "pt"})
PY
rm -rf runs/sft-vi/ckpt && tar czf /tmp/sft.tgz -C runs sft-vi && split -b 15M /tmp/sft.tgz $OUT/sft-vi.tgz.part-
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -24 | cut -c1-300; grep "^step" $f | awk 'NR%8==1' | cut -c1-200; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
