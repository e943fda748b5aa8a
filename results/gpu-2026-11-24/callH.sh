#!/bin/bash
# Call H: bench/grpo_vs_trl.py alone on the GPU, both sides in one process: Qwen3-0.6B shape (LoRA, full), then tiny.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
timeout 570 python3 bench/grpo_vs_trl.py --model qwen3-0.6b,tiny 2>&1 | grep -v Warning | tee $OUT/grpo_vs_trl.log | tail -40
