#!/bin/bash
# Call K: exec SFT with the context loss (now the default for --model tiny), same command as the 2026-11-23
# 5-minute run otherwise; then GRPO on exec from it (static engine) beside the SFT eval; then the GRPO eval.
# Results are copied to $OUT as each stage ends (a timeout must not lose the earlier ones).
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs
# beside it, first: peak memory of our GRPO step (Qwen3-0.6B shape, LoRA) at two LM-head chunk sizes (memory only:
# the timing is not clean with the exec run on the same GPU; call J has the clean one at chunk 1024)
(python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl
 for c in 256 128; do PYTHONPATH=/tmp/site timeout 120 python3 bench/grpo_vs_trl.py --model qwen3-0.6b --lora --sides ours \
   --warmup 1 --steps 1 --logprob-chunk $c 2>&1 | grep "ours (" ; done > $OUT/memory_chunks.log) &
python sft.py --task exec --model-size small --num-examples 10000 --batch-size 64 --lr 1e-3 --steps 100000 \
  --time-budget 4.3 --eval-every 500 --out-dir runs/sft-exec > logs/sft_exec.log 2>&1
echo "sft done $(( $(date +%s)-T0 ))s" | tee -a logs/sft_exec.log; cp runs/sft-exec/metrics.jsonl $OUT/sft_exec.jsonl
(python eval.py --task exec --model runs/sft-exec --n 240 --out-dir runs/eval-exec-sft > logs/eval_exec_sft.log 2>&1
 echo "sft eval done $(( $(date +%s)-T0 ))s" >> logs/eval_exec_sft.log; cp runs/eval-exec-sft/results.json $OUT/eval-exec-sft.json
 cp logs/eval_exec_sft.log $OUT/) &
timeout $(( 470 - ($(date +%s)-T0) )) python grpo.py --task exec --model runs/sft-exec --steps 1000 --time-budget 2.3 --lr 5e-5 \
  --prompts-per-step 16 --eval-every 0 --out-dir runs/grpo-exec > logs/grpo_exec.log 2>&1
echo "grpo done $(( $(date +%s)-T0 ))s" | tee -a logs/grpo_exec.log; cp runs/grpo-exec/metrics.jsonl $OUT/grpo_exec.jsonl
timeout $(( 585 - ($(date +%s)-T0) )) python eval.py --task exec --model runs/grpo-exec --n 240 --no-baselines \
  --out-dir runs/eval-exec-grpo > logs/eval_exec_grpo.log 2>&1
echo "grpo eval done $(( $(date +%s)-T0 ))s" >> logs/eval_exec_grpo.log
wait
cp runs/eval-exec-grpo/results.json $OUT/eval-exec-grpo.json 2>/dev/null
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -16 | cut -c1-260; grep "^step" $f | awk 'NR%5==1' | cut -c1-200; done > $OUT/logs.txt
tail -c 7000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
