#!/bin/bash
# Call N (issue 9), the GPU alone: the decode step per configuration (whole cache vs buckets of 64, SDPA vs written
# out, torch.compile'd layers or not) with a kernel profile; then bench/grpo_vs_trl.py (TRL 1.16 vs ours, both
# sides in one process, LoRA and full) with the leaner LM-head chunk, and the compiled decode step if it ran.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s)
python -c "import triton; print('triton', triton.__version__)" 2>&1 | tail -1
timeout 240 python bench/decode_bench.py --profile --steps 30 2>&1 | grep -v Warning | tee $OUT/decode_bench.log | tail -32
echo "decode bench done $(( $(date +%s)-T0 ))s"
COMPILE=""; grep -q "compiled |" $OUT/decode_bench.log && COMPILE="--compile-decode"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
timeout $(( 585 - ($(date +%s)-T0) )) python3 bench/grpo_vs_trl.py --model qwen3-0.6b $COMPILE 2>&1 | grep -v Warning | tee $OUT/grpo_vs_trl.log | tail -16
echo "total $(( $(date +%s)-T0 ))s"
