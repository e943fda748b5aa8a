#!/bin/bash
# VLM call (session 4, issue 8): the tiny Qwen2.5-VL (`--model-size small`, ~35M, built from scratch) on the three
# image tasks, all started together so every --time-budget measures its step rate under the load it trains under:
#   digits:     SFT (vision warm-up first) -> GRPO -> eval (SFT vs GRPO)
#   cryptogram: SFT (vision warm-up first) -> GRPO -> eval
#   pixel:      SFT (vision warm-up first) -> GRPO with --curiosity-bonus 0.5 and GRPO without, side by side ->
#               eval of all three (success, and the tool-use rate: reward components used_tool / tool_calls)
# Budget (one H100 + 16 cores, <= 9.5 min wall): SFT 3.6 min (warm-up included; it stops at half of that) + GRPO
# 1.5 min + eval, ~1 min of data preparation and loading in between. The image processor runs on the CPU, so the
# warm-up steps are sized to it (digits images are small) and each process gets 3 threads. Every eval is cut at
# DEADLINE = 530 s so the summary is always written.
# Writes to $OUT (2 files): small.tgz (eval results.json + every metrics.jsonl), logs.txt (summary + log tails).
# CPU check of every command line (tiny model, a few steps, run from the repo root):
#   SERIAL=1 DEADLINE=99999 SIZE=tiny SFT_MIN=0.3 GRPO_MIN=0.1 NEX=24 BS=4 PROMPTS=2 N=4 OUT=/tmp/vlm_out \
#     bash results/gpu-2026-11-24-s4/vlm_call.sh        (SERIAL: one process at a time, for a shared 2-core box)
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
SIZE=${SIZE:-small}; SFT_MIN=${SFT_MIN:-3.6}; GRPO_MIN=${GRPO_MIN:-1.5}; BS=${BS:-32}; PROMPTS=${PROMPTS:-16}
N=${N:-200}; NEX=${NEX:-}; DEADLINE=${DEADLINE:-530}   # NEX: SFT examples for every task (the CPU check)
nvidia-smi -L 2>/dev/null
T0=$(date +%s); mkdir -p logs
stamp() { echo "$1 done $(( $(date +%s)-T0 ))s" >> logs/$2.log; }
left() { local s=$(( DEADLINE - ($(date +%s)-T0) )); echo $(( s > 1 ? s : 1 )); }
sft() {  # task, train examples, warm-up steps
  python sft.py --task $1 --model-size $SIZE --num-examples ${NEX:-$2} --batch-size $BS --lr 1e-3 --steps 100000 \
    --time-budget $SFT_MIN --vision-warmup-steps $3 --eval-every 200 --out-dir runs/sft-$1 > logs/sft_$1.log 2>&1
  stamp "sft $1" sft_$1
}
grpo() {  # task, out name, extra flags
  python grpo.py --task $1 --model runs/sft-$1 --steps 1000 --time-budget $GRPO_MIN --lr 1e-4 \
    --prompts-per-step $PROMPTS --num-generations 8 --eval-every 0 --out-dir runs/$2 "${@:3}" > logs/$2.log 2>&1
  stamp "$2" $2
}
evaluate() {  # task, n, checkpoints...
  timeout $(left) python eval.py --task $1 --model "${@:3}" --n $2 --no-baselines --out-dir runs/eval-$1 \
    > logs/eval_$1.log 2>&1
  stamp "eval $1 (rc $?)" eval_$1
}
digits() { sft digits 4000 1000; grpo digits grpo-digits; evaluate digits $N runs/sft-digits runs/grpo-digits; }
cryptogram() { sft cryptogram 3000 300; grpo cryptogram grpo-cryptogram
  evaluate cryptogram $N runs/sft-cryptogram runs/grpo-cryptogram; }
pixel() { sft pixel 1500 300
  grpo pixel grpo-pixel-curiosity --curiosity-bonus 0.5 --curiosity-target 0.3 & [ -n "$SERIAL" ] && wait
  grpo pixel grpo-pixel; wait
  evaluate pixel $(( N * 3 / 4 )) runs/sft-pixel runs/grpo-pixel runs/grpo-pixel-curiosity; }
if [ -n "$SERIAL" ]; then digits; cryptogram; pixel; else digits & cryptogram & pixel & wait; fi

mkdir -p small; for d in runs/eval-*; do cp $d/results.json small/$(basename $d).json; done
for d in runs/sft-* runs/grpo-*; do cp $d/metrics.jsonl small/$(basename $d).jsonl; done
tar czf $OUT/small.tgz small
python - > $OUT/logs.txt <<'PY'
import glob, json
print("== summary (greedy test success; components: mean over the greedy episodes, pixel's used_tool = tool-use rate)")
for path in sorted(glob.glob("runs/sft-*/metrics.jsonl")):
    rows = [json.loads(l) for l in open(path)]
    warm = [r for r in rows if "warmup_step" in r][-20:]
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    print(f"{path.split('/')[1]:<22} warm-up {len(warm) and warm[-1]['warmup_step']} steps, last 20: token acc "
          f"{sum(r['warmup_acc'] for r in warm) / max(len(warm), 1):.3f}, on objects "
          f"{sum(r['warmup_acc_fg'] for r in warm) / max(len(warm), 1):.3f} | SFT {sum('loss' in r for r in rows)} "
          f"steps, val loss {val[-1] if val else float('nan'):.4f}")
for path in sorted(glob.glob("runs/grpo-*/metrics.jsonl")):
    rows = [json.loads(l) for l in open(path)]
    if rows:
        print(f"{path.split('/')[1]:<22} {len(rows)} steps | " + " | ".join(
            f"{k} {rows[0][k]:.3f} -> {rows[-1][k]:.3f}" for k in ("reward", "success", "reward/used_tool",
                                                                 "reward/curiosity") if k in rows[-1]))
for path in sorted(glob.glob("runs/eval-*/results.json")):
    result = json.load(open(path))
    for model, row in result["rows"].items():
        print(f"{path.split('/')[1]:<16} {model:<28} success {row['all']['success']:.3f} (n {row['all']['n']}) | "
              + " ".join(f"{k} {v:.3f}" for k, v in sorted(result["components"].get(model, {}).items())))
PY
for f in logs/*.log; do echo "=== $f"; grep -v "^step " $f | tail -25 | cut -c1-260; grep "^step" $f | awk 'NR%8==1' | cut -c1-220; done >> $OUT/logs.txt
ls -la $OUT; tail -c 9000 $OUT/logs.txt; echo total $(( $(date +%s)-T0 ))s
