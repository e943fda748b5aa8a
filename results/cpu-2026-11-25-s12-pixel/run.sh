#!/bin/bash
# Session 12, this box (2 cores, one thread per arm, the two arms side by side; from the repo root): pixel-text's
# color_at family on CPU, cpu preset (1.9M), 900 SFT steps of 16, without and with the induction drill (letters and
# digits, 2,500 steps), then the greedy eval on 100 test scenes. Both 100% (val loss 0.0000 at step 900); plain took
# ~17 min, with the drill ~24 min. A helper's 250-step runs had given 13.3% and 23.3%: too few steps, not a missing head.
# Logs without the step lines, metrics and eval JSONs are beside this file.
mkdir -p results/cpu-2026-11-25-s12-pixel/runs
arm() {  # name, extra flags
  OMP_NUM_THREADS=1 TQDM_DISABLE=1 python sft.py --task pixel-text --model-size cpu --families color_at \
    --num-examples 4000 --steps 900 --batch-size 16 --eval-every 300 --out-dir results/cpu-2026-11-25-s12-pixel/runs/$1 "${@:2}" > results/cpu-2026-11-25-s12-pixel/runs/$1.log 2>&1
  OMP_NUM_THREADS=1 TQDM_DISABLE=1 python eval.py --task pixel-text --families color_at --model results/cpu-2026-11-25-s12-pixel/runs/$1 \
    --n 100 --no-baselines --out-dir results/cpu-2026-11-25-s12-pixel/runs/eval-$1 >> results/cpu-2026-11-25-s12-pixel/runs/$1.log 2>&1
  echo "$1 done $(date -u)" >> results/cpu-2026-11-25-s12-pixel/runs/$1.log
}
arm plain & arm induction --induction-warmup-steps 2500 & wait
