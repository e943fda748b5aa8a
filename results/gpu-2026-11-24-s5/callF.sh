#!/bin/bash
# Call F (session 5, issue 9), the GPU alone: LoRA peak memory vs TRL with smaller LM-head chunks in our log-prob
# passes. Our LoRA peak was 13.39 GiB at chunk 128 against TRL's 13.17 (call L); a chunk's (chunk, V) fp32 logits
# and their log-softmax are ~0.16 GB at 128 positions. bench/grpo_vs_trl.py, Qwen3-0.6B shape, LoRA: TRL and ours
# at chunk 32 in one process, then ours alone at chunks 64 and 16 (each its own process: peaks are per process).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
timeout 330 python3 bench/grpo_vs_trl.py --model qwen3-0.6b --lora --compile-decode --logprob-chunk 32 2>&1 | grep -v Warning | tee $OUT/lora_chunk32.log | tail -12
echo "chunk 32 done $(( $(date +%s)-T0 ))s"
for c in 64 16; do
  timeout $(( 570 - ($(date +%s)-T0) )) python3 bench/grpo_vs_trl.py --model qwen3-0.6b --lora --sides ours --compile-decode --logprob-chunk $c 2>&1 | grep -v Warning | tee $OUT/lora_chunk$c.log | tail -6
  echo "chunk $c done $(( $(date +%s)-T0 ))s"
done
echo "total $(( $(date +%s)-T0 ))s"
