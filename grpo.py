"""GRPO over a registered task's environment episodes (DeepSeekMath, Shao et al. 2024, sec. 4).

Differs from DeepSeekMath's GRPO in:
1) Rewards come from environment episodes (vi: several re-prompted turns; exec: code runs mid-generation).
   Every turn of an episode is a training sequence carrying the episode's advantage; tokens the
   environment wrote are masked out of the loss.
2) The loss aggregation is a flag (`--loss-type`): grpo (per-sequence mean, as the paper), bnpo, dr_grpo
   (Liu et al. 2025, constant normaliser), dapo (Yu et al. 2025, token mean over the whole batch; default).
3) Asymmetric clipping `--epsilon`/`--epsilon-high` (DAPO's clip-higher); the KL term is the k3 estimator
   (Schulman 2020) and is off by default (beta = 0, as DAPO and Dr. GRPO); it is clamped against blow-ups.
4) With mu = 1 (`--num-iterations 1`) the "old" policy is the current one detached (ratio = 1, gradient of
   the plain policy-gradient loss); with mu > 1 the log-probs stored at sampling time are the old policy.
5) `--reward majority` is test-time RL (TTRL, Zuo et al. 2025): the group's most frequent answer is the label.
6) `--curiosity-bonus` adds Pixel-Reasoner's group-level bonus for tool use (Su et al. 2025) before the advantages.

Smoke:   python grpo.py --task vi --steps 2 --prompts-per-step 2 --num-generations 2
Default: python sft.py --task vi && python grpo.py --task vi          (CPU, ~10 minutes)
GPU:     python grpo.py --task vi --model runs/sft-vi --steps 300 --prompts-per-step 32 --num-generations 8
Multi:   torchrun --nproc_per_node 2 grpo.py --task vi
Images:  python sft.py --task digits && python grpo.py --task digits   (a VLM: the log-prob passes get the rollouts' pixels)

Writes runs/grpo-<task>/: args.json, metrics.jsonl, samples.jsonl, plots.png, the final model
(save_pretrained; an adapter with --lora-r > 0) and ckpt/ (model, optimizer, step, RNG) for --resume.
"""
import argparse
import dataclasses
import json
import math
import os
import resource
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass

import torch
import torch.utils.checkpoint
import torch.distributed as dist

import vlm
from rollout import check_task_tokens, draw_examples, field_docs, get_task, load_policy, run_episodes
from vision_tasks import group_bonus


