#!/bin/bash
# Call H (session 5, issue 9): memory still allocated after a static-engine rollout (diag_engine_memory.py).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
timeout 200 python results/gpu-2026-11-24-s5/diag_engine_memory.py 2>&1 | grep -v Warning | tee $OUT/diag.log
