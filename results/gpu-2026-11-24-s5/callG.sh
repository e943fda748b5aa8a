#!/bin/bash
# Call G (session 5, issue 9): is it our decoder that raises the LoRA training-pass peak (13.39 GiB in call L with
# the whole-cache eager-graph decoder, 13.71 in call F with the bucketed compiled one)? Ours alone, chunk 128:
# --engine hf (no decode engine), static without compile, static with compile; each its own process.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl && export PYTHONPATH=/tmp/site
for flags in "--engine hf" "--no-compile-decode" "--compile-decode"; do
  echo "== $flags"
  timeout $(( 400 - ($(date +%s)-T0) )) python3 bench/grpo_vs_trl.py --model qwen3-0.6b --lora --sides ours $flags 2>&1 | grep "ours (" 
  echo "done $(( $(date +%s)-T0 ))s"
done 2>&1 | tee $OUT/decoder_vs_peak.log
