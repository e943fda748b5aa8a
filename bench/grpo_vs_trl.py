"""GRPO throughput of grpo.py's step against TRL 1.16's GRPOTrainer, side by side in one process.

TRL runs as shipped with its default HF `generate` backend; each (model, tuning) configuration runs both sides
one after the other (who goes first alternates), each side with the same model, prompts and batch.

What is held equal on both sides:
1) The model: Qwen3-0.6B's architecture (Qwen3Config, random init, no hub) or sft.py's tiny preset, built from the
   same seed; bf16 weights on CUDA (LoRA adapters fp32 on both sides, PEFT's default), fp32 on CPU.
2) The data: --prompts fixed synthetic prompts of exactly --prompt-len tokens, G = --num-generations samples each,
   exactly --completion-len sampled tokens (TRL: min_new_tokens = max_new_tokens; ours: no stop token).
3) The loss: dapo aggregation, clip 0.2 / 0.28, beta 0, mu 1, group-scaled advantages, one optimizer step per
   batch over micro-batches of --micro-batch, grad clip 1.0, constant lr. Gradient checkpointing is off on
   both sides unless --grad-checkpointing (TRL's own default is on).
4) The reward: a cheap pseudo-random function of the completion ids, the same on both sides. A constant reward
   (--constant-reward) makes every advantage 0: grpo.py then skips every sample (exact for dapo at beta 0)
   while TRL still runs the forward and backward passes, so the training columns would compare nothing.

"Ours" is grpo.py's step for single-turn, fixed-length completions: rollout.generate, grpo.group_advantages,
pack, token_logprobs, clipped_token_loss, aggregate_loss, AdamW (grpo.py's main loop is not a function, so
its lines are reproduced in ours_step below). Columns, per side (means over the timed steps):
  step s          wall time of one GRPO step (generation + rewards + training + optimizer step)
  gen s           time in the generate call (ours: rollout.generate; TRL: _generate_single_turn)
  samples/s       completions per second of step time
  decode tok/s    sampled tokens / gen s (prefill included)
  BW limit tok/s  batch x HBM bandwidth / bytes of weights read per decode step (H100 SXM 3.35 TB/s,
                  H200 4.8 TB/s; every parameter read once, a tied embedding once as the LM head);
                  % of limit = decode tok/s / BW limit tok/s
  limit w/ KV     the same bound counting also the K/V cache a step must read: batch x (prompt + half the
                  completion) tokens on average (the issue's bound leaves it out; at batch 64 it is the larger part)
  train tok/s     (prompt + completion) tokens run through forward + backward / (step time - generate time)
  peak GiB        torch.cuda.max_memory_allocated over the side's whole run (model build included)

Needs `trl` (a bench-only dependency, not in requirements.txt): `pip install trl==1.16.*`; `--sides ours` runs without it.
    python bench/grpo_vs_trl.py --model tiny --device cpu --quick          # CPU smoke, both sides, ~1 min
    python bench/grpo_vs_trl.py --model tiny --device cpu --quick --sides ours --engine static  # ours alone, no trl
    python bench/grpo_vs_trl.py                                            # GPU: tiny + Qwen3-0.6B x LoRA + full
    python bench/grpo_vs_trl.py --model qwen3-0.6b --lora --steps 5 --warmup 2
"""
import argparse
import gc
import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import grpo  # noqa: E402
from decode import DecodeEngine  # noqa: E402
from rollout import Turn, field_docs, generate  # noqa: E402
from sft import build_char_tokenizer, build_tiny_model  # noqa: E402


