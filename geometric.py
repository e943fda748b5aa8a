"""Geometric optimizer stage (WorldModel's second pass): gradient steps on the LoRA weights plus, every few
steps, a vector jump along the last update and a sphere probe of random directions; a candidate is kept only
if it strictly improves a score (token loss, optionally minus an execution reward).

Differs from the WorldModel seed (which we do not have; this follows its description) in:
1) Candidates are scored in eval mode (no dropout) on a fixed scoring batch drawn once, larger than a training
   batch and taken from the train split, so it never touches the val/test examples we report on.
2) Every trial writes theta0 + delta into the weights and then copies theta0 back: weights are restored bit
   exactly (tests/test_geometric.py checks it), and the accepted candidate is the exact tensor that was scored.
3) Acceptance is reported per epoch (a pass over the training sequences), not cumulatively.
4) --resume restores the optimizer state, the last update d, f, r and the RNG, so a resumed run continues exactly.
5) Added --control (same seed, same data order, same dropout stream, no jumps or probes: any gain over it is the
   probes') and --estimator es (MeZO / evolution strategies: every candidate is scored at theta +/- delta and all
   pairs are combined into one score-weighted step, applied unconditionally, instead of keeping the best one).
6) The presets are ours, not the seed's (which are unknown): conservative = jump every 50 / sphere every 100 steps,
   2 candidates, radius 0.01; primary = 25 / 50, 4, 0.02; aggressive = 10 / 20, 8, 0.05. The radius is a
   fraction of the norm of the trained weights (the LoRA weights; every weight with --full-ft).
7) Score = scoring-batch token loss - sum_k w_k * mean component_k over greedy episodes on --score-episodes
   scoring examples. For exec the default weights give the seed's score: loss - 0.2 syntax - 0.1 ran + 0.5 no-code.

Forward passes are counted in sequences (`fwd`): a training step costs its batch, a score costs the scoring batch
plus its episodes. `--forward-budget` stops a run at a count, so the bench gives every method the same number.

Smoke:   python geometric.py --task toy_tasks:say --model runs/sft-say --steps 6 --jump-every 2 --sphere-every 3
Default: python sft.py --task exec && python geometric.py --task exec --score-episodes 8
Control: python geometric.py --task exec --score-episodes 8 --control          (writes runs/geometric-exec-control)
GPU:     python geometric.py --task exec --model runs/sft-exec --preset aggressive --steps 500 --batch-size 16

Writes runs/geometric-<task>/ (`-control`, `-es` suffixes): args.json, metrics.jsonl, plots.png, the final model
(save_pretrained: a PEFT adapter, or a full model with --full-ft) and ckpt/ (trainable weights, last update,
optimizer, f, r, RNG) for --resume.
"""
import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass

import torch

from rollout import check_task_tokens, field_docs, get_task, load_policy, run_episodes
from sft import collate, length_grouped_batches, sequence_loss_sum, task_sequences, tokenize_sequence, val_loss


