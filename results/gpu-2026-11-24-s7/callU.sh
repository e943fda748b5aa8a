#!/bin/bash
# Call U (session 7, issue 8), one H100, digits ALONE (calls R and T shared the GPU with a cryptogram job: 1,024 and
# 873 SFT steps, 78.5% and 54.0%): the same recipe as call T (centre-token warm-up, tower frozen in SFT and GRPO,
# the sum one digit at a time), with the SFT budget the whole call allows; then a short GRPO and greedy eval.
# Writes $OUT/small.tgz (results.json + metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny SFT_MIN=0.2 GRPO_MIN=0.1 CT_MIN=0.2 NEX=40 NEX_C=40 BS=4 N=4 WARM=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/q bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-580}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
digits() {
  python sft.py --task digits --model-size $SIZE --num-examples ${NEX:-30000} --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget ${SFT_MIN:-6.8} --vision-warmup-steps ${WARM:-600} --eval-every 500 \
    --out-dir runs/sft-digits > logs/sft_digits.log 2>&1; stamp "sft digits" sft_digits
  python grpo.py --task digits --model runs/sft-digits --steps 1000 --time-budget ${GRPO_MIN:-1.0} --lr 1e-4 \
    --prompts-per-step 16 --num-generations 8 --eval-every 0 --out-dir runs/grpo-digits > logs/grpo_digits.log 2>&1
  stamp "grpo digits" grpo_digits
  timeout $(left) python eval.py --task digits --model runs/sft-digits runs/grpo-digits --n $N --no-baselines \
    --out-dir runs/eval-digits > logs/eval_digits.log 2>&1; stamp "eval digits (rc $?)" eval_digits
}
digits
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-* runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
