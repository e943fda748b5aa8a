"""Session 11, call 1 (issue 9): sampling inside the decode step's CUDA graph, checked on the GPU.
1) torch's version and CUDAGraph.register_generator_state; a graph drawing from a registered custom generator gives
   new draws on each replay, the same ones for the same seed.
2) decode._sample (compiled: Triton) replayed in a CUDA graph on fixed 8-token logits: 50 replays x 4,096 rows, the
   token counts against softmax(logits / 0.7) (chi-square, 7 degrees of freedom; p = 1e-6 at 40.5; noise repeated
   across replays would give ~50x a single draw's).
3) the tiny model through rollout.generate on CUDA (fp32, graphs, compiled or not): greedy in-step == after-step
   tokens; T = 0.7 with a CUDA generator: a seed repeats its tokens, the log-probs equal the HF forward's
   log_softmax(logits / T) at those tokens.
4) the Qwen3-0.6B shape (random init, bf16, batch 64, 64 new tokens, compiled): greedy in-step vs after-step,
   rows identical and the largest |log-prob difference| before a row's first disagreement.
Calls 1-2 ran it with decode._sample(h, norm, head, eps, ...) (final norm and LM head inside); call 3 with
decode._sample(logits, ...), the norm and head eager outside.
"""
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
import decode  # noqa: E402
import sft  # noqa: E402
from bench.grpo_vs_trl import build, make_prompts  # noqa: E402
from rollout import generate  # noqa: E402

print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
print("CUDAGraph.register_generator_state:", hasattr(torch.cuda.CUDAGraph, "register_generator_state"))


def graphed(fn, generator):
    """fn() captured in a CUDA graph with `generator` registered; returns (graph, outputs)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    graph.register_generator_state(generator)
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


# 1)
def replays(seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    graph, out = graphed(lambda: torch.rand(4, device="cuda", generator=g), g)
    rows = []
    for _ in range(3):
        graph.replay()
        rows.append(out.clone())
    return torch.stack(rows)
a, b, c = replays(0), replays(0), replays(1)
print("1) replays differ:", not torch.equal(a[0], a[1]) and not torch.equal(a[1], a[2]),
      "| same seed same draws:", torch.equal(a, b), "| other seed other draws:", not torch.equal(a, c))

# 2)
logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0, 1.5], device="cuda")
n, T, V, reps = 4096, 0.7, 8, 50
g = torch.Generator(device="cuda").manual_seed(0)
temp, stop = torch.tensor(T, device="cuda"), torch.tensor([6], device="cuda")
sample = decode._compiled(decode._sample)
graph, (tokens, lps, stopped) = graphed(lambda: sample(logits.expand(n, V), temp,
                                                       torch.rand(n, V, device="cuda", generator=g), stop), g)
counts = torch.zeros(V, device="cuda")
lp_err = 0.0
for _ in range(reps):
    graph.replay()
    counts += torch.bincount(tokens, minlength=V)
    lp_err = max(lp_err, (lps - torch.log_softmax(logits / T, -1)[tokens]).abs().max().item())
expected = torch.softmax(logits / T, -1) * n * reps
chi2 = ((counts - expected) ** 2 / expected).sum().item()
print(f"2) compiled _sample in a graph, {n * reps} draws: chi-square {chi2:.1f} (< 40.5: {chi2 < 40.5}), "
      f"max |log-prob - log_softmax(logits/T)| {lp_err:.2e}, stop flags right: {torch.equal(stopped, tokens == 6)}")

# 3)
tok = sft.build_char_tokenizer(["<BOS>", "</command>"])
torch.manual_seed(9)
model = sft.build_tiny_model(tok, "tiny").cuda().eval()
prompts = [tok.encode(t, add_special_tokens=False) for t in ["<BOS>a\n"] * 4 + ["<BOS>copy bb\n"] * 4]
kw = dict(max_new_tokens=24, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id)
for compile in (False, True):
    after = generate(model, prompts, temperature=0.0, engine=decode.DecodeEngine(model, compile=compile, graph_sampling=False), **kw)
    inside = generate(model, prompts, temperature=0.0, engine=decode.DecodeEngine(model, compile=compile), **kw)
    same = all(x[0] == y[0] for x, y in zip(after, inside))
    dlp = max(abs(p - q) for x, y in zip(after, inside) for p, q in zip(x[2], y[2]))
    run = lambda seed: generate(model, prompts, temperature=0.7, generator=torch.Generator(device="cuda").manual_seed(seed),
                                engine=decode.DecodeEngine(model, compile=compile), **kw)
    first, again, other = run(3), run(3), run(4)
    err = 0.0
    for prompt, (ids, _, lp, _) in zip(prompts, first):
        with torch.no_grad():
            ref = torch.log_softmax(model(input_ids=torch.tensor([prompt + ids], device="cuda")).logits[0, len(prompt) - 1:-1] / 0.7, -1)
        err = max(err, (torch.tensor(lp, device="cuda") - ref.gather(-1, torch.tensor(ids, device="cuda")[:, None])[:, 0]).abs().max().item())
    print(f"3) tiny, compile={compile}: greedy same tokens {same}, max dlogp {dlp:.1e} | T=0.7: seed repeats {first == again}, "
          f"other seed differs {[r[0] for r in first] != [r[0] for r in other]}, distinct rows {len({tuple(r[0]) for r in first})}/8, "
          f"max |log-prob - HF log_softmax(logits/T)| {err:.1e}")

# 4)
model, tok = build("qwen3-0.6b", torch.device("cuda"), torch.bfloat16, 0)
model.eval()
_, prompts = make_prompts(tok, 8, 128, 0)
prompts = [p for p in prompts for _ in range(8)]
kw = dict(max_new_tokens=64, stop_ids={-1}, pad_id=tok.pad_token_id, temperature=0.0)
after = generate(model, prompts, engine=decode.DecodeEngine(model, compile=True, graph_sampling=False), **kw)
inside = generate(model, prompts, engine=decode.DecodeEngine(model, compile=True), **kw)
same, worst = 0, 0.0
for (ids_a, _, lp_a, _), (ids_b, _, lp_b, _) in zip(after, inside):
    same += ids_a == ids_b
    k = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y), len(ids_a))
    worst = max([worst] + [abs(x - y) for x, y in zip(lp_a[:k + 1], lp_b[:k + 1])])
print(f"4) qwen3-0.6b shape, bf16, compiled, greedy 64 tokens x 64 rows: rows identical {same}/64, "
      f"max |dlogp| up to the first disagreement {worst:.2e}")
