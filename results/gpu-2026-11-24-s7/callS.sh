#!/bin/bash
# Call S (session 7, issue 9), one H100, nothing else running: (1) the decode step table with the prompt's K/V
# shared across each group's rows (decode.py share_prompt, new default) beside the copied rows of call J, and the
# kernel profile of the compiled step, copied and shared; (2) the GRPO step vs TRL 1.16 with LoRA, both sides in
# this one process (bench/grpo_vs_trl.py; ours now with the shared prompt).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ${WHL:-.whl}/*.whl && export PYTHONPATH=/tmp/site
T0=$(date +%s)
timeout 270 python bench/decode_bench.py --steps 20 --profile 2>&1 | grep -v Warning > $OUT/decode.log
echo "decode_bench rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
tail -14 $OUT/decode.log
timeout $(( 555 - ($(date +%s)-T0) )) python bench/grpo_vs_trl.py --model qwen3-0.6b --lora --compile-decode 2>&1 | grep -v Warning > $OUT/bench.log
echo "grpo_vs_trl rc ${PIPESTATUS[0]} at $(( $(date +%s)-T0 ))s"
tail -30 $OUT/bench.log
