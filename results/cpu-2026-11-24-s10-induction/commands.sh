# session 10, this box (AMD EPYC, 2 cores, alone): the control for call 1's induction drill, cpu preset, batch 32,
# 90 s each. Fixed offset (A at 0 and 40): 100% by step 100 (fixed.log). Random offset: 10% at step 500, chance
# 1/26 = 3.8% plus what the letter marginal gives (random.log); on the GPU it left chance at step ~2,000 (call 1).
OMP_NUM_THREADS=2 python results/gpu-2026-11-24-s10/induction.py cpu 32 1e-3 90 fixed > results/cpu-2026-11-24-s10-induction/fixed.log
OMP_NUM_THREADS=2 python results/gpu-2026-11-24-s10/induction.py cpu 32 1e-3 90 > results/cpu-2026-11-24-s10-induction/random.log
