#!/bin/bash
# Call M (session 4): exec SFT with the context loss, alone-ish for a clean step count (issue 5; its checkpoint
# comes back for the exec GRPO and the geometric exec bench of the next call); beside it from the start, coords and
# actions SFT -> GRPO -> eval on tiny `small` models (issue 7). All three start together and run to the end, so
# every --time-budget measures its step rate under the same load it trains under.
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
nvidia-smi -L
T0=$(date +%s); mkdir -p logs
(python sft.py --task exec --model-size small --num-examples 10000 --batch-size 64 --lr 1e-3 --steps 100000 \
   --time-budget 6.3 --eval-every 500 --out-dir runs/sft-exec > logs/sft_exec.log 2>&1
 echo "sft exec done $(( $(date +%s)-T0 ))s" >> logs/sft_exec.log
 python eval.py --task exec --model runs/sft-exec --n 240 --no-baselines --out-dir runs/eval-exec-sft > logs/eval_exec_sft.log 2>&1
 echo "eval exec done $(( $(date +%s)-T0 ))s" >> logs/eval_exec_sft.log) &
for t in coords actions; do
 (python sft.py --task $t --model-size small --num-examples 20000 --batch-size 64 --lr 1e-3 --steps 100000 \
    --time-budget 3.5 --eval-every 500 --out-dir runs/sft-$t > logs/sft_$t.log 2>&1
  echo "sft $t done $(( $(date +%s)-T0 ))s" >> logs/sft_$t.log
  python grpo.py --task $t --model runs/sft-$t --steps 1000 --time-budget 2.5 --lr 5e-5 --prompts-per-step 16 \
    --eval-every 0 --out-dir runs/grpo-$t > logs/grpo_$t.log 2>&1
  echo "grpo $t done $(( $(date +%s)-T0 ))s" >> logs/grpo_$t.log
  python eval.py --task $t --model runs/sft-$t runs/grpo-$t --n 300 --out-dir runs/eval-$t > logs/eval_$t.log 2>&1
  echo "eval $t done $(( $(date +%s)-T0 ))s" >> logs/eval_$t.log) &
done
wait
mkdir -p small; for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-* runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
python - <<'PY'
import torch; from safetensors.torch import load_file, save_file
d = "runs/sft-exec"
save_file({k: v.to(torch.bfloat16) for k, v in load_file(d + "/model.safetensors").items()}, d + "/model.safetensors", metadata={"format": "pt"})
PY
rm -rf runs/sft-exec/ckpt && tar czf /tmp/sft.tgz -C runs sft-exec && split -b 15M /tmp/sft.tgz $OUT/sft-exec.tgz.part-
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -22 | cut -c1-260; grep "^step" $f | awk 'NR%8==1' | cut -c1-200; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
