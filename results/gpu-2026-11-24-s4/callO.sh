#!/bin/bash
# Call O: vi SFT with the Replace-mode drawing demos (banner, framed_banner, grid type their text over with `R`
# instead of `{n}s`, which made the model count letters), and exec SFT, side by side, each a fixed 2,000 steps
# (a --time-budget measured while the other prepares its data is wrong: call M). Then both evaluated; the vi
# checkpoint comes back (bf16) for GRPO; the exec one stays on the machine for call P.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs small
(python sft.py --task vi --model-size small --families all --num-examples 40000 --num-val-examples 100 \
   --steps 2000 --batch-size 64 --lr 1e-3 --warmup-steps 100 --eval-every 500 --out-dir runs/sft-vi > logs/sft_vi.log 2>&1
 echo "sft vi done $(( $(date +%s)-T0 ))s" >> logs/sft_vi.log
 python eval.py --task vi --model runs/sft-vi --n 560 --no-baselines --out-dir runs/eval-vi-sft > logs/eval_vi_sft.log 2>&1
 echo "eval vi done $(( $(date +%s)-T0 ))s" >> logs/eval_vi_sft.log) &
(python sft.py --task exec --model-size small --num-examples 10000 --batch-size 64 --lr 1e-3 --steps 2000 \
   --eval-every 500 --out-dir runs/sft-exec > logs/sft_exec.log 2>&1
 echo "sft exec done $(( $(date +%s)-T0 ))s" >> logs/sft_exec.log
 python eval.py --task exec --model runs/sft-exec --n 240 --no-baselines --out-dir runs/eval-exec-sft > logs/eval_exec_sft.log 2>&1
 echo "eval exec done $(( $(date +%s)-T0 ))s" >> logs/eval_exec_sft.log) &
# beside them (issue 9): where our GRPO step's peak memory is, by phase, with and without the compiled decode step
# (per-process counters: the SFT runs beside do not touch them; timings from this are not used)
(python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl
 for c in "" "--compile-decode"; do for chunk in 128 64; do echo "== $c chunk $chunk"; PYTHONPATH=/tmp/site timeout 150 python3 bench/grpo_vs_trl.py \
   --model qwen3-0.6b --lora --sides ours --warmup 1 --steps 1 --logprob-chunk $chunk $c 2>&1 | grep "ours (" ; done; done > logs/memory_phases.log 2>&1) &
wait
cp logs/memory_phases.log $OUT/
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-vi runs/sft-exec; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
python - <<'PY'
import torch; from safetensors.torch import load_file, save_file
for d in ("runs/sft-vi", "runs/sft-exec"):
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(d + "/model.safetensors").items()}, d + "/model.safetensors", metadata={"format": "pt"})
PY
rm -rf runs/sft-vi/ckpt runs/sft-exec/ckpt && tar czf /tmp/sft.tgz -C runs sft-vi && split -b 15M /tmp/sft.tgz $OUT/sft-vi.tgz.part-
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -16 | cut -c1-300; grep "^step" $f | awk 'NR%8==1' | cut -c1-200; done > $OUT/logs.txt
ls -la $OUT; tail -c 8000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
