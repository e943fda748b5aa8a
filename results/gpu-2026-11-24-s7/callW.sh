#!/bin/bash
# Call W (session 7, issue 8), one H100, two jobs side by side:
#  cryptogram: the decoder with one letter per image token (224 px, 8 x 8 tokens), half the train words random
#     letters, the tower frozen after its warm-up; SFT, then greedy eval on 200 test examples.
#  pixel: SFT (vision warm-up first, then the tower frozen), then two GRPO runs from it side by side, with
#     Pixel-Reasoner's curiosity bonus (alpha 0.5, H 0.3) and without, then greedy eval of the three on 150 test
#     examples (success and tool-use rate). Session 5's call B: 123 SFT steps, 4-5 GRPO steps, three jobs sharing.
# Writes $OUT/small.tgz (results.json + metrics.jsonl) and $OUT/logs.txt.
# CPU check: SIZE=tiny SFT_MIN=0.2 GRPO_MIN=0.1 CT_MIN=0.2 NEX=40 NEX_C=40 BS=4 BS_C=4 PROMPTS=2 N=4 WARM=4 WARM_C=4 DEADLINE=99999 OUT=/tmp/w bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=6
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs small runs
SIZE=${SIZE:-small}; BS=${BS:-32}; N=${N:-150}; BS_C=${BS_C:-128}; N_C=${N_C:-200}; DEADLINE=${DEADLINE:-580}; PROMPTS=${PROMPTS:-16}
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
grpo() {  # out name, extra flags
  python grpo.py --task pixel --model runs/sft-pixel --steps 1000 --time-budget ${GRPO_MIN:-1.5} --lr 1e-4 \
    --prompts-per-step $PROMPTS --num-generations 8 --eval-every 0 --out-dir runs/$1 "${@:2}" > logs/$1.log 2>&1
  stamp $1 $1
}
pixel() {
  python sft.py --task pixel --model-size $SIZE --num-examples ${NEX:-3000} --batch-size $BS --lr 1e-3 --steps 100000 \
    --time-budget ${SFT_MIN:-4.3} --vision-warmup-steps ${WARM:-300} --eval-every 200 --out-dir runs/sft-pixel \
    > logs/sft_pixel.log 2>&1; stamp "sft pixel" sft_pixel
  grpo grpo-pixel-curiosity --curiosity-bonus 0.5 --curiosity-target 0.3 & grpo grpo-pixel & wait
  timeout $(left) python eval.py --task pixel --model runs/sft-pixel runs/grpo-pixel runs/grpo-pixel-curiosity --n $N \
    --no-baselines --out-dir runs/eval-pixel > logs/eval_pixel.log 2>&1; stamp "eval pixel (rc $?)" eval_pixel
}
crypto() {
  python sft.py --task cryptogram --model-size $SIZE --num-examples ${NEX_C:-12000} --batch-size ${BS_C} --lr 1e-3 \
    --steps 100000 --time-budget ${CT_MIN:-6.5} --vision-warmup-steps ${WARM_C:-300} --eval-every 500 \
    --out-dir runs/sft-cryptogram > logs/sft_cryptogram.log 2>&1; stamp "sft cryptogram" sft_cryptogram
  timeout $(left) python eval.py --task cryptogram --model runs/sft-cryptogram --n $N_C --no-baselines \
    --out-dir runs/eval-cryptogram > logs/eval_cryptogram.log 2>&1; stamp "eval cryptogram (rc $?)" eval_cryptogram
}
pixel & crypto & wait
for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-* runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-300; done > $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
