"""Held-out evaluation of one or more checkpoints on a task's test split, side by side.

Per checkpoint: greedy success rate and mean reward per task family with 95% intervals (Wilson for rates,
normal approximation for mean reward), and optionally pass@k from k sampled episodes per example. Two
reference rows give the scale: "expert" replays the task's demos through the environment (should be 100%:
anything less is a task bug) and "untrained" is a randomly initialised model of the first checkpoint's
architecture.

Smoke:   python eval.py --task vi --model runs/sft-vi --n 20
Default: python eval.py --task vi --model runs/sft-vi runs/grpo-vi
pass@k:  python eval.py --task vi --model runs/grpo-vi --pass-k 8 --temperature 1.0
Images:  python eval.py --task digits --model runs/sft-digits runs/grpo-digits     (vision-language checkpoints)

Writes <out-dir> (default runs/eval-<task>/): results.json and results.png (bar chart per family).
"""
import argparse
import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field

import torch

import vlm
from rollout import check_task_tokens, draw_examples, get_task, load_policy, run_episodes


@dataclass
class Args:
    task: str = "vi"
    """registered task name"""
    model: list = field(default_factory=list)
    """one or more checkpoint dirs (or HF names) to compare"""
    n: int = 200
    """test examples"""
    families: str = "all"
    """only these families and/or difficulties, comma separated; all; or auto = the task's default_families"""
    split: str = "test"
    """split to evaluate on (test is held out by construction)"""
    seed: int = 0
    """seeds the example draw and sampling"""
    pass_k: int = 0
    """also sample k episodes per example and report pass@k (0 = greedy only)"""
    temperature: float = 1.0
    """sampling temperature for pass@k"""
    batch: int = 64
    """episodes per generation batch"""
    max_new_tokens: int = 0
    """tokens per turn; 0 = the task's default"""
    max_turns: int = 0
    """turns per episode; 0 = the task's default"""
    baselines: bool = True
    """include the expert-demo and untrained-model rows"""
    device: str = "auto"
    """auto | cpu | cuda"""
    engine: str = "auto"
    """rollout decoder: static (decode.py, CUDA graphs on CUDA) | hf | auto (static on CUDA where supported)"""
    out_dir: str = ""
    """output dir; empty = runs/eval-<task>"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "model":
            parser.add_argument(flag, nargs="+", action="extend", required=True,
                                help="checkpoint dirs to compare: --model a b, or --model a --model b")
        elif f.type is bool or f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return Args(**vars(parser.parse_args()))


def wilson(successes, n, z=1.96):
    """95% Wilson score interval of a rate."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(examples, successes, rewards):
    """Per family and overall: n, success with its Wilson interval, mean reward +/- 1.96 standard errors."""
    groups = {"all": list(range(len(examples)))}
    for i, ex in enumerate(examples):
        groups.setdefault(ex["family"], []).append(i)
    table = {}
    for name, idx in groups.items():
        s, r = [successes[i] for i in idx], [rewards[i] for i in idx]
        mean_r = sum(r) / len(r)
        se = math.sqrt(sum((x - mean_r) ** 2 for x in r) / max(len(r) - 1, 1) / len(r))
        table[name] = {"n": len(idx), "success": sum(s) / len(s), "success_ci": wilson(sum(s), len(s)),
                       "reward": mean_r, "reward_ci": (mean_r - 1.96 * se, mean_r + 1.96 * se),
                       "difficulty": examples[idx[0]]["difficulty"] if name != "all" else "-"}
    return table


def expert_episodes(task, examples):
    """Replay each demo's trainable segments (the model's part) through the environment."""
    successes, rewards = [], []
    for ex in examples:
        ep = task.reset(ex)
        try:
            done = False
            for sequence in task.demo(ex):
                for text, trainable in sequence:
                    if trainable and not done:
                        _, done = ep.step(text)
            reward, components = ep.reward()
        finally:
            if hasattr(ep, "close"):
                ep.close()
        successes.append(components["success"])
        rewards.append(reward)
    return successes, rewards


