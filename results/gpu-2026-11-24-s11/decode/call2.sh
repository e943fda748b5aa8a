#!/bin/bash
# Call 2 (session 11, issue 9): (1) check_sampling.py again, into a file this time (call 1's lines were lost); (2) the
# compiled rows of the decode table again, each loop the mean of 3 generate calls (call 1 took one; its loop times
# moved by up to 0.4 ms between rows that differ by 0.1 ms in forward), to decide the defaults of graph_sampling and
# fuse_kv_writes.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
D=results/gpu-2026-11-24-s11/decode
nvidia-smi -L
T0=$(date +%s)
timeout 150 python $D/check_sampling.py 2>&1 | grep -v Warning > $OUT/check.log
echo "check rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
cat $OUT/check.log
timeout $(( 400 - ($(date +%s)-T0) )) python bench/decode_bench.py --steps 20 --loop-reps 3 --only "compiled" 2>&1 | grep -v Warning > $OUT/decode.log
echo "decode_bench rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
cat $OUT/decode.log
