"""Call I (session 6, issue 9): which allocations of a CUDA-graph rollout outlive the decode engine (call H: +0.19
GiB per rollout after del + gc), and which release frees them. Qwen3-0.6B shape, LoRA r16 all-linear, bf16,
64 rows x (128 + 256) tokens, as bench/grpo_vs_trl.py. `--variant`:
  base      as grpo.py does it (del the engine)
  reset     also CUDAGraph.reset() on each graph and drop the output buffers before del
  ownpool   each graph captured into its own private pool (no shared graph_pool_handle)
`--snapshot`: the allocator's live blocks after del + gc, with the Python frames that allocated them."""
import argparse
import gc
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]
from peft import LoraConfig, get_peft_model  # noqa: E402
from grpo_vs_trl import build, make_prompts  # noqa: E402
import decode  # noqa: E402
from rollout import generate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--variant", default="base", choices=["base", "reset", "ownpool"])
ap.add_argument("--snapshot", action="store_true")
args = ap.parse_args()
if args.variant == "ownpool":
    torch.cuda.graph_pool_handle = lambda: None
gib = lambda: torch.cuda.memory_allocated() / 2**30  # noqa: E731
device, dtype = torch.device("cuda"), torch.bfloat16
model, tok = build("qwen3-0.6b", device, dtype, 0)
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
_, prompt_ids = make_prompts(tok, 8, 128, 0)
prompts = [p for p in prompt_ids for _ in range(8)]
model.eval()
print(f"torch {torch.__version__} | variant {args.variant} | model: {gib():.3f}")
if args.snapshot:
    torch.cuda.memory._record_memory_history(max_entries=200000)
for trial in range(3):
    engine = decode.DecodeEngine(model, dtype=dtype, cuda_graph=True, compile=False)
    g = torch.Generator(device=device).manual_seed(trial)
    outs = generate(model, prompts, max_new_tokens=256, stop_ids={-1}, pad_id=tok.pad_token_id, temperature=1.0,
                    generator=g, engine=engine)
    torch.cuda.synchronize()
    after_generate = gib()
    if args.variant == "reset":
        for graph, _ in engine.graphs.values():
            graph.reset()
        engine.graphs = {}
    del engine, outs
    gc.collect()
    torch.cuda.synchronize()
    print(f"[{trial}] after generate {after_generate:.3f} | after del + gc {gib():.3f} | reserved "
          f"{torch.cuda.memory_reserved() / 2**30:.3f}", flush=True)
if args.snapshot:
    snap = torch.cuda.memory._snapshot()
    live = []
    for seg in snap["segments"]:
        for block in seg["blocks"]:
            if block["state"] == "active_allocated":
                frames = [f"{os.path.basename(f['filename'])}:{f['line']} {f['name']}" for f in block.get("frames", [])
                          if f["filename"].endswith(".py")][:6]
                live.append((block["size"], str(seg.get("segment_pool_id")), frames))
    by_site = {}
    for size, pool, frames in live:
        key = (pool, " < ".join(frames))
        n, total = by_site.get(key, (0, 0))
        by_site[key] = (n + 1, total + size)
    print(f"live blocks: {len(live)}, {sum(s for s, _, _ in live) / 2**30:.3f} GiB")
    for (pool, site), (n, total) in sorted(by_site.items(), key=lambda kv: -kv[1][1])[:25]:
        print(f"{total / 2**20:9.1f} MiB  {n:4d} blocks  pool {pool}  {site}")
