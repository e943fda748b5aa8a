#!/bin/bash
# Call J (session 6, issue 9), after the fix (decode.py: one side stream for every graph warm-up and capture):
# (1) memory left after each of 3 rollouts (diag_engine_memory2.py, base variant); (2) the GRPO step vs TRL with
# LoRA, both sides in this one process (bench/grpo_vs_trl.py); (3) the decode step table (bench/decode_bench.py,
# now with the graph-capture time per rollout and a compiled whole-cache row).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-.whl}/*.whl && export PYTHONPATH=/tmp/site
D=results/gpu-2026-11-24-s6
python $D/diag_engine_memory2.py --variant base 2>&1 | grep -v Warning | tee $OUT/diag.log
timeout 330 python bench/grpo_vs_trl.py --model qwen3-0.6b --lora --compile-decode 2>&1 | grep -v Warning > $OUT/bench.log
tail -40 $OUT/bench.log
timeout 200 python bench/decode_bench.py --steps 20 2>&1 | grep -v Warning > $OUT/decode.log
tail -16 $OUT/decode.log
