"""Call M (session 6, issue 9): what is allocated at each side's peak? With LoRA, ours peaks at 13.20 GiB and TRL
at 13.17 (call L): the allocator's trace of one side's whole run (bench/grpo_vs_trl.py's run_ours / run_trl,
Qwen3-0.6B shape, LoRA r16, 1 warm-up + 1 step, from a clean allocator) is replayed to the moment of the most
memory allocated, and the blocks live then are summed by the code that allocated them (the first frames outside
torch/). Usage: python diag_peak.py ours|trl"""
import os
import sys
from collections import defaultdict

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]
import grpo_vs_trl as bench  # noqa: E402

side = sys.argv[1]
args = bench.Args(model="qwen3-0.6b", lora=True, steps=1, warmup=1)
device, dtype = torch.device("cuda"), torch.bfloat16
torch.cuda.memory._record_memory_history(max_entries=3_000_000, stacks="python")
(bench.run_ours if side == "ours" else bench.run_trl)("qwen3-0.6b", True, args, device, dtype)
peak_reported = torch.cuda.max_memory_allocated() / 2**30
trace = torch.cuda.memory._snapshot()["device_traces"][0]
torch.cuda.memory._record_memory_history(enabled=None)


def site(frames):
    outside = [f for f in frames if "/torch/" not in f["filename"] and f["filename"].endswith(".py")]
    return " < ".join(f"{os.path.basename(f['filename'])}:{f['line']} {f['name']}" for f in (outside or frames)[:3])


def replay(stop=None):
    live, total, best, best_i = {}, 0, 0, -1
    for i, ev in enumerate(trace if stop is None else trace[:stop + 1]):
        if ev["action"] == "alloc":
            live[ev["addr"]] = ev
            total += ev["size"]
        elif ev["action"] == "free_completed" and ev["addr"] in live:
            total -= live.pop(ev["addr"])["size"]
        if total > best:
            best, best_i = total, i
    return live, best, best_i


_, best, best_i = replay()
live, _, _ = replay(best_i)
print(f"{side}: {len(trace)} events (first: {trace[0]['action']}) | peak by replay {best / 2**30:.3f} GiB at event "
      f"{best_i} | max_memory_allocated {peak_reported:.3f} GiB")
print(f"the event at the peak: {site(trace[best_i].get('frames', []))}")
by_site = defaultdict(lambda: [0, 0])
for ev in live.values():
    by_site[site(ev.get("frames", []))][0] += ev["size"]
    by_site[site(ev.get("frames", []))][1] += 1
for where, (size, n) in sorted(by_site.items(), key=lambda kv: -kv[1][0])[:30]:
    print(f"{size / 2**20:9.1f} MiB {n:5d} blocks  {where}")
