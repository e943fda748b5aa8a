#!/bin/bash
# Call R (issue 9), the GPU alone: the decode bench with the next step launched before the host bookkeeping, then
# bench/grpo_vs_trl.py (TRL 1.16 vs ours in one process, LoRA and full, ours with the compiled decode step), with
# our peak memory per phase.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s)
timeout 200 python bench/decode_bench.py --steps 30 2>&1 | grep -v Warning | tee $OUT/decode_bench.log | tail -14
echo "decode bench done $(( $(date +%s)-T0 ))s"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
timeout $(( 585 - ($(date +%s)-T0) )) python3 bench/grpo_vs_trl.py --model qwen3-0.6b --compile-decode $EXTRA 2>&1 | grep -v Warning | tee $OUT/grpo_vs_trl.log | tail -16
echo "total $(( $(date +%s)-T0 ))s"
