#!/bin/bash
# Call J: decode-step breakdown (bench/decode_bench.py), then bench/grpo_vs_trl.py on the Qwen3-0.6B shape, LoRA and
# full, both sides in one process, alone on the GPU.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
timeout 150 python3 bench/decode_bench.py 2>&1 | grep -v Warning | tee $OUT/decode_bench.log | tail -12
timeout 420 python3 bench/grpo_vs_trl.py --model qwen3-0.6b 2>&1 | grep -v Warning | tee $OUT/grpo_vs_trl.log | tail -14