@dataclass
class Args:
    # Run
    task: str = "vi"
    """registered task name (vi, exec, ...)"""
    model: str = ""
    """checkpoint dir or HF name; empty = the SFT output of the same task, runs/sft-<task>"""
    out_dir: str = ""
    """output dir; empty = runs/grpo-<task>"""
    seed: int = 0
    """seeds prompt draws, sampling and init; a resumed or repeated run draws the same prompts"""
    device: str = "auto"
    """auto | cpu | cuda"""
    dtype: str = "auto"
    """auto (bf16 on CUDA with support, else fp32) | fp32 | bf16 | fp16"""
    resume: bool = False
    """continue from out_dir/ckpt"""
    families: str = "auto"
    """families and/or difficulties for train and val prompts, comma separated; all; or auto = the task's default_families"""
    # Rollouts
    steps: int = 80
    """number of GRPO steps (one batch of groups each)"""
    time_budget: float = 0.0
    """minutes (0 = off): stop before a step that would start after this long; the model is saved as usual"""
    prompts_per_step: int = 8
    """task examples drawn per step (over all processes)"""
    num_generations: int = 8
    """G: episodes per prompt (the group)"""
    temperature: float = 1.0
    """sampling temperature (log-probs in the loss use the same temperature)"""
    top_p: float = 1.0
    """nucleus sampling mass"""
    max_new_tokens: int = 0
    """tokens per turn; 0 = the task's default"""
    max_turns: int = 0
    """turns (vi) or code cycles (exec) per episode; 0 = the task's default"""
    # GRPO loss
    lr: float = 3e-4
    """AdamW learning rate (constant after warmup)"""
    warmup_steps: int = 0
    """linear warmup of the learning rate, in optimizer steps"""
    num_iterations: int = 1
    """mu: optimisation passes over each batch of rollouts"""
    epsilon: float = 0.2
    """lower clip: ratio >= 1 - epsilon"""
    epsilon_high: float = 0.28
    """upper clip: ratio <= 1 + epsilon_high (DAPO's clip-higher)"""
    beta: float = 0.0
    """k3 KL coefficient to the reference (0 = no reference pass)"""
    kl_clamp: float = 10.0
    """per-token k3 values are clamped to [0, kl_clamp] against blow-ups"""
    loss_type: str = "dapo"
    """grpo | bnpo | dr_grpo | dapo (see aggregate_loss)"""
    scale_rewards: str = "group"
    """group | batch | none: what the centred reward is divided by"""
    mask_truncated: bool = False
    """drop episodes that hit a token budget from the loss"""
    drop_zero_std: bool = False
    """drop groups whose rewards are all equal from the loss (they carry no signal)"""
    reward: str = "task"
    """task (the task's reward) | majority (TTRL: the group's most frequent answer is the label)"""
    reward_weights: str = ""
    """recombine the task's reward components, e.g. "exact=1,similarity=0.5"; empty = the task's total"""
    min_agreement: float = 0.0
    """majority mode: skip groups whose majority ratio is below this"""
    buffer_k: int = 0
    """majority mode: replay the k nearest confident past prompts (by prompt embedding) into each batch"""
    curiosity_bonus: float = 0.0
    """alpha of Pixel-Reasoner's curiosity bonus (Su et al. 2025, sec. 3.2; the paper uses 0.5): in a group whose
    rate of tool use (RaPR) is below --curiosity-target, each tool-using episode gets alpha * (target - RaPR);
    for tasks whose components report "used_tool" (pixel), others get 0; logged as reward/curiosity. 0 = off"""
    curiosity_target: float = 0.3
    """H: the group rate of tool use below which the curiosity bonus is paid"""
    # Optimisation
    lora_r: int = 0
    """LoRA rank; 0 = full fine-tuning (an adapter checkpoint keeps training its adapter)"""
    lora_alpha: int = 32
    """LoRA alpha"""
    lora_dropout: float = 0.0
    """LoRA dropout"""
    lora_targets: str = "all-linear"
    """LoRA target modules, comma separated, or all-linear"""
    freeze_vision: bool = True
    """VLMs: leave the vision tower (merger included) as loaded. Trained by the policy gradient, the tiny VLM's
    tower lost what its warm-up taught it (digits, call R: 78.5% after SFT, 60.5% after 48 GRPO steps)"""
    micro_batch: int = 16
    """sequences per forward/backward; gradients accumulate over the whole batch, one optimizer step"""
    max_grad_norm: float = 1.0
    """gradient clipping"""
    grad_checkpointing: bool = False
    """recompute activations in the backward pass to save memory"""
    # Speed (each can be turned off; tests/test_decode.py and tests/test_grpo_loss.py check they change nothing)
    engine: str = "auto"
    """rollout decoder: static (decode.py: weights snapshot, static KV cache, prompt prefilled once per group) |
    hf (the model's own forward, dynamic cache) | auto (static on CUDA for supported text models, else hf)"""
    cuda_graph: bool = True
    """static engine on CUDA: replay each decode step as one CUDA graph"""
    compile_decode: bool = False
    """static engine: torch.compile each layer's decode step (fuses norms, rotary, softmax, SwiGLU: 2.5x faster
    steps for a 0.6B model on an H100, bench/decode_bench.py; the first rollout pays the compilation)"""
    graph_sampling: bool = True
    """static engine: sample each token inside the decode step (CUDA graph): Gumbel-max, the same softmax(logits / T)
    and log-probs as rollout.sample_tokens' multinomial but other draws per seed; top_p < 1 samples outside"""
    fuse_kv_writes: bool = False
    """static engine with --compile-decode: write each layer's K/V inside its compiled function (faster steps, but
    not a faster loop with buckets on an H100, session 11: off)"""
    logprob_chunk: int = 128
    """log-prob passes: positions per chunk through the LM head, recomputed in the backward (a 150k vocabulary
    would otherwise hold B x T x V fp32 logits); 0 = all at once"""
    # Logging
    eval_every: int = 20
    """greedy success on the val split every N steps (0 = never)"""
    eval_examples: int = 60
    """val examples per evaluation"""
    save_every: int = 20
    """checkpoint every N steps"""
    sample_every: int = 5
    """write a few full episodes to samples.jsonl every N steps"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    docs = field_docs(Args)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool or f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=docs.get(f.name))
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help=docs.get(f.name))
    return Args(**vars(parser.parse_args()))


# ----------------------------------------------------------------------------------------------
# The parts of GRPO that have a name: pure tensor functions, tested in tests/test_grpo_loss.py


def group_advantages(rewards, group_size, scale="group", eps=1e-4):
    """rewards: (N,) with N = num_groups * group_size, groups contiguous. Returns (advantages, group_std).
    A_i = (r_i - mean_group) / (std_group + eps)   [scale=group, DeepSeekMath eq. 3 with outcome supervision]
          (r_i - mean_group) / (std_batch + eps)   [scale=batch]
          (r_i - mean_group)                       [scale=none, Dr. GRPO]"""
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(1, keepdim=True)
    group_std = grouped.std(1, keepdim=True) if group_size > 1 else torch.zeros_like(centred[:, :1])
    if scale == "group":
        centred = centred / (group_std + eps)
    elif scale == "batch":
        centred = centred / (rewards.std() + eps)
    elif scale != "none":
        raise ValueError(f"unknown --scale-rewards {scale!r}")
    return centred.reshape(-1), group_std.expand_as(grouped).reshape(-1)


def k3_kl(logp, ref_logp, clamp=10.0):
    """Per-token k3 estimator of KL(pi || pi_ref): exp(ref - logp) - (ref - logp) - 1 >= 0."""
    delta = (ref_logp - logp).clamp(-20, 20)
    return (delta.exp() - delta - 1).clamp(0, clamp)


def clipped_token_loss(logp, old_logp, advantages, eps_low, eps_high):
    """PPO-clip surrogate per token (negated, to minimise). logp/old_logp: (B, T); advantages: (B,).
    Returns (loss (B, T), low_clipped (B, T) bool, high_clipped (B, T) bool)."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    unclipped = ratio * adv
    clipped = ratio.clamp(1 - eps_low, 1 + eps_high) * adv
    low = (ratio < 1 - eps_low) & (adv < 0)     # the clip stops this token's gradient
    high = (ratio > 1 + eps_high) & (adv > 0)
    return -torch.min(unclipped, clipped), low, high


