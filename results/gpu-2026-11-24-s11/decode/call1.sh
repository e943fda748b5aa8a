#!/bin/bash
# Call 1 (session 11, issue 9): sampling inside the decode step's CUDA graph. (1) check_sampling.py: torch version,
# generator registration, the compiled sampler's distribution in a graph, the engine on CUDA against the old path;
# (2) the decode table (bench/decode_bench.py --steps 20, the whole-cache and compiled rows, before = graph_sampling
# off, after = on, and K/V writes inside the compiled layer) with the kernel profiles.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
D=results/gpu-2026-11-24-s11/decode
nvidia-smi -L
T0=$(date +%s)
timeout 150 python $D/check_sampling.py 2>&1 | grep -v Warning
echo "check rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
timeout $(( 400 - ($(date +%s)-T0) )) python bench/decode_bench.py --steps 20 --profile --only "whole cache|compiled" 2>&1 | grep -v Warning > $OUT/decode.log
echo "decode_bench rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
grep -B2 -A22 "kernels busy" $OUT/decode.log | head -120
tail -20 $OUT/decode.log
