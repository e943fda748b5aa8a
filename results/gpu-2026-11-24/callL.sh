#!/bin/bash
# Call L: bench/grpo_vs_trl.py again, both sides in one process, with the defaults this session ended on
# (--logprob-chunk 128 after call K's memory check, the engine's SDPA attention after call J's decode bench).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
timeout 430 python3 bench/grpo_vs_trl.py --model qwen3-0.6b 2>&1 | grep -v Warning | tee $OUT/grpo_vs_trl.log | tail -14
