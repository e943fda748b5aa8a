#!/bin/bash
# Call I (session 6, issue 9): (1) which allocations of a CUDA-graph rollout outlive the engine, and which release
# frees them (diag_engine_memory2.py, three variants, each in its own process); (2) where the compiled decode step's
# 2.27 ms go (bench/decode_bench.py --profile: kernel time of 5 steps without a graph, eager and compiled).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
D=results/gpu-2026-11-24-s6
python $D/diag_engine_memory2.py --variant base --snapshot 2>&1 | grep -v Warning | tee $OUT/diag.log
for v in reset ownpool; do python $D/diag_engine_memory2.py --variant $v 2>&1 | grep -v Warning | tee -a $OUT/diag.log; done
timeout 300 python bench/decode_bench.py --profile --steps 20 --new-tokens 128 2>&1 | grep -v Warning > $OUT/decode.log
tail -c 12000 $OUT/decode.log
