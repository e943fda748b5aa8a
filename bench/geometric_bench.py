"""Does the geometric optimizer help? geometric (keep-the-best probes) vs --control (gradient steps only) vs
--estimator es (MeZO-style pairs), from the same SFT checkpoint, 3 seeds, the same number of forward passes.

The geometric run goes first for --steps steps; its forward count (sequences forwarded, training + scoring, see
geometric.py) becomes the --forward-budget of the control and es runs, so they pay at most the same forward
passes (the control spends them all on gradient steps). control-steps is the control at geometric's step count
instead: the same run minus the probes. Every final model is scored on the task's *test* split:
token loss of the expert demos (eval mode) and greedy episodes (reward, success, reward components).

    python bench/geometric_bench.py --quick                 # CPU toy: tiny model, toy "say" task, ~6 min on 2 cores
    python bench/geometric_bench.py --tasks exec,vi         # GPU: needs runs/sft-exec and runs/sft-vi
    python bench/geometric_bench.py --tasks exec --steps 300 --geometric-args "--preset aggressive --lr 2e-4"

Writes <out-dir>/<task>/<method>-seed<k>/ (each a geometric.py run dir) and <out-dir>/results.json.

Measured 2026-11-23, `--quick`, 2 shared CPU cores, 3 seeds, test-split loss (mean ± std): sft start 1.6952;
geometric 1.6359 ± 0.0012 (40 steps, 2192 fwd, 67% accepted); control at equal fwd 1.6251 ± 0.0000 (274 steps);
control-steps 1.6558 ± 0.0013 (40 steps); es 1.6759 ± 0.0007 (29 steps, 1960 fwd). On this toy the probes beat
the same gradient steps without them but lose to spending their forward passes on gradient steps.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]  # tests/ holds the toy task of --quick
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "tests"), ROOT, os.environ.get("PYTHONPATH", "")])}
# control: the same forward passes, all spent on gradient steps; control-steps: the same gradient steps as
# geometric (the identical run minus the probes: the gain per step that the probes bring)
scoring = threading.Lock()  # test-split scoring runs in this process: one checkpoint at a time
METHODS = {"geometric": [], "control": ["--control"], "control-steps": ["--control"], "es": ["--estimator", "es"]}


def sh(argv):
    out = subprocess.run([sys.executable, *argv], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return out.stdout


def test_metrics(model_dir, task_name, n, seed):
    """Held-out numbers of one checkpoint: test-split demo loss (eval mode) and greedy episodes."""
    import torch
    from geometric import episode_components
    from sft import val_loss
    from rollout import get_task, load_policy, run_episodes
    from sft import task_sequences, tokenize_sequence
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    task = get_task(task_name)
    model, tokenizer = load_policy(model_dir, device=device)
    model.eval()
    seqs = task_sequences(task, "test", n, seed, tokenizer.eos_token)
    data = [tokenize_sequence(tokenizer, s) for s in seqs]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loss = val_loss(model, data, 32, pad_id, device, torch.float32)
    results = run_episodes(model, tokenizer, task, task.examples("test", n, seed), temperature=0.0)
    return {"test_loss": loss, **{f"test_{k}": v for k, v in episode_components(results).items()}}


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.4f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU toy: tiny model trained briefly on toy_tasks:say")
    ap.add_argument("--tasks", default="exec,vi", help="comma-separated tasks (ignored with --quick)")
    ap.add_argument("--sft", default="", help="task=checkpoint,... ; default runs/sft-<task>")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per method")
    ap.add_argument("--steps", type=int, default=200, help="gradient steps of the geometric run (sets the budget)")
    ap.add_argument("--score-episodes", type=int, default=8, help="greedy episodes in every score")
    ap.add_argument("--test-examples", type=int, default=100, help="test-split examples per evaluation")
    ap.add_argument("--geometric-args", default="", help="extra flags for every geometric.py run")
    ap.add_argument("--jobs", type=int, default=1,
                    help="seeds run concurrently (one GPU holds several small runs; wall_s then includes sharing)")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    ap.add_argument("--forward-budget", type=int, default=0,
                    help="forward sequences for control and es when geometric is not among --methods (e.g. its "
                         "count from an earlier run of the same settings)")
    ap.add_argument("--out-dir", default="runs/bench-geometric", help="where the runs and results.json go")
    args = ap.parse_args()
    methods = args.methods.split(",")
    if set(methods) - set(METHODS):
        raise SystemExit(f"unknown methods {sorted(set(methods) - set(METHODS))}; known: {list(METHODS)}")
    if "geometric" not in methods and {"control", "es"} & set(methods) and args.forward_budget <= 0:
        raise SystemExit("control and es spend geometric's forward passes: run geometric too or pass --forward-budget")

    extra = shlex.split(args.geometric_args)
    sft = dict(kv.split("=", 1) for kv in args.sft.split(",") if kv)
    tasks = ["toy_tasks:say"] if args.quick else args.tasks.split(",")
    if args.quick:  # toy sizes: a briefly trained tiny model leaves room to improve
        args.steps, args.score_episodes, args.test_examples = min(args.steps, 40), min(args.score_episodes, 4), 32
        extra = ["--preset", "aggressive", "--num-examples", "64", "--eval-every", "0", "--eval-examples", "8",
                 "--lr", "3e-4", "--device", "cpu"] + extra
        path = os.path.join(args.out_dir, "sft-say")
        if "toy_tasks:say" not in sft:
            if not os.path.exists(os.path.join(path, "config.json")):
                sh(["sft.py", "--task", "toy_tasks:say", "--model", "tiny", "--model-size", "tiny", "--steps", "12",
                    "--num-examples", "64", "--batch-size", "8", "--warmup-steps", "2", "--eval-every", "1000",
                    "--save-every", "1000", "--out-dir", path, "--device", "cpu"])
            sft["toy_tasks:say"] = path
    results = {}
    for task in tasks:
        name = task.split(":")[-1]
        base = sft.get(task, f"runs/sft-{name}")
        if not os.path.exists(base):
            raise SystemExit(f"no SFT checkpoint for {task} at {base}: run `python sft.py --task {task}` or pass --sft")
        rows = {"sft (start)": [test_metrics(base, task, args.test_examples, 0)]}

        def run_seed(seed):  # the methods of one seed, in order (control and es need geometric's budget)
            budget, seed_rows = args.forward_budget or None, {}
            for method in methods:
                flags = METHODS[method]
                out = os.path.join(args.out_dir, name, f"{method}-seed{seed}")
                limit = ["--steps", str(args.steps)]
                if method in ("control", "es"):
                    limit = ["--steps", str(100 * args.steps), "--forward-budget", str(budget)]
                t0 = time.time()
                sh(["geometric.py", "--task", task, "--model", base, "--out-dir", out, "--seed", str(seed),
                    "--score-episodes", str(args.score_episodes), *limit, *flags, *extra])
                wall = time.time() - t0
                log = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
                if method == "geometric":
                    budget = log[-1]["fwd"]
                probes = [p for m in log for p in m.get("probes", [])]
                accepted = [p["accepted"] for p in probes if "accepted" in p]
                with scoring:
                    row = {"steps": log[-1]["step"], "fwd": log[-1]["fwd"], "wall_s": wall,
                           "accept_rate": sum(accepted) / len(accepted) if accepted else None,
                           **test_metrics(out, task, args.test_examples, 0)}
                seed_rows[method] = row
                print(f"{task} seed {seed} {method}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                                   if isinstance(v, (int, float))), flush=True)
            return seed_rows

        with ThreadPoolExecutor(args.jobs) as pool:
            for seed_rows in pool.map(run_seed, range(args.seeds)):
                for method, row in seed_rows.items():
                    rows.setdefault(method, []).append(row)
        results[task] = rows

    for task, rows in results.items():
        keys = ["test_loss", "test_reward", "test_success"] + sorted(
            {k for r in rows["sft (start)"] for k in r if k.startswith("test_")} - {"test_loss", "test_reward", "test_success"})
        print(f"\n{task}: {args.seeds} seeds, held-out test split ({args.test_examples} examples), mean ± std")
        header = f"{'method':<13}{'steps':>7}{'fwd':>8}{'wall s':>8}{'accept':>8}" + "".join(f"{k[5:]:>22}" for k in keys)
        print(header)
        for method, rs in rows.items():
            num = lambda k: statistics.mean(r[k] for r in rs) if all(k in r for r in rs) else None
            accept = [r["accept_rate"] for r in rs if r.get("accept_rate") is not None]
            print(f"{method:<13}{num('steps') or 0:>7.0f}{num('fwd') or 0:>8.0f}{num('wall_s') or 0:>8.1f}"
                  f"{(f'{statistics.mean(accept):.2f}' if accept else '-'):>8}"
                  + "".join(f"{mean_std([r.get(k) for r in rs]):>22}" for k in keys))
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=2)
    print(f"\nwrote {os.path.join(args.out_dir, 'results.json')}")


if __name__ == "__main__":
    main()
