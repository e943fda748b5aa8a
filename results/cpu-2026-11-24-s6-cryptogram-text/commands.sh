# session 6, this box (2 cores, alone), the text-only cryptogram (decoder pairs in the prompt):
OMP_NUM_THREADS=2 python sft.py --task cryptogram-text --model-size cpu --num-examples 4000 --batch-size 16 --lr 1e-3 --steps 100000 --time-budget 8 --eval-every 0 --out-dir /tmp/ct-sft
OMP_NUM_THREADS=2 python eval.py --task cryptogram-text --model /tmp/ct-sft --n 100 --no-baselines --out-dir /tmp/ct-eval
# 517 steps, loss 1.203 at the end; test: 0% success, chars 18.8%, format 100%
