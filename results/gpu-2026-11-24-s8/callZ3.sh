#!/bin/bash
# Call Z3 (session 8, issue 8), one H100, the image cryptogram alone on the GPU (calls Z and Z2 shared it with the
# text variant: 1,319 and 1,015 steps, the coded letters not yet copied, 4%). Same recipe as call Z2: 16,000
# examples, the pair-per-token decoder and the letter-by-letter demo; SFT (warm-up, tower frozen after it), then
# greedy eval on 200 test examples (episodes.jsonl: what the model wrote).
# Writes $OUT/small.tgz (results.json, episodes.jsonl, metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny CI_MIN=0.2 NEX_I=40 BS=4 N=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/z bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-128}; N=${N:-200}; DEADLINE=${DEADLINE:-555}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
crypto() {  # $1 = cryptogram or cryptogram-text, $2 = vision warm-up steps, $3 = examples, $4 = minutes
  timeout $(left) python sft.py --task $1 --model-size $SIZE --num-examples $3 --batch-size $BS \
    --lr 1e-3 --steps 100000 --time-budget $4 --vision-warmup-steps $2 --eval-every 250 \
    --out-dir runs/sft-$1 > logs/sft_$1.log 2>&1; stamp "sft $1 (rc $?)" sft_$1
  timeout $(left) python eval.py --task $1 --model runs/sft-$1 --n $N --no-baselines \
    --out-dir runs/eval-$1 > logs/eval_$1.log 2>&1; stamp "eval $1 (rc $?)" eval_$1
}
crypto cryptogram ${WARM_C:-300} ${NEX_I:-16000} ${CI_MIN:-7.3}
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; cp $d/episodes.jsonl small/$(basename $d)-episodes.jsonl; done
for d in runs/sft-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
