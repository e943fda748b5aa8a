#!/bin/bash
# Call 3 (session 11, issue 9): the final norm and LM head moved out of the compiled sampler (call 2: inside, the
# greedy rows of the 0.6B shape parted from the after-step path, 39/64 identical, bf16 logits one step apart).
# (1) check_sampling.py (now decode._sample(logits, ...)): check 4 should give 64/64; (2) the sdpa compiled rows,
# whole cache and buckets of 64, after / in graph / in graph + K/V writes in the compiled layer, each loop the mean
# of 5 generate calls (calls 1-2: K/V writes inside helped the whole-cache loop, -0.39 and -0.21 ms, and cost the
# buckets loop, +0.28 and +0.06 ms, though its forward was 0.16-0.17 ms faster).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
D=results/gpu-2026-11-24-s11/decode
nvidia-smi -L
T0=$(date +%s)
timeout 150 python $D/check_sampling.py 2>&1 | grep -v -i "warn\|online softmax\|split the reduction\|important use case\|softmax\.$" > $OUT/check.log
echo "check rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
cat $OUT/check.log
timeout $(( 400 - ($(date +%s)-T0) )) python bench/decode_bench.py --steps 20 --loop-reps 5 --only "sdpa, whole cache, compiled|sdpa, buckets of 64, compiled" 2>&1 | grep -v Warning > $OUT/decode.log
echo "decode_bench rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
cat $OUT/decode.log