@dataclass
class Args:
    model: str = "tiny,qwen3-0.6b"
    """comma list of tiny (sft.py's tiny preset, char tokenizer) and qwen3-0.6b (Qwen3-0.6B shape, random init)"""
    lora: bool = False
    """run LoRA fine-tuning (neither --lora nor --full: both)"""
    full: bool = False
    """run full fine-tuning (neither --lora nor --full: both)"""
    steps: int = 3
    """timed GRPO steps per side"""
    warmup: int = 2
    """untimed GRPO steps per side before the timed ones"""
    prompts: int = 8
    """prompts per step (batch = prompts x num_generations)"""
    num_generations: int = 8
    """G: samples per prompt"""
    prompt_len: int = 128
    """tokens per prompt"""
    completion_len: int = 256
    """sampled tokens per completion, exactly (min = max new tokens)"""
    micro_batch: int = 16
    """sequences per forward/backward (TRL: per_device_train_batch_size)"""
    lora_r: int = 16
    """LoRA rank (all-linear targets, alpha 32, no dropout)"""
    lr: float = 1e-5
    """AdamW learning rate, constant, both sides"""
    grad_checkpointing: bool = False
    """gradient checkpointing on both sides"""
    constant_reward: bool = False
    """reward 1.0 for every sample (see the docstring: ours then trains on nothing)"""
    sides: str = "trl,ours"
    """which sides to run (one side alone: only when a call cannot fit both; ratios need both in one session)"""
    device: str = "auto"
    """auto | cuda | cpu"""
    seed: int = 0
    """seeds the prompts, the model init, LoRA init and sampling"""
    engine: str = "static"
    """ours: rollout decoder, static (decode.py: static KV cache, CUDA graphs, prompt prefilled once per group) or
    hf (the model's own forward, as TRL's generate uses it)"""
    cuda_graph: bool = True
    """ours, static engine: replay decode steps as CUDA graphs (--no-cuda-graph: eager)"""
    compile_decode: bool = False
    """ours, static engine: torch.compile the decode step's layers"""
    graph_sampling: bool = True
    """ours, static engine: sample inside the decode step (grpo.py's --graph-sampling; --no-graph-sampling: after it)"""
    logprob_chunk: int = 128
    """ours: positions per LM-head chunk in the log-prob passes (0 = all at once)"""
    quick: bool = False
    """smoke sizes: 2 prompts x 8, 32-token prompts, 16-token completions, 1 warm-up + 2 timed steps"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    docs = field_docs(Args)
    for name, default in vars(Args()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=docs.get(name))
        else:
            parser.add_argument(flag, type=type(default), default=default, help=docs.get(name))
    if parser.parse_known_args()[0].quick:  # smoke sizes as defaults: flags given explicitly still win
        parser.set_defaults(prompts=2, prompt_len=32, completion_len=16, warmup=1, steps=2)
    return Args(**vars(parser.parse_args()))


# Qwen3-0.6B's config.json (hidden 1024, 28 layers, 16/8 heads of 128, MLP 3072, vocab 151,936, tied).
QWEN3_06B = dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                 num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                 rope_theta=1_000_000, rms_norm_eps=1e-6, tie_word_embeddings=True)
BANDWIDTH = {"H100": 3.35e12, "H200": 4.8e12}  # bytes/s of HBM (H100 SXM, H200)


def word_tokenizer(vocab_size):
    """A tokenizer whose ids cover the whole vocabulary (the real Qwen tokenizer is on the hub): id i is the word
    "t<i>", words split on whitespace; <pad> 0, <|endoftext|> 1 (eos), <unk> 2."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {"<pad>": 0, "<|endoftext|>": 1, "<unk>": 2, **{f"t{i}": i for i in range(3, vocab_size)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|endoftext|>", unk_token="<unk>")


def build(name, device, dtype, seed):
    """(model, tokenizer) for a --model name; the same seed gives the same weights on every call."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    torch.manual_seed(seed)
    if name == "tiny":
        tokenizer = build_char_tokenizer([])
        with torch.device(device):
            model = build_tiny_model(tokenizer, "tiny")
    else:  # qwen3-0.6b
        tokenizer = word_tokenizer(QWEN3_06B["vocab_size"])
        config = Qwen3Config(**QWEN3_06B, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             bos_token_id=None)
        with torch.device(device):  # init on the GPU: seconds instead of a minute on the CPU
            model = Qwen3ForCausalLM(config)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(dtype), tokenizer


def make_prompts(tokenizer, n, length, seed):
    """n prompt texts of exactly `length` tokens each (random non-special ids), and their token ids."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, len(tokenizer), (n, length), generator=g).tolist()
    texts = [tokenizer.decode(row) for row in ids]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert encoded == ids, "prompt text does not round-trip to the same token ids"
    return texts, ids