def aggregate_loss(token_loss, mask, loss_type, num_sequences=None, num_tokens=None, max_len=None,
                   num_micro_batches=1):
    """Reduce per-token losses (B, T) of one micro-batch so that the SUM over micro-batches (and processes)
    is the batch loss. mask: (B, T) float. Batch-level normalisers are passed in:
      grpo:    1/N * sum_i (sum_t l_it / |o_i|)            N = sequences in the batch (num_sequences)
      bnpo:    mean over micro-batches of (sum l / sum mask) within the micro-batch
      dr_grpo: sum l / (N * max_len)                       max_len = the per-turn token budget
      dapo:    sum l / (tokens in the whole batch)         (num_tokens)"""
    if loss_type == "grpo":
        per_seq = (token_loss * mask).sum(1) / mask.sum(1).clamp(min=1)
        return per_seq.sum() / num_sequences
    if loss_type == "bnpo":
        return (token_loss * mask).sum() / mask.sum().clamp(min=1) / num_micro_batches
    if loss_type == "dr_grpo":
        return (token_loss * mask).sum() / (num_sequences * max_len)
    if loss_type == "dapo":
        return (token_loss * mask).sum() / max(num_tokens, 1)
    raise ValueError(f"unknown --loss-type {loss_type!r}")


def _head_logprobs(hidden, targets, head, temperature):
    """(log-prob of each target, entropy) for hidden states (N, H) through the LM head, in fp32."""
    logits = head(hidden).float()
    if temperature > 0 and temperature != 1.0:   # no (N, V) copy to divide by 1
        logits = logits / temperature
    logprobs = torch.log_softmax(logits, -1)
    with torch.no_grad():  # 32 rows at a time: a whole chunk's p * log p was the LoRA peak's last 0.14 GiB (call M)
        entropy = torch.cat([-(lp.exp() * lp).sum(-1) for lp in logprobs.split(32)])
    return logprobs.gather(-1, targets[:, None])[:, 0], entropy


