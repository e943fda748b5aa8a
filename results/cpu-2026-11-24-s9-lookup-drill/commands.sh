# session 9, this box (2 cores, alone): the cryptogram lookup alone, no copy, no word prior (make_rows.py), on the
# CPU preset (0.8M params from scratch, context loss 0.25 by default), 12 minutes each.
python results/cpu-2026-11-24-s9-lookup-drill/make_rows.py 20000 0 1 > /tmp/drill.jsonl     # one lookup a row
OMP_NUM_THREADS=2 python sft.py --data /tmp/drill.jsonl --model-size cpu --batch-size 32 --lr 1e-3 --steps 100000 --time-budget 12 --eval-every 250 --out-dir /tmp/drill
python results/cpu-2026-11-24-s9-lookup-drill/make_rows.py 20000 0 10 > /tmp/drill10.jsonl  # ten lookups a row
OMP_NUM_THREADS=2 python sft.py --data /tmp/drill10.jsonl --model-size cpu --batch-size 32 --lr 1e-3 --steps 100000 --time-budget 12 --eval-every 250 --out-dir /tmp/drill10
OMP_NUM_THREADS=2 python sft.py --data /tmp/drill10.jsonl --model-size cpu --batch-size 32 --lr 1e-3 --steps 100000 --time-budget 12 --eval-every 250 --context-loss-weight 0 --out-dir /tmp/drill10nc
# Q = 1: 2,427 steps, val loss 1.644 at step 250 and 1.645 at the end (chance: ln 26 / 2 = 1.63, the letter and eos)
# Q = 10: 1,309 steps, val loss 2.173 at step 250, 2.155 at step 1,250 (chance ~2.17; the lookup learned: ~1.1)
# Q = 10 without the context loss: 2,245 steps, val loss 2.175 at step 250, 2.168 at the end
# on one H100 (device tool, session 9, the last 4 minutes of its budget), the small preset (25M):
#   python results/cpu-2026-11-24-s9-lookup-drill/make_rows.py 40000 0 10 > /tmp/d10.jsonl
#   python sft.py --data /tmp/d10.jsonl --model-size small --batch-size 128 --lr 1e-3 --steps 100000 --time-budget 4.5 --eval-every 250 --out-dir /tmp/dr
# 4,228 steps (0.059 s/step): val loss 2.165 at step 250, 2.091 at 2,500, 2.138 at the end (drill_gpu.log, q10-gpu-metrics.jsonl);
# ruling out the coded letters already asked alone gives 2.11