@dataclass
class Args:
    # Run
    task: str = "exec"
    """registered task name (exec, vi, or module:name)"""
    model: str = ""
    """SFT checkpoint dir (full model or PEFT adapter); empty = runs/sft-<task>"""
    out_dir: str = ""
    """output dir; empty = runs/geometric-<task> (+ -control or -es)"""
    seed: int = 0
    """seeds the LoRA init, data order, dropout and the probe directions"""
    device: str = "auto"
    """auto | cpu | cuda"""
    dtype: str = "auto"
    """compute dtype: auto (bf16 on CUDA with support, else fp32) | fp32 | bf16"""
    resume: bool = False
    """continue from out_dir/ckpt: same command plus --resume"""
    # Geometric optimizer
    preset: str = "primary"
    """conservative | primary | aggressive: jump/sphere frequencies, candidate count and radius (see docstring)"""
    control: bool = False
    """the identical run with jumps and probes switched off (same seed, data order and dropout)"""
    estimator: str = "best"
    """best (keep the best candidate if it strictly improves the score) | es (combine all +/- pairs, MeZO-style)"""
    jump_every: int = 0
    """vector jump every N steps; 0 = the preset's"""
    sphere_every: int = 0
    """sphere probe every N steps; 0 = the preset's"""
    num_candidates: int = 0
    """candidates per jump or probe (a jump: f*d plus random directions of its length); 0 = the preset's"""
    radius: float = 0.0
    """initial sphere radius r as a fraction of the trained weights' norm; 0 = the preset's"""
    jump_factor: float = 2.0
    """initial f: the jump candidate is theta + f * d, d the last optimizer update"""
    grow: float = 1.5
    """f or r is multiplied by this when its candidate is accepted"""
    shrink: float = 0.7
    """f or r is multiplied by this when every candidate is rejected"""
    f_bounds: str = "0.5,8"
    """min,max of f"""
    r_bounds: str = "0.25,4"
    """min,max of r as multiples of the initial radius"""
    # Score
    score_batch: int = 32
    """sequences in the fixed scoring batch (must exceed --batch-size)"""
    score_episodes: int = 0
    """greedy episodes on fixed scoring examples added to the score (0 = token loss only)"""
    reward_weights: str = ""
    """score = loss - sum w_k * component_k ("no_code" = 1 - code_extracted, "reward" = the task's total);
    empty = exec: syntax_valid=0.2,executed=0.1,no_code=-0.5; other tasks: reward=1"""
    # Gradient steps
    steps: int = 200
    """optimizer steps"""
    forward_budget: int = 0
    """stop once this many sequences were forwarded (training + scoring); 0 = run all --steps"""
    batch_size: int = 8
    """sequences per optimizer step"""
    num_examples: int = 400
    """train-split task examples for the gradient steps"""
    lr: float = 1e-3
    """AdamW learning rate (constant)"""
    max_grad_norm: float = 1.0
    """gradient clipping"""
    full_ft: bool = False
    """train every weight instead of a LoRA adapter (an adapter checkpoint is merged first)"""
    lora_r: int = 8
    """LoRA rank of a fresh adapter (an adapter checkpoint keeps training its own)"""
    lora_alpha: int = 16
    """LoRA alpha"""
    lora_dropout: float = 0.05
    """LoRA dropout (training steps only: scoring runs in eval mode)"""
    lora_targets: str = "all-linear"
    """LoRA target modules, comma separated, or all-linear"""
    # Logging
    eval_every: int = 50
    """val loss and greedy val success every N steps and at the end (0 = only at the end)"""
    eval_examples: int = 32
    """val examples per evaluation"""
    save_every: int = 50
    """checkpoint every N steps"""


PRESETS = {  # ours (the seed's values are unknown): (jump_every, sphere_every, num_candidates, radius)
    "conservative": (50, 100, 2, 0.01),
    "primary": (25, 50, 4, 0.02),
    "aggressive": (10, 20, 8, 0.05),
}
SEED_EXEC_WEIGHTS = {"syntax_valid": 0.2, "executed": 0.1, "no_code": -0.5}


def parse_args(argv=None):
    docs = field_docs(Args)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", help=docs[f.name])
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help=docs[f.name])
    return Args(**vars(parser.parse_args(argv)))


# ----------------------------------------------------------------------------------------------
# The parts with a name: functions of lists of tensors (theta = the trained weights), tested in
# tests/test_geometric.py on the model's weights and on a toy quadratic.


def flat_norm(tensors):
    return math.sqrt(sum(t.double().pow(2).sum().item() for t in tensors))


def random_directions(like, n, length, generator):
    """n random directions shaped like `like` (a list of tensors), each of total norm `length`.
    Drawn on the CPU from `generator`, so the same seed gives the same directions on any device."""
    out = []
    for _ in range(n):
        u = [torch.randn(t.shape, generator=generator, dtype=torch.float32) for t in like]
        scale = length / max(flat_norm(u), 1e-12)
        out.append([(x * scale).to(t.device, t.dtype) for x, t in zip(u, like)])
    return out