def token_logprobs(model, sequences, completion_len, pad_id, temperature, pixels=None, chunk=0):
    """Log-probs (and entropies) of the last `completion_len` tokens of each left-padded sequence.
    sequences: (B, L) with every sequence right-aligned; returns (B, completion_len) tensors.
    Only completion positions go through the LM head (logits_to_keep): prompts can be much longer.
    chunk > 0 (text models): the decoder's hidden states go through the head `chunk` positions at a time under
    activation checkpointing, so only one chunk's (chunk, V) logits exist at once, in the backward too. (A
    written-out autograd Function that recomputes the chunk in its backward, and a logsumexp form of this one,
    both measured higher peaks on the H100: 13.81 and 13.55 GiB vs 13.39, results/gpu-2026-11-24-s4.)
    A VLM gets what it got while sampling (rollout.generate): the pixel inputs of the rows' images, in row order,
    3-D mRoPE positions, and image tokens masked out of the softmax."""
    attention = _left_pad_mask(sequences, pad_id)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    vision = vlm.is_vlm(model)
    if chunk > 0 and not vision:
        base = vlm.base_model(model)
        hidden = base.get_decoder()(input_ids=sequences, attention_mask=attention, position_ids=positions,
                                    use_cache=False).last_hidden_state[:, -completion_len - 1:-1]
        B, C, H = hidden.shape
        hidden, targets = hidden.reshape(B * C, H), sequences[:, -completion_len:].reshape(B * C)
        head = base.get_output_embeddings()
        parts = [torch.utils.checkpoint.checkpoint(_head_logprobs, hidden[i:i + chunk], targets[i:i + chunk], head,
                                                   temperature, use_reentrant=False)
                 for i in range(0, B * C, chunk)]
        return torch.cat([lp for lp, _ in parts]).view(B, C), torch.cat([e for _, e in parts]).view(B, C)
    if vision:
        positions = vlm.rope_positions(model, sequences, attention, pixels)
    logits = model(input_ids=sequences, attention_mask=attention, position_ids=positions, logits_to_keep=completion_len + 1,
                   **(pixels or {})).logits[:, :-1].float()  # (B, C, V) predicting the last C tokens
    if vision:
        logits = vlm.forbid_vision_tokens(logits, model)
    if temperature > 0:
        logits = logits / temperature
    logprobs = torch.log_softmax(logits, -1)
    targets = sequences[:, -completion_len:]
    token_lp = logprobs.gather(-1, targets[..., None])[..., 0]
    with torch.no_grad():
        entropy = -(logprobs.exp() * logprobs).sum(-1)
    return token_lp, entropy


def _left_pad_mask(sequences, pad_id):
    """1 from each row's first non-pad token on (pad ids after it are real, sampled tokens)."""
    return ((sequences != pad_id).long().cumsum(1) > 0).long()


def pack(samples, pad_id, device):
    """Left-pad (prompt + completion) so every completion ends in the last column.
    samples: list of (Turn, advantage). Returns sequences (B, L), mask (B, C), old_logprobs (B, C), adv (B,)."""
    L = max(len(t.prompt_ids) + len(t.completion_ids) for t, _ in samples)
    C = max(len(t.completion_ids) for t, _ in samples)
    sequences = torch.full((len(samples), L), pad_id, dtype=torch.long)
    mask, old = torch.zeros(len(samples), C), torch.zeros(len(samples), C)
    for i, (t, _) in enumerate(samples):
        ids, c = t.prompt_ids + t.completion_ids, len(t.completion_ids)
        sequences[i, L - len(ids):] = torch.tensor(ids)
        mask[i, C - c:] = torch.tensor(t.completion_mask, dtype=torch.float)
        old[i, C - c:] = torch.tensor(t.logprobs)
    adv = torch.tensor([a for _, a in samples], dtype=torch.float)
    return sequences.to(device), mask.to(device), old.to(device), adv.to(device)


def majority_rewards(results, group_size):
    """TTRL: per group, the most frequent non-empty answer is the pseudo-label; reward 1 if it matches.
    Returns rewards (N,), per-group (label, agreement ratio, answer entropy in nats)."""
    rewards, groups = [], []
    for g in range(0, len(results), group_size):
        answers = [r.answer for r in results[g:g + group_size]]
        counts = Counter(a for a in answers if a not in (None, ""))
        label, count = counts.most_common(1)[0] if counts else (None, 0)
        probs = [c / group_size for c in counts.values()]
        groups.append((label, count / group_size, -sum(p * math.log(p) for p in probs)))
        rewards += [float(label is not None and a == label) for a in answers]
    return torch.tensor(rewards), groups


def weighted_reward(result, weights):
    return sum(w * result.components.get(k, 0.0) for k, w in weights.items()) if weights else result.reward


def save_checkpoint(model, tokenizer, optimizer, step, args, path, image_processor=None):
    """Atomic: write a sibling temp dir, then swap it in, so a kill never leaves a half-written ckpt."""
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if image_processor is not None:
        image_processor.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), os.path.join(tmp, "optimizer.pt"))
    with open(os.path.join(tmp, "state.json"), "w") as f:
        json.dump({"step": step, "args": dataclasses.asdict(args)}, f)
    if os.path.exists(path):
        os.rename(path, path + ".old")
    os.rename(tmp, path)
    shutil.rmtree(path + ".old", ignore_errors=True)


