#!/bin/bash
# Call M (session 6, issue 9): what each side holds at its LoRA peak (diag_peak.py, one process per side).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-.whl}/*.whl && export PYTHONPATH=/tmp/site
for side in ours trl; do timeout 280 python results/gpu-2026-11-24-s6/diag_peak.py $side 2>&1 | grep -v Warning | tail -40 | tee $OUT/peak_$side.log; done
