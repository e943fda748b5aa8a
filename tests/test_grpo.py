"""grpo.py and eval.py end to end on a toy task with a tiny model built from scratch (CPU, seconds)."""
import json
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "tests") + os.pathsep + ROOT, "OMP_NUM_THREADS": "1"}


def run(*argv, timeout=300):
    out = subprocess.run([sys.executable, *argv], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from sft import build_char_tokenizer, build_tiny_model
    from toy_tasks import TASKS
    path = str(tmp_path_factory.mktemp("tiny"))
    tokenizer = build_char_tokenizer(TASKS["say"].special_tokens)
    torch.manual_seed(0)
    build_tiny_model(tokenizer, "tiny").save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def metrics(out_dir):
    return [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]


GRPO = ["grpo.py", "--task", "toy_tasks:say", "--prompts-per-step", "4", "--num-generations", "8",
        "--eval-every", "0", "--lr", "1e-2"]


def test_grpo_raises_toy_reward(tiny_checkpoint, tmp_path):
    out = str(tmp_path / "run")
    run(*GRPO, "--model", tiny_checkpoint, "--out-dir", out, "--steps", "20")
    rewards = [m["reward"] for m in metrics(out)]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.3, rewards
    for key in ["reward_std", "success", "zero_std_frac", "kl", "clip_low", "clip_high", "entropy",
                "completion_len", "truncated_frac", "turns", "rollout_tok_s", "train_tok_s", "step_s", "peak_mem_mb"]:
        assert key in metrics(out)[0], key
    assert os.path.exists(os.path.join(out, "plots.png")) and os.path.exists(os.path.join(out, "samples.jsonl"))
    # eval.py reads the result side by side with its start
    ev = str(tmp_path / "eval")
    run("eval.py", "--task", "toy_tasks:say", "--model", tiny_checkpoint, out, "--n", "16", "--out-dir", ev)
    rows = json.load(open(os.path.join(ev, "results.json")))["rows"]
    assert rows["expert"]["all"]["success"] == 1.0
    assert rows[out]["all"]["reward"] > rows[tiny_checkpoint]["all"]["reward"] + 0.3
    # episodes.jsonl: each checkpoint's 16 greedy episodes, with the text the model wrote and its reward
    episodes = [json.loads(line) for line in open(os.path.join(ev, "episodes.jsonl"))]
    mine = [e for e in episodes if e["model"] == out]
    assert len(mine) == 16 and {e["model"] for e in episodes} == {tiny_checkpoint, out}
    assert sum(e["reward"] for e in mine) / 16 == pytest.approx(rows[out]["all"]["reward"])
    assert all(isinstance(e["texts"][0], str) and e["id"] for e in mine)


def test_resume_continues_exactly(tiny_checkpoint, tmp_path):
    straight, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    common = [*GRPO, "--model", tiny_checkpoint, "--lora-r", "4", "--num-iterations", "2", "--beta", "0.05"]
    run(*common, "--out-dir", straight, "--steps", "4")
    run(*common, "--out-dir", resumed, "--steps", "2")
    run(*common, "--out-dir", resumed, "--steps", "4", "--resume")
    assert [m["step"] for m in metrics(resumed)] == [1, 2, 3, 4]
    a, b = metrics(straight), metrics(resumed)
    assert a[-1]["reward"] == pytest.approx(b[-1]["reward"]) and a[-1]["loss"] == pytest.approx(b[-1]["loss"], rel=1e-4)
    from safetensors.torch import load_file
    wa = load_file(os.path.join(straight, "adapter_model.safetensors"))
    wb = load_file(os.path.join(resumed, "adapter_model.safetensors"))
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5


def test_two_process_gloo_replicas_stay_identical(tiny_checkpoint, tmp_path):
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29517", *GRPO, "--model", tiny_checkpoint, "--out-dir", str(tmp_path / "ddp"), "--steps", "2"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    line = [l for l in out.stdout.splitlines() if l.startswith("replicas:")][0]
    assert float(line.rsplit("=", 1)[1]) == 0.0, line


def test_missing_checkpoint_names_the_fix(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "grpo.py"), "--task", "toy_tasks:say", "--out-dir", str(tmp_path)],
                         cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert out.returncode != 0 and "python sft.py --task toy_tasks:say" in out.stderr
    out = subprocess.run([sys.executable, os.path.join(ROOT, "grpo.py"), "--task", "nope"], cwd=tmp_path,
                         env=ENV, capture_output=True, text=True)
    assert out.returncode != 0 and "unknown task 'nope'" in out.stderr


def test_a_checkpoint_with_nan_weights_is_refused_by_name(tiny_checkpoint, tmp_path):
    """Call P: an SFT run's weights had gone nan; grpo.py then died in torch.multinomial, eval.py wrote <pad>s."""
    from safetensors.torch import load_file, save_file
    from rollout import load_policy
    bad = tmp_path / "nan"
    model, tokenizer = load_policy(tiny_checkpoint)
    weights = {n: p.detach().clone() for n, p in model.state_dict().items()}
    name = next(n for n in weights if n.endswith("mlp.up_proj.weight"))
    weights[name][0, 0] = float("nan")
    model.save_pretrained(bad)
    tokenizer.save_pretrained(bad)
    files = list(bad.glob("*.safetensors"))
    save_file({n: w for n, w in weights.items() if n in load_file(files[0])}, files[0], metadata={"format": "pt"})
    with pytest.raises(ValueError, match=f"1 weight tensors hold nan or inf, e.g. \\['{name}'\\]"):
        load_policy(str(bad))