def jump_candidates(last_update, f, n, generator):
    """Vector jump: f * d (d the last optimizer update) and n - 1 random directions of the same length."""
    jump = [f * d for d in last_update]
    return [jump] + random_directions(last_update, n - 1, flat_norm(jump), generator)


def sphere_candidates(theta, n, r, generator):
    """Sphere probe: n random directions of length r * ||theta||."""
    return random_directions(theta, n, r * flat_norm(theta), generator)


@torch.no_grad()
def restore(params, theta0):
    """Copy the saved weights back: bit exact, whatever was written in between."""
    for p, t in zip(params, theta0):
        p.copy_(t)


@torch.no_grad()
def score_candidates(params, deltas, score_fn, signs=(1,)):
    """Score theta0 + sign * delta for every delta (and sign) with the weights restored after each trial.
    Returns scores[i][j] for deltas[i] and signs[j]."""
    theta0 = [p.detach().clone() for p in params]
    scores = []
    for delta in deltas:
        row = []
        for sign in signs:
            for p, t, d in zip(params, theta0, delta):
                p.copy_(t + sign * d)
            row.append(score_fn())
            restore(params, theta0)
        scores.append(row)
    return scores


def accept_best(current, scores):
    """Index of the lowest score if it is strictly lower than the current one, else None (ties are rejected)."""
    best = min(range(len(scores)), key=lambda i: scores[i])
    return best if scores[best] < current else None


@torch.no_grad()
def apply_delta(params, delta, sign=1):
    """theta <- theta + sign * delta, computed as in score_candidates so an accepted candidate is bit-identical."""
    for p, d in zip(params, delta):
        p.copy_(p.detach().clone() + sign * d)


def es_update(deltas, plus_scores, minus_scores):
    """MeZO / ES step from paired trials: -sum_i w_i delta_i with w_i = (s+_i - s-_i) / sum_j |s+_j - s-_j|.
    Every pair votes for the side that lowered the score, weighted by how much; the step is no longer than
    one delta. All pairs tied gives a zero step."""
    diffs = [p - m for p, m in zip(plus_scores, minus_scores)]
    total = sum(abs(x) for x in diffs)
    weights = [-x / total if total > 0 else 0.0 for x in diffs]
    return [sum(w * d[k] for w, d in zip(weights, deltas)) for k in range(len(deltas[0]))]


def adapt(value, accepted, grow, shrink, lo, hi):
    """Grow on acceptance, shrink on rejection, within [lo, hi]."""
    return min(max(value * (grow if accepted else shrink), lo), hi)


def weighted_score(loss, components, weights):
    """Score to minimise: loss - sum_k w_k * component_k (components averaged over the scoring episodes)."""
    return loss - sum(w * components.get(k, 0.0) for k, w in weights.items())


def episode_components(results):
    """Mean reward components over episodes, plus "reward" (the total) and "no_code" (1 - code_extracted)."""
    keys = sorted({k for r in results for k in r.components})
    mean = {k: sum(r.components.get(k, 0.0) for r in results) / len(results) for k in keys}
    mean["reward"] = sum(r.reward for r in results) / len(results)
    if "code_extracted" in mean:
        mean["no_code"] = 1.0 - mean["code_extracted"]
    return mean


