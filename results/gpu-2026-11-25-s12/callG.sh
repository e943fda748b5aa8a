#!/bin/bash
# Call G (session 12, issue 9), one H100: (1) session 11's check_sampling.py again, after commit 36a32ab (the
# prefill's LM head on the distinct prompts, as before in-graph sampling): its check 4 compares greedy rows of the
# in-graph and after-step samplers on the Qwen3-0.6B shape in bf16 (session 11, call 3: 43/64 rows identical);
# (2) bench/grpo_vs_trl.py on the Qwen3-0.6B shape, LoRA then full, with the decode step compiled and sampling in
# its graph (grpo.py's defaults since session 11; the README's ratios, 9.65x LoRA and 5.64x full, are from session 6).
# Needs .whl/ carried: trl 1.16.0, datasets 4.7.0, dill 0.4.0, multiprocess 0.70.18 (the rest is on the machine).
# Writes $OUT/check.log and $OUT/bench.log.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-../.whl}/trl*.whl \
  ${WHL:-../.whl}/datasets*.whl ${WHL:-../.whl}/dill*.whl ${WHL:-../.whl}/multiprocess*.whl && export PYTHONPATH=/tmp/site
timeout 150 python results/gpu-2026-11-24-s11/decode/check_sampling.py 2>&1 | grep -v -i "warn\|online softmax\|split the reduction\|important use case\|softmax\.$" > $OUT/check.log
echo "check rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"; cat $OUT/check.log
timeout $(( 585 - ($(date +%s)-T0) )) python bench/grpo_vs_trl.py --model qwen3-0.6b --compile-decode 2>&1 | grep -v Warning > $OUT/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"; tail -30 $OUT/bench.log