def evaluate(model, tokenizer, task, examples, max_new_tokens, max_turns, image_processor=None):
    """Greedy episodes on held-out examples: overall success and success per family."""
    results = run_episodes(model, tokenizer, task, examples, temperature=0.0,
                           max_new_tokens=max_new_tokens, max_turns=max_turns, image_processor=image_processor)
    by_family = {}
    for r in results:
        by_family.setdefault(r.example["family"], []).append(r.components["success"])
    metrics = {"eval/success": sum(r.components["success"] for r in results) / len(results),
               "eval/reward": sum(r.reward for r in results) / len(results)}
    metrics.update({f"eval/success/{k}": sum(v) / len(v) for k, v in sorted(by_family.items())})
    return metrics


def plot(metrics_path, out_png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(line) for line in open(metrics_path)]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for col, key in enumerate(["reward", "success", "kl"]):
        for row, x in enumerate(["step", "time"]):
            pts = [(r[x], r[key]) for r in rows if key in r]
            evals = [(r[x], r["eval/success"]) for r in rows if "eval/success" in r]
            ax = axes[row, col]
            if pts:
                ax.plot(*zip(*pts), label=f"train {key}")
            if key == "success" and evals:
                ax.plot(*zip(*evals), "o-", label="val success (greedy)")
            ax.set_xlabel("step" if x == "step" else "seconds")
            ax.set_title(key)
            ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)


