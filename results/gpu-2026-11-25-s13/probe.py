"""Sampled episodes of a pixel checkpoint, split by whether the model called a tool: per family, the tool-use rate,
success when it called one and success when it answered at once (what GRPO's groups see at temperature 1).
Usage (repo root): PYTHONPATH=. python results/gpu-2026-11-25-s13/probe.py CHECKPOINT N_SCENES [FAMILIES] [G] [TASK]"""
import json, sys, collections, torch
from rollout import load_policy, run_episodes, draw_examples, get_task
import vlm
path = sys.argv[1]
model, tok = load_policy(path, device="cuda" if torch.cuda.is_available() else "cpu")
proc = vlm.load_image_processor(path, model)
task = get_task(sys.argv[5] if len(sys.argv) > 5 else "pixel")
ex = draw_examples(task, "test", int(sys.argv[2]), 0, sys.argv[3] if len(sys.argv) > 3 else "all")
torch.manual_seed(0)
res = run_episodes(model, tok, task, ex, num_generations=int(sys.argv[4]) if len(sys.argv) > 4 else 8, temperature=1.0, image_processor=proc)
stat = collections.defaultdict(lambda: [0, 0, 0, 0])
for r in res:
    f = r.example["family"]; used = r.components["used_tool"] > 0
    s = stat[f]; s[0] += 1; s[1] += used; s[2] += used and r.components["success"] > 0; s[3] += (not used) and r.components["success"] > 0
for f, (n, u, us, ds) in stat.items():
    print(f"{f:13s} n {n} tool-use {u/n:.3f} success|tool {us/max(u,1):.3f} success|direct {ds/max(n-u,1):.3f}")
for r in [r for r in res if r.components["used_tool"] > 0][:6]:   # a few tool-using episodes, as written
    print(r.example["question"], "->", r.example["answer"], "|", " || ".join(r.texts)[:300].replace("<|image_pad|>", ""))
