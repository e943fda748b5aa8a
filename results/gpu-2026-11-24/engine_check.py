"""Call G's first minute: the static engine (CUDA graphs) against the HF forward on the vi SFT checkpoint, greedy
episodes on 64 test examples. Prints agreement and times; exit 1 (callers fall back to --engine hf) if < 95%."""
import sys
import time

import torch

from rollout import draw_examples, get_task, load_policy, run_episodes

task = get_task("vi")
model, tok = load_policy("runs/sft-vi", dtype=torch.bfloat16, device="cuda")
examples = draw_examples(task, "test", 64, 0, "all")
out = {}
for engine in ("hf", "static", "hf", "static"):
    torch.cuda.synchronize()
    t = time.time()
    out[engine] = run_episodes(model, tok, task, examples, temperature=0.0, engine=engine)
    torch.cuda.synchronize()
    print(f"{engine}: {time.time() - t:.2f} s for 64 greedy episodes")
same = sum(a.texts == b.texts for a, b in zip(out["hf"], out["static"])) / len(examples)
succ = {e: sum(r.components["success"] for r in rs) / len(rs) for e, rs in out.items()}
print(f"identical episodes: {same:.1%} | success hf {succ['hf']:.1%} static {succ['static']:.1%}")
sys.exit(0 if same >= 0.95 else 1)