def reward_of(completion_ids, constant):
    """Cheap, deterministic, and different across a group's samples (so no advantage is zero)."""
    return 1.0 if constant else (sum(completion_ids) * 2654435761 % 1000) / 1000


def weight_bytes(model):
    """Bytes read from memory by one decode step: every parameter once (a tied embedding counts once, as the
    LM head); an untied input embedding is only gathered, so it is left out."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    return total - (emb.numel() * emb.element_size() if emb is not head else 0)


def kv_bytes(model):
    """Bytes of K and V one token holds in the cache (every layer), in bf16 on CUDA."""
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return c.num_hidden_layers * 2 * c.num_key_value_heads * head_dim * next(model.parameters()).element_size()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------------------
# Ours: grpo.py's step (rollout -> rewards -> advantages -> micro-batched clipped loss -> one AdamW step)


PHASE_PEAKS = {}  # ours: peak GiB allocated while generating / while training (the peak counters are reset per phase)


def phase_peak(phase, device):
    """Record the peak of the phase that just ended under `phase` and restart the counter."""
    if device.type == "cuda":
        PHASE_PEAKS[phase] = max(PHASE_PEAKS.get(phase, 0.0), torch.cuda.max_memory_allocated() / 2**30)
        torch.cuda.reset_peak_memory_stats()


def ours_step(model, optimizer, params, prompt_ids, tokenizer, args, step, device, dtype):
    """One GRPO step as grpo.py's main loop does it (dapo, beta 0, mu 1).
    Returns (step s, generate s, tokens through forward + backward, grad norm)."""
    G, C = args.num_generations, args.completion_len
    pad_id = tokenizer.pad_token_id
    sync(device)
    t0 = time.perf_counter()
    phase_peak("before", device)
    prompts = [p for p in prompt_ids for _ in range(G)]  # grouped: prompt 0's G samples first
    generator = torch.Generator(device=device).manual_seed(args.seed * 1_000_003 + step * 1009)
    model.eval()
    engine = DecodeEngine(model, dtype=dtype, cuda_graph=args.cuda_graph, compile=args.compile_decode,
                          graph_sampling=args.graph_sampling) if args.engine == "static" else None
    outs = generate(model, prompts, max_new_tokens=C, stop_ids={-1}, pad_id=pad_id, temperature=1.0,
                    top_p=1.0, generator=generator, engine=engine)  # -1 is no token's id: exactly C sampled tokens
    if engine is not None:
        engine.close()  # its weights snapshot, KV cache and graphs are not needed for training (as run_episodes)
    del engine
    model.train()
    sync(device)
    phase_peak("generate", device)
    t_gen = time.perf_counter() - t0
    turns = [Turn(p, ids, mask, lps, trunc) for p, (ids, mask, lps, trunc) in zip(prompts, outs)]
    rewards = torch.tensor([reward_of(t.completion_ids, args.constant_reward) for t in turns])
    advantages, _ = grpo.group_advantages(rewards, G, "group")
    samples = [(t, a) for t, a in zip(turns, advantages.tolist())]
    num_sequences, num_tokens = len(samples), sum(sum(t.completion_mask) for t, _ in samples)
    samples = [s for s in samples if s[1] != 0.0]  # zero advantage: zero loss and gradient (grpo.py skips them)
    samples.sort(key=lambda s: len(s[0].prompt_ids) + len(s[0].completion_ids))
    stats, trained = [], 0
    for i in range(0, len(samples), args.micro_batch):
        sequences, mask, _, adv = grpo.pack(samples[i:i + args.micro_batch], pad_id, device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):  # as grpo.py's `amp`
            logp, entropy = grpo.token_logprobs(model, sequences, mask.shape[1], pad_id, 1.0, chunk=args.logprob_chunk)
        token_loss, low, high = grpo.clipped_token_loss(logp, logp.detach(), adv, 0.2, 0.28)
        loss = grpo.aggregate_loss(token_loss, mask, "dapo", num_sequences=num_sequences, num_tokens=num_tokens)
        loss.backward()
        trained += sequences.numel()
        # the per-micro-batch statistics grpo.py logs (each .item() is a sync it pays too)
        stats.append([loss.item(), (low * mask).sum().item(), (high * mask).sum().item(), (entropy * mask).sum().item()])
    grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0).item()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync(device)
    phase_peak("train", device)
    return time.perf_counter() - t0, t_gen, trained, grad_norm


def run_ours(name, lora, args, device, dtype):
    from peft import LoraConfig, get_peft_model
    model, tokenizer = build(name, device, dtype, args.seed)
    _, prompt_ids = make_prompts(tokenizer, args.prompts, args.prompt_len, args.seed)
    if lora:
        torch.manual_seed(args.seed)
        model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=32, lora_dropout=0.0,
                                                 target_modules="all-linear"))
    if args.grad_checkpointing:
        model.gradient_checkpointing_enable()
        if lora:
            model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    times, norms = [], []
    for step in range(args.warmup + args.steps):
        step_s, gen_s, trained, grad_norm = ours_step(model, optimizer, params, prompt_ids, tokenizer, args, step, device, dtype)
        norms.append(grad_norm)
        if step >= args.warmup:
            times.append((step_s, gen_s, trained))
    result = dict(times=times, grad_norms=norms, weight_bytes=weight_bytes(model), kv_bytes_per_token=kv_bytes(model))
    if args.engine == "static":
        result.update(engine_check(model, prompt_ids, tokenizer, args, dtype))
    del model, optimizer, params
    return result


def engine_check(model, prompt_ids, tokenizer, args, dtype, new_tokens=32):
    """The engine against the model's own forward on the trained model: greedy continuations of every prompt,
    the fraction of rows whose tokens are identical, and the largest |log-prob difference| over the tokens
    before a row's first disagreement (bf16 kernels differ, so near-ties may flip a greedy choice)."""
    model.eval()
    kw = dict(max_new_tokens=new_tokens, stop_ids={-1}, pad_id=tokenizer.pad_token_id, temperature=0.0)
    hf = generate(model, prompt_ids, **kw)
    fast = generate(model, prompt_ids, engine=DecodeEngine(model, dtype=dtype, cuda_graph=args.cuda_graph), **kw)
    same, worst = 0, 0.0
    for (ids_a, _, lp_a, _), (ids_b, _, lp_b, _) in zip(hf, fast):
        same += ids_a == ids_b
        n = next((i for i, (a, b) in enumerate(zip(ids_a, ids_b)) if a != b), len(ids_a))
        worst = max([worst] + [abs(a - b) for a, b in zip(lp_a[:n + 1], lp_b[:n + 1])])
    model.train()
    return {"engine_greedy_same": same / len(hf), "engine_max_dlogp": worst}


