#!/bin/bash
# Call T (session 7, issue 8), one H100, two jobs side by side (call R again with its lessons):
#  digits:  centre-token warm-up labels, the tower frozen after the warm-up in SFT AND now in GRPO (grpo.py
#           --freeze-vision, default; call R's GRPO trained it: 78.5% -> 60.5%), the demo's sum one digit at a time;
#           SFT (warm-up first), GRPO from it, then greedy eval of both on 200 test examples.
#  cryptogram: the image task with half the train words random letters (task.nonwords), frozen tower; SFT, eval.
# Writes $OUT/small.tgz (results.json + metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny SFT_MIN=0.2 GRPO_MIN=0.1 CT_MIN=0.2 NEX=40 NEX_C=40 BS=4 N=4 WARM=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/q bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-580}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
digits() {
  python sft.py --task digits --model-size $SIZE --num-examples ${NEX:-20000} --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget ${SFT_MIN:-6.0} --vision-warmup-steps ${WARM:-600} --eval-every 500 \
    --out-dir runs/sft-digits > logs/sft_digits.log 2>&1; stamp "sft digits" sft_digits
  python grpo.py --task digits --model runs/sft-digits --steps 1000 --time-budget ${GRPO_MIN:-2.0} --lr 1e-4 \
    --prompts-per-step 16 --num-generations 8 --eval-every 0 --out-dir runs/grpo-digits > logs/grpo_digits.log 2>&1
  stamp "grpo digits" grpo_digits
  timeout $(left) python eval.py --task digits --model runs/sft-digits runs/grpo-digits --n $N --no-baselines \
    --out-dir runs/eval-digits > logs/eval_digits.log 2>&1; stamp "eval digits (rc $?)" eval_digits
}
crypto() {
  python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX_C:-12000} --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget ${CT_MIN:-7.0} --vision-warmup-steps ${WARM_C:-300} --eval-every 500 \
    --out-dir runs/sft-cryptogram > logs/sft_cryptogram.log 2>&1; stamp "sft cryptogram" sft_cryptogram
  timeout $(left) python eval.py --task cryptogram --model runs/sft-cryptogram --n $N --no-baselines \
    --out-dir runs/eval-cryptogram > logs/eval_cryptogram.log 2>&1; stamp "eval cryptogram (rc $?)" eval_cryptogram
}
digits & crypto & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-* runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