def model_episodes(model, tokenizer, task, examples, args, num_generations=1, temperature=0.0, image_processor=None,
                   record=None):
    """Episodes in batches; returns per example (any success over its samples, mean reward of its samples) and
    the mean of every reward component over all episodes. record: a list to append each episode's id, text and
    reward components to (what eval writes to episodes.jsonl)."""
    per_batch = max(1, args.batch // num_generations)
    successes, rewards, components = [], [], {}
    for start in range(0, len(examples), per_batch):
        chunk = examples[start:start + per_batch]
        results = run_episodes(model, tokenizer, task, chunk, num_generations=num_generations,
                               temperature=temperature, max_new_tokens=args.max_new_tokens or None,
                               max_turns=args.max_turns or None, seed=args.seed + start, image_processor=image_processor,
                               engine=args.engine)
        for j in range(len(chunk)):
            group = results[j * num_generations:(j + 1) * num_generations]
            successes.append(max(r.components["success"] for r in group))
            rewards.append(sum(r.reward for r in group) / len(group))
        for r in results:
            for k, v in r.components.items():
                components.setdefault(k, []).append(float(v))
            if record is not None:
                record.append({"id": r.example["id"], "family": r.example.get("family"), "texts": r.texts,
                               "reward": r.reward, "components": {k: float(v) for k, v in r.components.items()}})
    return successes, rewards, {k: sum(v) / len(v) for k, v in components.items()}


def plot(rows, out_png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    families = list(next(iter(rows.values())).keys())
    fig, ax = plt.subplots(figsize=(max(8, len(families) * 1.2), 4.5))
    width = 0.8 / len(rows)
    for k, (name, table) in enumerate(rows.items()):
        xs = [i + k * width for i in range(len(families))]
        ys = [table[f]["success"] for f in families]
        errs = [[max(0.0, y - table[f]["success_ci"][0]) for f, y in zip(families, ys)],  # max: Wilson's bound at
                [max(0.0, table[f]["success_ci"][1] - y) for f, y in zip(families, ys)]]  # p = 1 rounds to 1 - 1e-16
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(families))])
    ax.set_xticklabels(families, rotation=30, ha="right")
    ax.set_ylabel("success (95% CI)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)


if __name__ == "__main__":
    args = parse_args()
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    task = get_task(args.task)
    examples = draw_examples(task, args.split, args.n, args.seed, args.families)
    out_dir = args.out_dir or f"runs/eval-{args.task}"
    os.makedirs(out_dir, exist_ok=True)
    rows, timings, components = {}, {}, {}  # components: greedy episodes' mean reward components per checkpoint
    episodes = {}  # checkpoint -> its greedy episodes (episodes.jsonl: what each model wrote)
    if args.baselines:
        rows["expert"] = summarise(examples, *expert_episodes(task, examples))
    for i, path in enumerate(args.model):
        t0 = time.time()
        model, tokenizer = load_policy(path, device=device)
        image_processor = vlm.load_image_processor(path, model)  # None for a text model
        check_task_tokens(tokenizer, task)
        if i == 0 and args.baselines:  # same architecture, random weights: what training added
            from transformers import AutoModelForCausalLM, AutoModelForImageTextToText
            torch.manual_seed(args.seed)
            base_config = copy.deepcopy(vlm.base_model(model).config)
            if vlm.is_vlm(model):  # built with HF's own vision attention (from_config rejects a custom "flash" name)
                base_config.vision_config._attn_implementation = "sdpa"
                untrained = vlm.pack_vision_attention(AutoModelForImageTextToText.from_config(base_config))
            else:
                untrained = AutoModelForCausalLM.from_config(base_config)
            untrained = untrained.to(device)
            *untrained_results, components["untrained"] = model_episodes(untrained, tokenizer, task, examples, args,
                                                                         image_processor=image_processor)
            rows["untrained"] = summarise(examples, *untrained_results)
            del untrained
        *results, components[path] = model_episodes(model, tokenizer, task, examples, args,
                                                     image_processor=image_processor, record=episodes.setdefault(path, []))
        rows[path] = summarise(examples, *results)
        if args.pass_k:
            *results, _ = model_episodes(model, tokenizer, task, examples, args, args.pass_k, args.temperature,
                                         image_processor)
            rows[f"{path} pass@{args.pass_k}"] = summarise(examples, *results)
        timings[path] = round(time.time() - t0, 1)

    families = list(rows[next(iter(rows))].keys())
    print(f"\n{args.task} | split {args.split} | n={len(examples)} | success (mean reward) per family\n")
    name_w = max(len(n) for n in rows) + 2
    print("".ljust(name_w) + "".join(f"{f[:14]:>16}" for f in families))
    print("".ljust(name_w) + "".join(f"{rows[next(iter(rows))][f]['difficulty']:>16}" for f in families))
    for name, table in rows.items():
        print(name.ljust(name_w) + "".join(f"{table[f]['success']:>9.1%} ({table[f]['reward']:.2f})" for f in families))
    keys = sorted({k for c in components.values() for k in c})
    print(f"\nreward components, mean over all {len(examples)} greedy episodes\n")
    print("".ljust(name_w) + "".join(f"{k[:14]:>16}" for k in keys))
    for name, c in components.items():
        # rates as percentages; components in other units (distance_px, endpoint_px) as plain numbers
        print(name.ljust(name_w) + "".join(f"{'-':>16}" if k not in c else f"{c[k]:>16.1f}" if k.endswith("_px")
                                           else f"{c[k]:>16.1%}" for k in keys))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"args": dataclasses.asdict(args), "rows": rows, "components": components, "seconds": timings}, f, indent=1)
    with open(os.path.join(out_dir, "episodes.jsonl"), "w") as f:
        for path, records in episodes.items():
            for r in records:
                f.write(json.dumps({"model": path, **r}) + "\n")
    plot(rows, os.path.join(out_dir, "results.png"))
    print(f"\nwrote {out_dir}/results.json, episodes.jsonl (each greedy episode's text) and results.png")