def save_checkpoint(path, model, tokenizer, params, optimizer, last_update, state):
    """Atomic (temp dir, then rename). The frozen base is not saved: it is reloaded from --model."""
    from safetensors.torch import save_file
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_file({f"{i}": p.detach().cpu().contiguous() for i, p in enumerate(params)}, os.path.join(tmp, "trainable.safetensors"))
    if last_update is not None:
        save_file({f"{i}": d.cpu().contiguous() for i, d in enumerate(last_update)}, os.path.join(tmp, "last_update.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
               os.path.join(tmp, "training_state.pt"))
    tokenizer.save_pretrained(tmp)
    with open(os.path.join(tmp, "state.json"), "w") as f:
        json.dump(state, f, indent=2)
    if os.path.exists(path):
        os.rename(path, path + ".old")
    os.rename(tmp, path)
    shutil.rmtree(path + ".old", ignore_errors=True)


def plot(rows, out_png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    steps = [r["step"] for r in rows]
    axes[0, 0].plot(steps, [r["loss"] for r in rows], lw=0.8, label="train batch loss")
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    if val:
        axes[0, 0].plot(*zip(*val), "o-", label="val loss")
    probes = [(r["step"], p) for r in rows for p in r.get("probes", [])]
    for accepted, marker in ((True, "g^"), (False, "rx")):
        pts = [(s, p["score"]) for s, p in probes if p.get("accepted") == accepted]
        if pts:
            axes[0, 1].plot(*zip(*pts), marker, label="accepted" if accepted else "rejected")
    es = [(s, p["score"]) for s, p in probes if "accepted" not in p]
    if es:
        axes[0, 1].plot(*zip(*es), "b.", label="es (mean of +/- scores)")
    axes[1, 0].plot(steps, [r["f"] for r in rows], label="f (jump factor)")
    axes[1, 0].plot(steps, [r["r"] for r in rows], label="r (sphere radius)")
    axes[1, 0].set_yscale("log")
    axes[1, 1].plot(steps, [r["lora_norm"] for r in rows], label="trained-weight norm")
    for ax, title in zip(axes.flat, ["loss", "score at probes", "f and r", "norm"]):
        ax.set_title(title)
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    args = parse_args()
    # ---------------------------------------------------------------- setup and derived values
    if args.preset not in PRESETS:
        raise SystemExit(f"unknown --preset {args.preset!r}: use {', '.join(PRESETS)}")
    if args.estimator not in ("best", "es"):
        raise SystemExit(f"unknown --estimator {args.estimator!r}: use best or es")
    if args.control and args.estimator != "best":
        raise SystemExit("--control switches the probes off; it takes no --estimator")
    preset = dict(zip(["jump_every", "sphere_every", "num_candidates", "radius"], PRESETS[args.preset]))
    for k, v in preset.items():  # 0 = take the preset's value; print which ones were overridden
        if getattr(args, k) == 0:
            setattr(args, k, v)
        else:
            print(f"--{k.replace('_', '-')} {getattr(args, k)} overrides the {args.preset} preset's {v}")
    if min(args.jump_every, args.sphere_every, args.num_candidates) < 1 or args.radius <= 0:
        raise SystemExit("--jump-every, --sphere-every, --num-candidates and --radius must be positive")
    if args.score_batch <= args.batch_size:
        raise SystemExit(f"--score-batch {args.score_batch} must exceed --batch-size {args.batch_size}: a score on one "
                         f"batch's worth of sequences is too noisy to accept candidates on")
    f_min, f_max = (float(x) for x in args.f_bounds.split(","))
    r_min, r_max = (float(x) * args.radius for x in args.r_bounds.split(","))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    amp_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(args.dtype)
    if args.dtype == "auto":
        amp_dtype = torch.bfloat16 if use_cuda and torch.cuda.is_bf16_supported() else torch.float32
    elif amp_dtype is None:
        raise SystemExit(f"unknown --dtype {args.dtype!r}: use auto, fp32 or bf16")
    task = get_task(args.task)
    task_name = args.task.split(":")[-1]
    suffix = "-control" if args.control else "-es" if args.estimator == "es" else ""
    out_dir = args.out_dir or f"runs/geometric-{task_name}{suffix}"
    ckpt_dir = os.path.join(out_dir, "ckpt")
    model_path = args.model or f"runs/sft-{task_name}"
    if not os.path.exists(model_path) and not args.model:
        raise SystemExit(f"no SFT checkpoint at {model_path}: run `python sft.py --task {args.task}` first (or pass --model)")
    if args.resume and not os.path.exists(os.path.join(ckpt_dir, "state.json")):
        raise SystemExit(f"--resume: no checkpoint in {ckpt_dir}")
    weights = {k: float(v) for k, v in (kv.split("=") for kv in args.reward_weights.split(",") if kv)}
    if not weights and args.score_episodes:
        weights = dict(SEED_EXEC_WEIGHTS) if task.name == "exec" else {"reward": 1.0}

    # ---------------------------------------------------------------- model: LoRA over the SFT checkpoint
    # The base is loaded in the compute dtype under LoRA; what we train (and perturb) is kept in fp32.
    model, tokenizer = load_policy(model_path, amp_dtype if not args.full_ft else torch.float32, device,
                                   is_trainable=True)
    check_task_tokens(tokenizer, task)
    from peft import LoraConfig, PeftModel, get_peft_model
    torch.manual_seed(args.seed)  # the LoRA init
    if args.full_ft:
        if isinstance(model, PeftModel):
            model = model.merge_and_unload()
        model.requires_grad_(True)
    elif not isinstance(model, PeftModel):
        targets = "all-linear" if args.lora_targets == "all-linear" else args.lora_targets.split(",")
        model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                                                 target_modules=targets, task_type="CAUSAL_LM"))
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    # ---------------------------------------------------------------- data: train, fixed scoring batch, val
    def tokenized(split, n, seed):
        seqs = task_sequences(task, split, n, seed, tokenizer.eos_token)
        return [t for t in (tokenize_sequence(tokenizer, s) for s in seqs) if any(l != -100 for l in t[1][1:])]

    train_data = tokenized("train", args.num_examples, args.seed)
    # train split, another seed: never the val/test examples (it may share examples with the training data);
    # drawn once so every score sees the same sequences
    score_data = tokenized("train", args.score_batch, args.seed + 7919)[:args.score_batch]
    score_episode_examples = task.examples("train", args.score_episodes, seed=args.seed + 7919) if args.score_episodes else []
    val_data = tokenized("val", args.eval_examples, args.seed)
    val_examples = task.examples("val", args.eval_examples, seed=args.seed)
    lengths = [len(ids) for ids, _ in train_data]
    batches_per_epoch = len(length_grouped_batches(lengths, args.batch_size, args.seed, 0, 32))

    def batch_at(step):  # the step's batch: epoch order is a pure function of (seed, epoch), shared by --control
        epoch, i = divmod(step, batches_per_epoch)
        return [train_data[j] for j in length_grouped_batches(lengths, args.batch_size, args.seed, epoch, 32)[i]]

    def score():
        """(score, loss, components) of the current weights, in eval mode; adds its cost to fwd."""
        global fwd
        loss = val_loss(model, score_data, args.score_batch, pad_id, device, amp_dtype)
        fwd += len(score_data)
        components = {}
        if score_episode_examples:
            results = run_episodes(model, tokenizer, task, score_episode_examples, temperature=0.0)
            components = episode_components(results)
            fwd += len(results)
        return weighted_score(loss, components, weights), loss, components

    # ---------------------------------------------------------------- fresh start or resume
    f, r, fwd, start_step = args.jump_factor, args.radius, 0, 0
    last_update = None
    epoch_tried = epoch_accepted = 0
    os.makedirs(out_dir, exist_ok=True)
    metrics_path = os.path.join(out_dir, "metrics.jsonl")
    if args.resume:
        from safetensors.torch import load_file
        state = json.load(open(os.path.join(ckpt_dir, "state.json")))
        saved = load_file(os.path.join(ckpt_dir, "trainable.safetensors"), device=str(device))
        if len(saved) != len(params) or any(saved[f"{i}"].shape != p.shape for i, p in enumerate(params)):
            raise SystemExit(f"--resume: {ckpt_dir} does not match this model's trainable weights")
        restore(params, [saved[f"{i}"] for i in range(len(params))])
        if os.path.exists(os.path.join(ckpt_dir, "last_update.safetensors")):
            saved = load_file(os.path.join(ckpt_dir, "last_update.safetensors"), device=str(device))
            last_update = [saved[f"{i}"] for i in range(len(params))]
        training_state = torch.load(os.path.join(ckpt_dir, "training_state.pt"), weights_only=True)
        optimizer.load_state_dict(training_state["optimizer"])
        torch.set_rng_state(training_state["torch_rng"])
        if training_state["cuda_rng"]:
            torch.cuda.set_rng_state_all(training_state["cuda_rng"])
        start_step, f, r, fwd = state["step"], state["f"], state["r"], state["fwd"]
        epoch_tried, epoch_accepted = state["epoch_tried"], state["epoch_accepted"]
        rows = [json.loads(line) for line in open(metrics_path)] if os.path.exists(metrics_path) else []
        rows = [row for row in rows if row["step"] <= start_step]  # steps after the checkpoint are redone
        print(f"resumed from {ckpt_dir} at step {start_step}")
    else:
        rows = []
        with open(os.path.join(out_dir, "args.json"), "w") as fh:
            json.dump(dataclasses.asdict(args), fh, indent=2)
        torch.manual_seed(args.seed + 1)  # the dropout stream: identical in --control and probe runs
    with open(metrics_path, "w") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)
    mode = "control (no probes)" if args.control else f"estimator {args.estimator}"
    print(f"geometric: task {args.task} | model {model_path} | {sum(p.numel() for p in params):,} trained params "
          f"({'full' if args.full_ft else 'LoRA'}) | {device} {amp_dtype} | {mode} | preset {args.preset}: jump every "
          f"{args.jump_every}, sphere every {args.sphere_every}, {args.num_candidates} candidates, radius {args.radius} | "
          f"{len(train_data)} train seqs ({batches_per_epoch} batches/epoch), score on {len(score_data)} seqs + "
          f"{len(score_episode_examples)} episodes {weights or ''} | out {out_dir}")

    def plan(step):
        """(the probes due after this step's gradient step, the sequences the step will forward)."""
        due = [] if args.control else [k for k, every in (("jump", args.jump_every), ("sphere", args.sphere_every))
                                       if (step + 1) % every == 0]
        scores = len(due) * args.num_candidates * (2 if args.estimator == "es" else 1)
        scores += args.estimator == "best" and bool(due)  # the current weights' score, once per step
        return due, args.batch_size + scores * (len(score_data) + len(score_episode_examples))

    # ---------------------------------------------------------------- the loop
    run_start = time.time()
    model.train()
    for step in range(start_step, args.steps):
        due, cost = plan(step)
        if args.forward_budget and fwd + cost > args.forward_budget:  # stop under the budget, never past it
            print(f"stopping before step {step + 1}: it would pass the forward budget {args.forward_budget} ({fwd} used)")
            break
        t0 = time.time()
        epoch = step // batches_per_epoch
        # 1) an ordinary gradient step; d = the update it made (what the vector jump extrapolates)
        batch = batch_at(step)
        input_ids, attention, labels = collate(batch, pad_id, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
            loss_sum = sequence_loss_sum(model, input_ids, attention, labels)
        n_targets = int((labels[:, 1:] != -100).sum())
        (loss_sum / n_targets).backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm).item()
        before = [p.detach().clone() for p in params]
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        last_update = [p.detach() - b for p, b in zip(params, before)]
        fwd += len(batch)
        row = {"step": step + 1, "epoch": epoch, "loss": loss_sum.item() / n_targets, "grad_norm": grad_norm}

        # 2) vector jump and sphere probe (none under --control): candidates are deltas from the current weights
        probes, current = [], None
        for kind in due:
            generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step * 2 + (kind == "sphere"))
            if kind == "jump":
                deltas = jump_candidates(last_update, f, args.num_candidates, generator)
            else:
                deltas = sphere_candidates([p.detach() for p in params], args.num_candidates, r, generator)
            probe = {"kind": kind, "f": f} if kind == "jump" else {"kind": kind, "r": r}
            if args.estimator == "best":
                if current is None:
                    current = score()[0]
                before_score = current
                scores = [s[0][0] for s in score_candidates(params, deltas, score)]
                best = accept_best(current, scores)
                if best is not None:
                    apply_delta(params, deltas[best])
                    current = scores[best]
                if kind == "jump":
                    f = adapt(f, best is not None, args.grow, args.shrink, f_min, f_max)
                else:
                    r = adapt(r, best is not None, args.grow, args.shrink, r_min, r_max)
                epoch_tried += 1
                epoch_accepted += best is not None
                probe.update(score_before=before_score, candidate_scores=scores, accepted=best is not None,
                             accepted_index=best, score=current)
            else:  # es: every delta at +/-, all pairs combined into one step, applied unconditionally
                pm = score_candidates(params, deltas, score, signs=(1, -1))
                plus, minus = [s[0][0] for s in pm], [s[1][0] for s in pm]
                apply_delta(params, es_update(deltas, plus, minus))
                probe.update(score=sum(plus + minus) / (2 * len(plus)), plus_scores=plus, minus_scores=minus)
            probes.append(probe)
        row.update({"f": f, "r": r, "lora_norm": flat_norm([p.detach() for p in params]), "fwd": fwd})
        if probes:
            row["probes"] = probes
            row["score"] = probes[-1]["score"]
            row["accepted"] = any(p.get("accepted", False) for p in probes)
        row["accept_epoch"] = f"{epoch_accepted}/{epoch_tried}"
        if (step + 1) % batches_per_epoch == 0:  # per epoch, not cumulative
            print(f"epoch {epoch}: accepted {epoch_accepted} of {epoch_tried} jumps/probes")
            row["epoch_accept_rate"] = epoch_accepted / epoch_tried if epoch_tried else None
            epoch_tried = epoch_accepted = 0

        # 3) evaluate, log, save
        last = step + 1 == args.steps or (args.forward_budget and fwd + plan(step + 1)[1] > args.forward_budget)
        if (args.eval_every and (step + 1) % args.eval_every == 0) or last:
            row["val_loss"] = val_loss(model, val_data, args.score_batch, pad_id, device, amp_dtype)
            results = run_episodes(model, tokenizer, task, val_examples, temperature=0.0)
            row["val_success"] = sum(x.components["success"] for x in results) / len(results)
            row["val_reward"] = sum(x.reward for x in results) / len(results)
        row.update(time=round(time.time() - run_start, 2), step_s=round(time.time() - t0, 3))
        rows.append(row)
        with open(metrics_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"step {step + 1}/{args.steps} | loss {row['loss']:.4f} | fwd {fwd} | norm {row['lora_norm']:.3f} | "
              f"f {f:.2f} r {r:.4f}"
              + "".join(f" | {p['kind']} {p['score']:.4f} " + (("accepted" if p["accepted"] else "rejected")
                                                                if "accepted" in p else "es step") for p in probes)
              + (f" | val loss {row['val_loss']:.4f} success {row['val_success']:.2f}" if "val_loss" in row else ""))
        if (args.save_every and (step + 1) % args.save_every == 0) or last:
            save_checkpoint(ckpt_dir, model, tokenizer, params, optimizer, last_update,
                            {"step": step + 1, "f": f, "r": r, "fwd": fwd, "epoch_tried": epoch_tried,
                             "epoch_accepted": epoch_accepted, "args": dataclasses.asdict(args)})

    # ---------------------------------------------------------------- final model
    model.save_pretrained(out_dir)  # a PEFT adapter over --model (or a full model with --full-ft)
    tokenizer.save_pretrained(out_dir)
    plot(rows, os.path.join(out_dir, "plots.png"))
    print(f"saved {out_dir} (metrics.jsonl, plots.png, ckpt/)")