# ---------------------------------------------------------------------------------------------------------
# TRL: GRPOTrainer as shipped, timed from outside (a callback for the step, a subclass for the generate call)


def run_trl(name, lora, args, device, dtype):
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class TimedGRPOTrainer(GRPOTrainer):
        def _generate_single_turn(self, *a, **kw):
            sync(device)
            t = time.perf_counter()
            out = super()._generate_single_turn(*a, **kw)
            sync(device)
            self.gen_times.append(time.perf_counter() - t)
            return out

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.starts, self.ends = [], []

        def on_step_begin(self, *_, **__):
            sync(device)
            self.starts.append(time.perf_counter())

        def on_step_end(self, *_, **__):
            sync(device)
            self.ends.append(time.perf_counter())

    model, tokenizer = build(name, device, dtype, args.seed)
    texts, _ = make_prompts(tokenizer, args.prompts, args.prompt_len, args.seed)
    n = args.prompts * args.num_generations
    micro = min(args.micro_batch, n)
    if n % micro:
        raise SystemExit(f"batch {n} must be a multiple of --micro-batch {micro} (TRL's accumulation)")
    with tempfile.TemporaryDirectory() as out_dir:
        config = GRPOConfig(
            output_dir=out_dir, max_steps=args.warmup + args.steps, learning_rate=args.lr, lr_scheduler_type="constant",
            per_device_train_batch_size=micro, gradient_accumulation_steps=n // micro,  # one generation per optimizer step
            num_generations=args.num_generations, max_completion_length=args.completion_len,
            generation_kwargs={"min_new_tokens": args.completion_len}, temperature=1.0,
            loss_type="dapo", beta=0.0, epsilon=0.2, epsilon_high=0.28, scale_rewards="group", max_grad_norm=1.0,
            gradient_checkpointing=args.grad_checkpointing, bf16=dtype == torch.bfloat16, use_cpu=device.type == "cpu",
            seed=args.seed, logging_steps=1, report_to="none", save_strategy="no", disable_tqdm=True)
        reward = lambda completion_ids, **_: [reward_of(c, args.constant_reward) for c in completion_ids]
        peft_config = (LoraConfig(r=args.lora_r, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
                       if lora else None)
        timer = StepTimer()
        trainer = TimedGRPOTrainer(model=model, reward_funcs=reward, args=config, processing_class=tokenizer,
                                   train_dataset=Dataset.from_dict({"prompt": texts}), peft_config=peft_config,
                                   callbacks=[timer])
        trainer.remove_callback(PrinterCallback)  # its per-step dict would bury the table; log_history keeps it
        trainer.gen_times = []
        trainer.train()
        steps = list(zip(timer.starts, timer.ends))
        if len(steps) != args.warmup + args.steps or len(trainer.gen_times) != len(steps):
            raise RuntimeError(f"TRL ran {len(steps)} steps and {len(trainer.gen_times)} generations, "
                               f"expected {args.warmup + args.steps} of each")
        trained = n * (args.prompt_len + args.completion_len)  # TRL trains on every sample, zero advantage or not
        times = [(end - start, gen, trained) for (start, end), gen in zip(steps, trainer.gen_times)][args.warmup:]
        norms = [row["grad_norm"] for row in trainer.state.log_history if "grad_norm" in row]
        result = dict(times=times, grad_norms=norms, weight_bytes=weight_bytes(trainer.model),
                      kv_bytes_per_token=kv_bytes(trainer.model))
        trainer.accelerator.free_memory()
        del trainer, model
    return result


# ---------------------------------------------------------------------------------------------------------


def measure(side, name, lora, args, device, dtype, bandwidth):
    """Run one side in a clean memory state; returns its metrics (or the error it raised)."""
    gc.collect()
    PHASE_PEAKS.clear()
    start_gib = float("nan")
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch._C._cuda_clearCublasWorkspaces()  # the previous side's (32 MiB per stream and thread) count for nobody
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start_gib = torch.cuda.memory_allocated() / 2**30  # should be 0: nothing of the previous side left
    try:
        r = (run_ours if side == "ours" else run_trl)(name, lora, args, device, dtype)
    except Exception as e:  # one failing side must not cost the other rows of a single GPU call
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {str(e)[:120]}"}
    finally:
        gc.collect()
    n = args.prompts * args.num_generations
    step_s, gen_s, trained = (sum(col) / len(r["times"]) for col in zip(*r["times"]))
    decode = n * args.completion_len / gen_s
    limit = n * bandwidth / r["weight_bytes"] if bandwidth else float("nan")
    m = {"step_s": step_s, "gen_s": gen_s, "samples_s": n / step_s, "decode_tok_s": decode,
         "limit_tok_s": limit, "bw_pct": 100 * decode / limit,
         "train_tok_s": trained / (step_s - gen_s),
         "peak_gib": max([torch.cuda.max_memory_allocated() / 2**30, *PHASE_PEAKS.values()]) if device.type == "cuda"
         else float("nan"),
         **{f"peak_{k}_gib": v for k, v in PHASE_PEAKS.items()},
         "start_gib": start_gib,
         **{k: r[k] for k in ("engine_greedy_same", "engine_max_dlogp") if k in r},
         "limit_kv_tok_s": n * bandwidth / (r["weight_bytes"] + n * r["kv_bytes_per_token"] *
                                            (args.prompt_len + args.completion_len / 2)) if bandwidth else float("nan"),
         "nonfinite_grad_norms": sum(not torch.isfinite(torch.tensor(float(x))).item() for x in r["grad_norms"])}
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return m


COLUMNS = [("step s", "step_s", "{:.3f}"), ("gen s", "gen_s", "{:.3f}"), ("samples/s", "samples_s", "{:.1f}"),
           ("decode tok/s", "decode_tok_s", "{:,.0f}"), ("BW limit tok/s", "limit_tok_s", "{:,.0f}"),
           ("% of limit", "bw_pct", "{:.1f}"), ("limit w/ KV tok/s", "limit_kv_tok_s", "{:,.0f}"), ("train tok/s", "train_tok_s", "{:,.0f}"), ("peak GiB", "peak_gib", "{:.2f}")]


def main():
    args = parse_args()
    if args.engine not in ("static", "hf"):
        raise SystemExit(f"unknown --engine {args.engine!r}: static or hf")
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    dtype = torch.bfloat16 if use_cuda else torch.float32
    names = args.model.split(",")
    if set(names) - {"tiny", "qwen3-0.6b"}:
        raise SystemExit(f"unknown --model {args.model!r}: a comma list of tiny, qwen3-0.6b")
    modes = [m for m, on in (("lora", args.lora), ("full", args.full)) if on] or ["lora", "full"]
    gpu = torch.cuda.get_device_name() if use_cuda else "cpu"
    bandwidth = next((bw for key, bw in BANDWIDTH.items() if key in gpu), None)
    import peft, transformers
    trl_version = "(not run)"
    if "trl" in args.sides.split(","):
        import trl
        trl_version = trl.__version__
    n = args.prompts * args.num_generations
    print(f"device: {gpu} | HBM bandwidth for the limit: {f'{bandwidth / 1e12:.2f} TB/s' if bandwidth else 'unknown'}")
    print(f"torch {torch.__version__} | transformers {transformers.__version__} | peft {peft.__version__} | "
          f"trl {trl_version} | {dtype}")
    print(f"batch {args.prompts} prompts x G={args.num_generations} = {n} | prompt {args.prompt_len} + completion "
          f"{args.completion_len} tokens | micro-batch {args.micro_batch} | warm-up {args.warmup} + timed {args.steps} "
          f"steps per side | grad checkpointing {'on' if args.grad_checkpointing else 'off'} | "
          f"reward {'constant' if args.constant_reward else 'pseudo-random'}", flush=True)

    rows = []
    for k, (name, mode) in enumerate((nm, md) for nm in names for md in modes):
        res = {}
        order = ["trl", "ours"] if k % 2 == 0 else ["ours", "trl"]  # alternate who goes first
        for side in [sd for sd in order if sd in args.sides.split(",")]:
            t = time.perf_counter()
            res[side] = measure(side, name, mode == "lora", args, device, dtype, bandwidth)
            print(f"{name} {mode} {side} ({time.perf_counter() - t:.0f}s): " + ", ".join(
                f"{key}={v:.4g}" if isinstance(v, float) else f"{key}={v}" for key, v in res[side].items()), flush=True)
        rows.append((name, mode, res))

    print(f"\n### GRPO step: ours (grpo.py) vs TRL {trl_version} GRPOTrainer, {gpu}, batch {n}, "
          f"{args.prompt_len}+{args.completion_len} tokens\n")
    print("| model | tuning | side | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---|---|---|" + "---:|" * len(COLUMNS))
    for name, mode, res in rows:
        for side in [sd for sd in ("trl", "ours") if sd in res]:
            m = res[side]
            cells = [m["error"]] + [""] * (len(COLUMNS) - 1) if "error" in m else \
                ["n/a" if math.isnan(m[k]) else f.format(m[k]) for _, k, f in COLUMNS]
            print(f"| {name} | {mode} | {'TRL' if side == 'trl' else 'ours'} | " + " | ".join(cells) + " |")
        if len(res) == 2 and "error" not in res["trl"] and "error" not in res["ours"]:
            cells = ["" if k in ("limit_tok_s", "limit_kv_tok_s") or math.isnan(res["trl"][k]) else f"{res['ours'][k] / res['trl'][k]:.2f}x"
                     for _, k, _ in COLUMNS]
            print(f"| {name} | {mode} | ours/TRL | " + " | ".join(cells) + " |")
    bad = [f"{nm} {md} {side}: {r['nonfinite_grad_norms']}" for nm, md, res in rows for side, r in res.items()
           if r.get("nonfinite_grad_norms")]
    if bad:
        print("\nnon-finite gradient norms (steps that trained on NaN/inf): " + ", ".join(bad))


if __name__ == "__main__":
    main()