if __name__ == "__main__":
    args = parse_args()
    # ---------------------------------------------------------------- setup: processes, device, dirs
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if distributed:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    device = torch.device("cuda" if use_cuda else "cpu")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(args.dtype)
    if args.dtype == "auto":
        dtype = torch.bfloat16 if use_cuda and torch.cuda.is_bf16_supported() else torch.float32
    elif dtype is None:
        raise SystemExit(f"unknown --dtype {args.dtype!r}: use auto, fp32, bf16 or fp16")
    if args.engine not in ("auto", "static", "hf"):
        raise SystemExit(f"unknown --engine {args.engine!r}: use auto, static or hf")
    if args.prompts_per_step % world:
        raise SystemExit(f"--prompts-per-step {args.prompts_per_step} must be divisible by {world} processes")
    task = get_task(args.task)
    out_dir = args.out_dir or f"runs/grpo-{args.task}"
    ckpt_dir = os.path.join(out_dir, "ckpt")
    model_path = args.model or f"runs/sft-{args.task}"
    if not os.path.exists(model_path) and not args.model:
        raise SystemExit(f"no SFT checkpoint at {model_path}: run `python sft.py --task {args.task}` first "
                         f"(or pass --model)")
    if args.resume and not os.path.exists(os.path.join(ckpt_dir, "state.json")):
        raise SystemExit(f"--resume: no checkpoint in {ckpt_dir}")
    weights = {k: float(v) for k, v in (kv.split("=") for kv in args.reward_weights.split(",") if kv)}
    torch.manual_seed(args.seed)  # same LoRA init on every process

    # ---------------------------------------------------------------- model, reference, optimizer
    model, tokenizer = load_policy(ckpt_dir if args.resume else model_path, dtype, device, is_trainable=True)
    image_processor = vlm.load_image_processor(ckpt_dir if args.resume else model_path, model)  # None: a text model
    check_task_tokens(tokenizer, task)
    from peft import LoraConfig, PeftModel, get_peft_model
    if args.lora_r > 0 and not isinstance(model, PeftModel):
        targets = "all-linear" if args.lora_targets == "all-linear" else args.lora_targets.split(",")
        model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha,
                                                 lora_dropout=args.lora_dropout, target_modules=targets))
    is_peft = isinstance(model, PeftModel)
    if args.grad_checkpointing:
        model.gradient_checkpointing_enable()
        if is_peft:
            model.enable_input_require_grads()
    ref_model = None
    if args.beta > 0 and not is_peft:  # under LoRA the reference is the base: the adapter disabled, no copy
        import copy
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    if args.freeze_vision and image_processor is not None:
        vlm.vision_tower(model).requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    # Trainable weights are kept in fp32 and the forward runs under autocast in --dtype: a bf16 weight cannot
    # take an update below 1/256 of its size, so small-lr steps of a bf16-loaded model round away to nothing.
    for p in params:
        p.data = p.data.float()
    amp = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    start_step = 0
    if args.resume:
        optimizer.load_state_dict(torch.load(os.path.join(ckpt_dir, "optimizer.pt"), map_location=device))
        start_step = json.load(open(os.path.join(ckpt_dir, "state.json")))["step"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    max_new_tokens = args.max_new_tokens or task.max_new_tokens
    max_turns = args.max_turns or task.max_turns
    G = args.num_generations
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "args.json"), "w") as f:
            json.dump(dataclasses.asdict(args), f, indent=2)
        n_train = sum(p.numel() for p in params)
        families = args.families + (f" = {getattr(task, 'default_families', '') or 'all'}" if args.families == "auto" else "")
        print(f"grpo: task {args.task} (families {families}) | model {model_path} | {n_train:,} trainable params | {device} {dtype} | "
              f"{world} process(es) | {args.prompts_per_step} prompts x G={G} per step | out {out_dir}")
    metrics_file = open(os.path.join(out_dir, "metrics.jsonl"), "a" if args.resume else "w") if rank == 0 else None
    samples_file = open(os.path.join(out_dir, "samples.jsonl"), "a" if args.resume else "w") if rank == 0 else None
    skipped_steps = 0  # optimizer steps skipped for a non-finite gradient
    buffer = []  # TTRL experience: (example, pseudo-label, agreement, prompt embedding)
    run_start = time.time()

    from tqdm import tqdm
    # the bar on a terminal; logs (not a tty) get only the one line per step
    bar = tqdm(range(start_step, args.steps), initial=start_step, total=args.steps,
               disable=rank != 0 or not sys.stderr.isatty())
    for step in bar:
        if args.time_budget > 0:
            stop = time.time() - run_start > args.time_budget * 60
            if distributed:  # every process stops where rank 0 does
                flag = torch.tensor([float(stop)], device=device)
                dist.broadcast(flag, 0)
                stop = bool(flag.item())
            if stop:
                if rank == 0:
                    tqdm.write(f"--time-budget {args.time_budget} min spent: stopping after {step} steps")
                args.steps = step
                break
        t0 = time.time()
        # 1) prompts: the same global draw on every process (seeded by step), each takes its slice
        examples = draw_examples(task, "train", args.prompts_per_step, args.seed * 1_000_003 + step, args.families)[rank::world]
        labels = [None] * len(examples)
        if args.reward == "majority" and args.buffer_k and buffer:
            embed = model.get_input_embeddings()
            with torch.no_grad():
                queries = torch.stack([embed(torch.tensor(tokenizer.encode(task.reset(e).observation()[-512:]),
                                                          device=device)).mean(0).float() for e in examples])
                keys = torch.stack([b[3] for b in buffer])
                sims = torch.nn.functional.normalize(queries, dim=-1) @ torch.nn.functional.normalize(keys, dim=-1).T
            picked = sorted(set(sims.topk(min(args.buffer_k, len(buffer)), dim=1).indices.flatten().tolist()))
            examples += [buffer[j][0] for j in picked]
            labels += [buffer[j][1] for j in picked]

        # 2) roll out G episodes per prompt
        generator = torch.Generator(device=device).manual_seed(args.seed * 1_000_003 + step * 1009 + rank)
        with amp:
            results = run_episodes(model, tokenizer, task, examples, num_generations=G, temperature=args.temperature,
                                   top_p=args.top_p, max_new_tokens=max_new_tokens, max_turns=max_turns,
                                   generator=generator, image_processor=image_processor, engine=args.engine,
                                   cuda_graph=args.cuda_graph, compile_decode=args.compile_decode,
                                   graph_sampling=args.graph_sampling, fuse_kv_writes=args.fuse_kv_writes)
        t_gen = time.time() - t0

        # 3) rewards (TTRL replaces the task's reward by agreement with the group's majority answer)
        keep = torch.ones(len(results), dtype=torch.bool)
        if args.reward == "majority":
            rewards, groups = majority_rewards(results, G)
            for g, (label, agreement, _) in enumerate(groups):
                if labels[g] is not None:  # a replayed prompt is scored against its stored label
                    rewards[g * G:(g + 1) * G] = torch.tensor([float(r.answer == labels[g]) for r in results[g * G:(g + 1) * G]])
                elif label is not None and agreement >= max(args.min_agreement, 0.5) and args.buffer_k:
                    with torch.no_grad():
                        emb = model.get_input_embeddings()(torch.tensor(results[g * G].turns[0].prompt_ids[-512:], device=device)).mean(0).float()
                    buffer.append((examples[g], label, agreement, emb))
                if agreement < args.min_agreement:
                    keep[g * G:(g + 1) * G] = False
        else:
            rewards = torch.tensor([weighted_reward(r, weights) for r in results], dtype=torch.float)
        if args.curiosity_bonus > 0:  # per group, so not part of the task's per-episode reward; the per-call cost
            # beyond the first (the paper's efficiency penalty, N = 1) is already in the pixel task's reward
            for g in range(0, len(results), G):
                group = results[g:g + G]
                bonus = group_bonus([r.components for r in group], args.curiosity_bonus, args.curiosity_target)
                for r, b in zip(group, bonus):
                    r.components["curiosity"] = b   # logged as reward/curiosity and in samples.jsonl
                rewards[g:g + G] += torch.tensor(bonus)

        # 4) group advantages; zero-variance groups give no signal
        advantages, group_std = group_advantages(rewards, G, args.scale_rewards)
        if args.drop_zero_std:
            keep &= group_std > 0
        if args.mask_truncated:
            keep &= torch.tensor([not r.truncated for r in results])
        samples = [(turn, advantages[i].item()) for i, r in enumerate(results) if keep[i] for turn in r.turns]
        # batch-level normalisers (over all kept samples), summed over processes so every process scales alike
        counts = [len(samples), sum(sum(t.completion_mask) for t, _ in samples)]
        if args.beta == 0 and args.loss_type != "bnpo":  # zero advantage: exactly zero loss and gradient, skip it
            # (bnpo normalises by each micro-batch's own token count, so there skipping would change the loss)
            samples = [s for s in samples if s[1] != 0.0]
        samples.sort(key=lambda s: len(s[0].prompt_ids) + len(s[0].completion_ids))  # length-sorted micro-batches
        micro_batches = [samples[i:i + args.micro_batch] for i in range(0, len(samples), args.micro_batch)]
        counts = torch.tensor(counts + [len(micro_batches)], dtype=torch.float, device=device)
        if distributed:
            dist.all_reduce(counts)
        num_sequences, num_tokens, num_micro = (max(c, 1) for c in counts.tolist())

        # 5) + 6) mu passes of the clipped surrogate (+ beta * k3), one optimizer step each
        t1 = time.time()
        stats = Counter()
        model.train()
        for iteration in range(args.num_iterations):
            for mb in micro_batches:
                sequences, mask, old_logprobs, adv = pack(mb, pad_id, device)
                pixels = vlm.cat_pixels([p for t, _ in mb for p in t.pixels], device)  # VLM: images in row order
                C = mask.shape[1]
                with amp:
                    logp, entropy = token_logprobs(model, sequences, C, pad_id, args.temperature, pixels,
                                                   args.logprob_chunk)
                old = logp.detach() if args.num_iterations == 1 else old_logprobs
                token_loss, low, high = clipped_token_loss(logp, old, adv, args.epsilon, args.epsilon_high)
                if args.beta > 0:
                    with torch.no_grad(), amp:
                        if is_peft:
                            with model.disable_adapter():
                                ref_logp, _ = token_logprobs(model, sequences, C, pad_id, args.temperature, pixels,
                                                             args.logprob_chunk)
                        else:
                            ref_logp, _ = token_logprobs(ref_model, sequences, C, pad_id, args.temperature, pixels,
                                                         args.logprob_chunk)
                    kl = k3_kl(logp, ref_logp, args.kl_clamp)
                    token_loss = token_loss + args.beta * kl
                    stats["kl"] += (kl * mask).sum().item()
                loss = aggregate_loss(token_loss, mask, args.loss_type, num_sequences=num_sequences,
                                      num_tokens=num_tokens, max_len=max_new_tokens, num_micro_batches=num_micro)
                loss.backward()
                stats["loss"] += loss.item()
                stats["tokens"] += mask.sum().item()
                stats["clip_low"] += (low * mask).sum().item()
                stats["clip_high"] += (high * mask).sum().item()
                stats["entropy"] += (entropy * mask).sum().item()
                stats["train_tokens"] += sequences.numel()
            if distributed:  # sum, not average: each process's loss is already scaled by the global normaliser
                for p in params:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                    dist.all_reduce(p.grad)
            lr = args.lr * min(1.0, (step * args.num_iterations + iteration + 1) / max(args.warmup_steps, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            grad_norm = torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm).item()
            if math.isfinite(grad_norm):
                optimizer.step()
            else:  # one inf/nan gradient would turn every weight into nan: skip this step (counted in the log)
                skipped_steps += 1
            optimizer.zero_grad(set_to_none=True)
        t_upd = time.time() - t1

        # 7) log, sample, evaluate, save
        tokens = max(stats["tokens"], 1)
        sampled = sum(sum(t.completion_mask) for r in results for t in r.turns)
        components = sorted({k for r in results for k in r.components})
        row = {"step": step + 1, "time": round(time.time() - run_start, 2),
               "reward": rewards.mean().item(), "reward_std": rewards.std().item() if len(rewards) > 1 else 0.0,
               **{f"reward/{k}": sum(r.components.get(k, 0.0) for r in results) / len(results) for k in components},
               "success": sum(r.components.get("success", 0.0) for r in results) / len(results),
               "zero_std_frac": (group_std.view(-1, G)[:, 0] == 0).float().mean().item(),
               "truncated_frac": sum(r.truncated for r in results) / len(results),
               "turns": sum(len(r.turns) for r in results) / len(results),
               "completion_len": sampled / len(results), "loss": stats["loss"] / args.num_iterations,
               "kl": stats["kl"] / tokens, "clip_low": stats["clip_low"] / tokens,
               "clip_high": stats["clip_high"] / tokens, "entropy": stats["entropy"] / tokens,
               "grad_norm": grad_norm, "skipped_steps": skipped_steps, "lr": lr, "kept_frac": keep.float().mean().item(),
               "rollout_tok_s": sampled / t_gen, "train_tok_s": stats["train_tokens"] / max(t_upd, 1e-9),
               "gen_s": round(t_gen, 3), "upd_s": round(t_upd, 3), "step_s": round(time.time() - t0, 3),
               "peak_mem_mb": (torch.cuda.max_memory_allocated() if use_cuda
                               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20}
        if args.reward == "majority":
            row["majority_ratio"] = sum(g[1] for g in groups) / len(groups)
            row["answer_entropy"] = sum(g[2] for g in groups) / len(groups)
            row["buffer_size"] = len(buffer)
        if distributed:  # mean over processes (each holds an equal share of the prompts)
            keys = [k for k in row if k not in ("step", "time")]
            vec = torch.tensor([float(row[k]) for k in keys], device=device)
            dist.all_reduce(vec)
            row.update({k: v / world for k, v in zip(keys, vec.tolist())})
        if rank == 0:
            if args.eval_every and ((step + 1) % args.eval_every == 0 or step + 1 == args.steps):
                with amp:
                    row.update(evaluate(model, tokenizer, task, draw_examples(task, "val", args.eval_examples, args.seed,
                                                                              args.families), max_new_tokens, max_turns, image_processor))
            if args.sample_every and step % args.sample_every == 0:
                for r in results[::G][:3]:  # the first episode of the first three groups
                    samples_file.write(json.dumps({"step": step + 1, "id": r.example["id"], "family": r.example["family"],
                                                   "prompt": tokenizer.decode(r.turns[0].prompt_ids),
                                                   "completions": r.texts, "reward": r.reward,
                                                   "components": r.components, "info": r.info}) + "\n")
                samples_file.flush()
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
            bar.set_postfix(reward=f"{row['reward']:.2f}", success=f"{row['success']:.2f}")
            tqdm.write(f"step {step + 1}/{args.steps} | reward {row['reward']:.3f} (success {row['success']:.2f}) | "
                       f"zero-std {row['zero_std_frac']:.0%} | trunc {row['truncated_frac']:.0%} | "
                       f"kl {row['kl']:.4f} | clip {row['clip_low'] + row['clip_high']:.3f} | "
                       f"ent {row['entropy']:.2f} | gen {t_gen:.1f}s upd {t_upd:.1f}s"
                       + (f" | val success {row['eval/success']:.2f}" if "eval/success" in row else ""))
            if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < args.steps:
                save_checkpoint(model, tokenizer, optimizer, step + 1, args, ckpt_dir, image_processor)

    # ---------------------------------------------------------------- final model
    if rank == 0:
        save_checkpoint(model, tokenizer, optimizer, args.steps, args, ckpt_dir, image_processor)
        model.save_pretrained(out_dir)   # an adapter under LoRA: load with rollout.load_policy or AutoPeftModel
        tokenizer.save_pretrained(out_dir)
        if image_processor is not None:
            image_processor.save_pretrained(out_dir)
        metrics_file.close()
        samples_file.close()
        plot(os.path.join(out_dir, "metrics.jsonl"), os.path.join(out_dir, "plots.png"))
        print(f"saved {out_dir}")
    if distributed:  # the replicas must still be identical: compare every tensor's sum across processes
        sums = torch.stack([p.detach().float().sum() for p in model.parameters()])
        high, low = sums.clone(), sums.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        if rank == 0:
            print(f"replicas: max |difference| of parameter sums across {world} processes = {(high - low).max().item():.3g}")
        dist.barrier()  # leave together: a process tearing gloo down while its peer still talks aborts
        dist.destroy_process_group()
