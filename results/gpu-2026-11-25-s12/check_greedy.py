"""Session 12 (issue 9), for a GPU call not yet made: why greedy rows of the in-graph and after-step samplers part
in bf16 on the Qwen3-0.6B shape (44/64 identical, call G). Three rollouts of the same prompts, each with its own
engine: after-step, after-step again, in-graph; compiled (as grpo.py --compile-decode) and not. If after vs after
again also part, the difference is run to run (compilation, CUDA graph capture), not the sampler's. The log-prob
gap is split into before a row's first differing token and at it (check_sampling.py's check 4 mixed the two).
On CPU in bf16 without compile (`python results/gpu-2026-11-25-s12/check_greedy.py cpu`, this box, 2 prompts x 8,
32 new tokens): after = after again = in-graph, 16/16 rows, log-prob gap 0.
Usage: python results/gpu-2026-11-25-s12/check_greedy.py [cuda|cpu]"""
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
import decode  # noqa: E402
from bench.grpo_vs_trl import build, make_prompts  # noqa: E402
from rollout import generate  # noqa: E402

device = torch.device(sys.argv[1] if len(sys.argv) > 1 else "cuda")
on_gpu = device.type == "cuda"
model, tok = build("qwen3-0.6b", device, torch.bfloat16, 0)
model.eval()
_, prompts = make_prompts(tok, 8 if on_gpu else 2, 128, 0)
prompts = [p for p in prompts for _ in range(8)]
kw = dict(max_new_tokens=64 if on_gpu else 32, stop_ids={-1}, pad_id=tok.pad_token_id, temperature=0.0)


def compare(a, b):
    same, before, at = 0, 0.0, 0.0
    for (ids_a, _, lp_a, _), (ids_b, _, lp_b, _) in zip(a, b):
        same += ids_a == ids_b
        k = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y), len(ids_a))
        before = max([before] + [abs(x - y) for x, y in zip(lp_a[:k], lp_b[:k])])
        at = max(at, abs(lp_a[k] - lp_b[k]) if k < len(ids_a) else 0.0)
    return f"rows identical {same}/{len(a)}, max |dlogp| before the first difference {before:.2e}, at it {at:.2e}"


for compile in ((False, True) if on_gpu else (False,)):
    engine = lambda sampling: decode.DecodeEngine(model, compile=compile, graph_sampling=sampling, cuda_graph=on_gpu)
    after, again, inside = (generate(model, prompts, engine=engine(s), **kw) for s in (False, False, True))
    print(f"compile={compile}: after vs after again: {compare(after, again)}")
    print(f"compile={compile}: after vs in-graph:    {compare(after, inside)}")
