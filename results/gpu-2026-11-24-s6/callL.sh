#!/bin/bash
# Call L (session 6, issue 9): DecodeEngine.close() (rollout.run_episodes and the bench call it after a rollout:
# graphs, KV cache and snapshot freed, and cuBLAS's workspaces when no engine holds graphs) and a clean start for
# each bench side (the previous side's cuBLAS workspaces cleared: call J's ours started at 0.0625 GiB). Then the
# GRPO step vs TRL, LoRA and full, both sides in this one process (bench/grpo_vs_trl.py).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-.whl}/*.whl && export PYTHONPATH=/tmp/site
timeout 540 python bench/grpo_vs_trl.py --model qwen3-0.6b --compile-decode 2>&1 | grep -v Warning > $OUT/bench.log
tail -25 $OUT/bench.log
