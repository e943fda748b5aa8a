"""Where a rollout's decode time goes: the HF forward vs decode.py's engine (eager or CUDA graph; two attention
implementations; attention over the whole static cache or the filled buckets; torch.compile'd layers or not;
sampling after the step or inside it), per decode step at a fixed batch, against the memory-bandwidth bounds.

Per configuration it times, after warm-up: `forward ms` one decode step of the model alone (HF: forward with a
DynamicCache; engine: DecodeEngine.step; rows "sampling in graph": the step with the sampling inside it,
DecodeEngine.sample_in_step at T = 1), `sample ms` rollout.sample_tokens on that step's logits (T = 1; "in step"
where the step samples), `loop ms` a whole rollout.generate call of --new-tokens tokens divided by the token count
(mean of --loop-reps calls; prefill, per-row Python bookkeeping, the host syncs and the engine's graph captures
included; a fresh engine per call, as grpo.py takes one per step), and `captures ms` the host time of the last
call's graph warm-ups and captures. tok/s = batch / loop ms. Bounds: batch x HBM bandwidth / bytes read per step,
with the weights alone (every parameter once, a tied embedding once) and with the weights plus the K/V cache at
the run's mean context (prompt + half the new tokens).

    python bench/decode_bench.py                                   # GPU: Qwen3-0.6B shape, batch 64
    python bench/decode_bench.py --model tiny --device cpu --new-tokens 16 --batch 8     # CPU smoke
    python bench/decode_bench.py --profile         # also: the top kernels of 5 engine steps, eager and compiled
    python bench/decode_bench.py --only "compiled"  # only the rows whose name holds this ("a|b": either)
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.grpo_vs_trl import BANDWIDTH, build, kv_bytes, make_prompts, weight_bytes  # noqa: E402
from decode import DecodeEngine  # noqa: E402
from rollout import generate, sample_tokens  # noqa: E402


def timed(fn, n, device):
    """Mean seconds of fn() over n calls (one sync at the end: calls queue on the GPU as they would in a loop)."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen3-0.6b", help="qwen3-0.6b (random init) or tiny")
    ap.add_argument("--batch", type=int, default=64, help="rows decoded together (batch / --group distinct prompts)")
    ap.add_argument("--group", type=int, default=8, help="rows per distinct prompt (GRPO's G)")
    ap.add_argument("--prompt-len", type=int, default=128, help="tokens per prompt")
    ap.add_argument("--new-tokens", type=int, default=256, help="tokens generated per row in the loop timing")
    ap.add_argument("--steps", type=int, default=50, help="timed calls per forward/sample measurement")
    ap.add_argument("--loop-reps", type=int, default=1, help="timed generate calls per loop measurement (mean)")
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    ap.add_argument("--profile", action="store_true", help="print the top kernels of 5 engine steps (eager, compiled)")
    ap.add_argument("--no-compile", action="store_true", help="leave out the torch.compile configurations")
    ap.add_argument("--only", default="", help="run only the rows whose name contains this text ('a|b': a or b)")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, tok = build(args.model, device, dtype, 0)
    model.eval()
    _, prompts = make_prompts(tok, args.batch // args.group, args.prompt_len, 0)
    prompts = [p for p in prompts for _ in range(args.group)]
    B, L = len(prompts), args.prompt_len
    ids = torch.tensor(prompts, device=device)
    attention = torch.ones_like(ids)
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    bandwidth = next((bw for key, bw in BANDWIDTH.items() if key in gpu), None)
    mean_context = L + args.new_tokens / 2
    limit = B * bandwidth / weight_bytes(model) if bandwidth else float("nan")
    limit_kv = B * bandwidth / (weight_bytes(model) + B * kv_bytes(model) * mean_context) if bandwidth else float("nan")
    print(f"{gpu} | {args.model} {dtype} | batch {B} ({B // args.group} prompts x {args.group}) | prompt {L} | "
          f"{args.new_tokens} new tokens | bounds: weights only {limit:,.0f} tok/s, weights + KV {limit_kv:,.0f} tok/s")

    logits = torch.randn(B, len(tok), device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    sample_s = timed(lambda: sample_tokens(logits, 1.0, 1.0, gen), args.steps, device)
    rows = []
    graph = device.type == "cuda"
    after = dict(graph_sampling=False)  # rollout.sample_tokens after the step, as before the engine sampled in it
    configs = [("hf", None),
               ("engine eager, sdpa, whole cache", dict(cuda_graph=False, attention="sdpa", bucket=0, **after)),
               ("engine graph, sdpa, whole cache", dict(cuda_graph=graph, attention="sdpa", bucket=0, **after)),
               ("engine graph, manual, whole cache", dict(cuda_graph=graph, attention="manual", bucket=0, **after)),
               ("engine graph, sdpa, buckets of 64", dict(cuda_graph=graph, attention="sdpa", bucket=64, **after)),
               ("engine graph, manual, buckets of 64", dict(cuda_graph=graph, attention="manual", bucket=64, **after)),
               ("engine graph, sdpa, whole cache, sampling in graph", dict(cuda_graph=graph, attention="sdpa", bucket=0))]
    if not args.no_compile:
        configs += [("engine graph, sdpa, whole cache, compiled", dict(cuda_graph=graph, attention="sdpa", bucket=0, compile=True, **after)),
                    ("engine graph, sdpa, buckets of 64, compiled", dict(cuda_graph=graph, attention="sdpa", compile=True, **after)),
                    ("engine graph, manual, buckets of 64, compiled", dict(cuda_graph=graph, attention="manual", compile=True, **after)),
                    ("engine graph, sdpa, whole cache, compiled, sampling in graph", dict(cuda_graph=graph, attention="sdpa", bucket=0, compile=True)),
                    ("engine graph, sdpa, buckets of 64, compiled, sampling in graph", dict(cuda_graph=graph, attention="sdpa", compile=True)),
                    ("engine graph, sdpa, whole cache, compiled, sampling in graph, K/V writes in the compiled layer",
                     dict(cuda_graph=graph, attention="sdpa", bucket=0, compile=True, fuse_kv_writes=True)),
                    ("engine graph, sdpa, buckets of 64, compiled, sampling in graph, K/V writes in the compiled layer",
                     dict(cuda_graph=graph, attention="sdpa", compile=True, fuse_kv_writes=True))]
    if args.only:
        configs = [(name, kw) for name, kw in configs if any(part in name for part in args.only.split("|"))]
    stop_ids = torch.tensor([-1], device=device)  # no token's id: every row samples all its tokens
    profiled = [] if not (args.profile and device.type == "cuda") else \
        [(False, False, False)] if args.no_compile else [(False, False, False), (True, False, False), (True, True, False),
                                                          (True, True, True)]
    for compiled, sampling, fused in profiled:
        engine = DecodeEngine(model, dtype=dtype, cuda_graph=False, compile=compiled, fuse_kv_writes=fused)
        if sampling:
            engine.sample_in_step(1.0, 1.0, gen, stop_ids)
        engine.prefill(ids, attention, capacity=L + args.new_tokens)
        step_tokens = ids[:, -1].clone()
        engine.step(step_tokens)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                engine.step(step_tokens)
            torch.cuda.synchronize()
        busy = sum(e.self_device_time_total for e in prof.key_averages()) / 5 / 1e3
        print(f"5 engine steps without a graph, {'compiled' if compiled else 'eager'}"
              f"{', sampling in the step' if sampling else ''}{', K/V writes in the compiled layer' if fused else ''}: "
              f"kernels busy {busy:.2f} ms per step")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=70))
    for name, engine_kw in configs:
        with torch.no_grad():
            if engine_kw is None:
                out = model(input_ids=ids, attention_mask=attention, use_cache=True)
                cache, step_ids = out.past_key_values, ids[:, -1:]
                mask, pos = attention.clone(), torch.full((B, 1), L, device=device)

                def forward():  # decode steps on a growing DynamicCache, as rollout.generate's hf path runs them
                    nonlocal mask, pos
                    mask = torch.cat([mask, torch.ones(B, 1, dtype=mask.dtype, device=device)], 1)
                    model(input_ids=step_ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
                    pos = pos + 1
            else:
                engine = DecodeEngine(model, dtype=dtype, **engine_kw)
                samples = engine.sample_in_step(1.0, 1.0, gen, stop_ids)
                engine.prefill(ids, attention, capacity=L + args.new_tokens + args.steps + 2)
                step_tokens = ids[:, -1].clone()
                forward = lambda: engine.step(step_tokens)
            forward_s = timed(forward, args.steps, device)
        del forward
        engines = []  # a fresh engine per rollout, as grpo.py takes one per step

        def make():
            engines.append(None if engine_kw is None else DecodeEngine(model, dtype=dtype, **engine_kw))
            return engines[-1]
        gen_kw = dict(max_new_tokens=args.new_tokens, stop_ids={-1}, pad_id=tok.pad_token_id, temperature=1.0,
                      generator=torch.Generator(device=device).manual_seed(1))
        loop_s = timed(lambda: generate(model, prompts, engine=make(), **gen_kw), args.loop_reps, device) / args.new_tokens
        capture_s = engines[-1].capture_seconds if engines[-1] is not None else 0.0
        rows.append((name, forward_s, None if engine_kw is not None and samples else sample_s, loop_s, capture_s))
        print(f"{name}: forward {forward_s * 1e3:.2f} ms, loop {loop_s * 1e3:.2f} ms/token, graph captures "
              f"{capture_s * 1e3:.0f} ms per rollout", flush=True)

    print(f"\n### Decode step, {args.model}, {gpu}, batch {B}, prompt {L} + {args.new_tokens} new tokens\n")
    print("| decoder | forward ms | sample ms | loop ms/token | captures ms/rollout | tok/s | % of weights-only bound "
          "| % of weights+KV bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, f, s, l, c in rows:
        tps = B / l
        print(f"| {name} | {f * 1e3:.2f} | {'in step' if s is None else f'{s * 1e3:.2f}'} | {l * 1e3:.2f} | {c * 1e3:.0f} | {tps:,.0f} | "
              f"{100 * tps / limit:.1f} | {100 * tps / limit_kv:.1f} |")


if __name__ == "__main__":
    main()
