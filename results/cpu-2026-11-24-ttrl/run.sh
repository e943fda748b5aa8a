#!/bin/bash
# TTRL on vi (CPU): majority-vote pseudo-labels, with and without the experience buffer, 2 seeds, 30 steps each,
# from the demo's SFT checkpoint; held-out eval on the easy families.
cd /work/main
export TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
run() {  # $1 = name, $2 = seed, rest = extra flags
  name=$1; seed=$2; shift 2
  python grpo.py --task vi --model /tmp/demo/runs/sft-vi --reward majority --min-agreement 0.5 --steps 30 --seed $seed \
    --eval-every 0 --save-every 100 --out-dir /tmp/ttrl/$name-s$seed "$@" > /tmp/ttrl/$name-s$seed.log 2>&1
}
for seed in 0 1; do
  run nobuf $seed &
  run buf $seed --buffer-k 2 &
  wait
done
python eval.py --task vi --families easy --n 240 --no-baselines --model /tmp/ttrl/nobuf-s0 /tmp/ttrl/buf-s0 /tmp/ttrl/nobuf-s1 /tmp/ttrl/buf-s1 \
  --out-dir /tmp/ttrl/eval > /tmp/ttrl/eval.log 2>&1
echo done > /tmp/ttrl/DONE
