"""geometric.py: trials restore the weights bit exactly, a worse (or tied) candidate is never kept, probes and ES find
an improvement on a toy problem, and the stage runs end to end (control, es, resume) on a tiny model (CPU, ~1 min)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from geometric import (accept_best, adapt, apply_delta, es_update, flat_norm, jump_candidates, score_candidates,
                       sphere_candidates, weighted_score)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "tests") + os.pathsep + ROOT, "OMP_NUM_THREADS": "1"}


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


def lora_model():
    from peft import LoraConfig, get_peft_model
    from sft import build_char_tokenizer, build_tiny_model
    torch.manual_seed(0)
    model = build_tiny_model(build_char_tokenizer(["</say>"]), "tiny")
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    return model, [p for p in model.parameters() if p.requires_grad]


def test_trials_restore_weights_bit_exactly_and_accept_what_was_scored():
    model, params = lora_model()
    theta0 = [p.detach().clone() for p in params]
    ids = torch.arange(3, 20)[None]
    seen = []

    def score_fn():  # a real forward pass on the trial weights; remember what was scored
        seen.append([p.detach().clone() for p in params])
        return model(input_ids=ids).logits.float().pow(2).mean().item()

    deltas = sphere_candidates([p.detach() for p in params], 3, 0.05, torch.Generator().manual_seed(1))
    scores = score_candidates(params, deltas, score_fn, signs=(1, -1))
    assert len(scores) == 3 and all(len(s) == 2 for s in scores)
    assert all(torch.equal(p, t) for p, t in zip(params, theta0))            # bit exact after 6 trials
    assert all(not torch.equal(s[0], theta0[0]) for s in seen)               # the trials did move the weights
    apply_delta(params, deltas[1])
    assert all(torch.equal(p, s) for p, s in zip(params, seen[2]))           # kept == the exact scored tensor (+ of delta 1)


def test_strictly_worse_or_tied_candidate_is_never_accepted():
    assert accept_best(1.0, [1.5, 2.0]) is None
    assert accept_best(1.0, [1.0, 1.0]) is None                              # a tie is not an improvement
    assert accept_best(1.0, [1.2, 0.999, 0.5]) == 2
    # end to end on weights: the score is the distance from the start, so every move is strictly worse
    _, params = lora_model()
    theta0 = [p.detach().clone() for p in params]
    score_fn = lambda: flat_norm([p.detach() - t for p, t in zip(params, theta0)])
    deltas = sphere_candidates(theta0, 4, 0.02, torch.Generator().manual_seed(0))
    scores = [s[0] for s in score_candidates(params, deltas, score_fn)]
    assert min(scores) > 0 and accept_best(score_fn(), scores) is None


def test_candidate_geometry():
    g = torch.Generator().manual_seed(0)
    d = [torch.randn(5, 3), torch.randn(7)]
    cands = jump_candidates(d, 2.5, 4, g)
    assert len(cands) == 4 and all(torch.equal(c, 2.5 * x) for c, x in zip(cands[0], d))
    assert all(flat_norm(c) == pytest.approx(2.5 * flat_norm(d), rel=1e-5) for c in cands)
    theta = [torch.randn(10, 10), torch.randn(3)]
    assert all(flat_norm(c) == pytest.approx(0.1 * flat_norm(theta), rel=1e-5)
               for c in sphere_candidates(theta, 5, 0.1, g))
    assert adapt(1.0, True, 1.5, 0.7, 0.5, 1.2) == 1.2 and adapt(0.6, False, 1.5, 0.7, 0.5, 8) == 0.5
    assert weighted_score(2.0, {"syntax_valid": 1.0, "executed": 0.0, "no_code": 0.0},
                          {"syntax_valid": 0.2, "executed": 0.1, "no_code": -0.5}) == pytest.approx(1.8)


def toy_problem():
    """A quadratic bowl in 20 dimensions: score = ||theta - target||^2, start 1 away from the minimum."""
    g = torch.Generator().manual_seed(0)
    target = [torch.randn(3, 4, generator=g), torch.randn(8, generator=g)]
    start = random_direction_like(target, g)
    params = [(t + s).clone() for t, s in zip(target, start)]
    score_fn = lambda: sum((p - t).pow(2).sum().item() for p, t in zip(params, target))
    return params, score_fn


def random_direction_like(like, g):
    u = [torch.randn(t.shape, generator=g) for t in like]
    return [x / flat_norm(u) for x in u]


def test_sphere_probes_find_an_improvement_on_a_toy_problem():
    params, score_fn = toy_problem()
    current, r, history = score_fn(), 0.05, []
    start = current
    for i in range(60):
        deltas = sphere_candidates(params, 8, r, torch.Generator().manual_seed(i))
        scores = [s[0] for s in score_candidates(params, deltas, score_fn)]
        best = accept_best(current, scores)
        if best is not None:
            apply_delta(params, deltas[best])
            current = scores[best]
        r = adapt(r, best is not None, 1.5, 0.7, 0.005, 0.5)
        history.append(current)
        assert current == pytest.approx(score_fn())                           # the kept score is the weights' score
    assert all(b <= a for a, b in zip(history, history[1:]))                  # never worse
    assert history[-1] < 0.3 * start, (start, history[-1])


def test_es_update_descends_on_a_toy_problem():
    params, score_fn = toy_problem()
    start = score_fn()
    for i in range(60):
        deltas = sphere_candidates(params, 8, 0.05, torch.Generator().manual_seed(i))
        pm = score_candidates(params, deltas, score_fn, signs=(1, -1))
        apply_delta(params, es_update(deltas, [s[0] for s in pm], [s[1] for s in pm]))
    assert score_fn() < 0.3 * start
    tied = es_update(deltas, [1.0] * 8, [1.0] * 8)
    assert all(torch.equal(t, torch.zeros_like(t)) for t in tied)


# ---------------------------------------------------------------------------------------------- the stage


def run(*argv, ok=True):
    out = subprocess.run([sys.executable, "geometric.py", *argv], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert (out.returncode == 0) == ok, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def metrics(out_dir):
    return [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]


def stage(model, out, *extra):
    return ["--task", "toy_tasks:say", "--model", model, "--out-dir", out, "--jump-every", "2", "--sphere-every", "3",
            "--num-examples", "24", "--score-batch", "16", "--eval-every", "0", "--eval-examples", "4", *extra]


def test_stage_geometric_vs_control_and_es(tiny_checkpoint, tmp_path):
    geo, ctl, es = (str(tmp_path / n) for n in ("geo", "ctl", "es"))
    run(*stage(tiny_checkpoint, geo, "--steps", "6", "--score-episodes", "2"))
    run(*stage(tiny_checkpoint, ctl, "--steps", "6", "--control"))
    run(*stage(tiny_checkpoint, es, "--steps", "50", "--estimator", "es", "--forward-budget", "300"))
    g, c, e = metrics(geo), metrics(ctl), metrics(es)
    # before the first jump (end of step 2) the runs are the same run: same data order, dropout and init
    assert [m["loss"] for m in g[:2]] == [m["loss"] for m in c[:2]] == [m["loss"] for m in e[:2]]
    assert not any("probes" in m for m in c) and c[-1]["fwd"] == 6 * 8
    kinds = [[p["kind"] for p in m.get("probes", [])] for m in g]
    assert kinds == [[], ["jump"], ["sphere"], ["jump"], [], ["jump", "sphere"]]
    for m in g:
        for key in ("loss", "f", "r", "lora_norm", "fwd", "accept_epoch"):
            assert key in m
        for p in m.get("probes", []):
            assert len(p["candidate_scores"]) == 4 and p["accepted"] == (min(p["candidate_scores"]) < p["score_before"])
            assert p["score"] == (min(p["candidate_scores"]) if p["accepted"] else p["score_before"])
    # acceptance is per epoch (3 batches of 8 out of 24 sequences): the counter restarts
    assert "epoch_accept_rate" in g[2] and g[3]["accept_epoch"] == f"{int(g[3]['accepted'])}/1"
    assert "val_success" in g[-1] and os.path.exists(os.path.join(geo, "plots.png"))
    assert all("plus_scores" in p and "minus_scores" in p for m in e for p in m.get("probes", []))
    # es stops under the budget: steps 1-3 forward 3 batches of 8 + 2 probes x 4 pairs x 16 scoring sequences;
    # step 4 (a jump) would pass 300
    assert len(e) == 3 and e[-1]["fwd"] == 3 * 8 + 2 * 4 * 2 * 16 and "val_loss" in e[-1]
    from rollout import load_policy
    model, _ = load_policy(geo)                                              # the standard way: an adapter dir
    assert type(model).__name__.startswith("Peft")


def test_resume_continues_exactly(tiny_checkpoint, tmp_path):
    straight, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    run(*stage(tiny_checkpoint, straight, "--steps", "5"))
    run(*stage(tiny_checkpoint, resumed, "--steps", "3", "--save-every", "3"))
    run(*stage(tiny_checkpoint, resumed, "--steps", "5", "--resume"))
    a, b = metrics(straight), metrics(resumed)
    assert [m["step"] for m in b] == [1, 2, 3, 4, 5]
    assert [m["loss"] for m in a] == [m["loss"] for m in b] and a[-1]["f"] == b[-1]["f"] and a[-1]["r"] == b[-1]["r"]
    from safetensors.torch import load_file
    wa = load_file(os.path.join(straight, "ckpt", "trainable.safetensors"))
    wb = load_file(os.path.join(resumed, "ckpt", "trainable.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bad_input_is_refused_with_a_reason(tiny_checkpoint, tmp_path):
    out = run(*stage(tiny_checkpoint, str(tmp_path / "x"), "--steps", "1", "--score-batch", "8"), ok=False)
    assert "--score-batch 8 must exceed --batch-size 8" in out
    out = run(*stage(tiny_checkpoint, str(tmp_path / "x"), "--steps", "1", "--preset", "wild"), ok=False)
    assert "unknown --preset 'wild'" in out
