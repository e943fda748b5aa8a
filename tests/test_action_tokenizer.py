import json
import os

import numpy as np
import pytest

from action_tokenizer import (BINARY, D, FPS, KEYS, SCREEN_H, SCREEN_W, SYMBOL_BASE, T, ActionTokenizer, NaiveBinTokenizer,
                              channel_scale, chunk_actions, dct_matrix, generate_session, load_trajectory,
                              normalize, synthetic_chunks)


@pytest.fixture(scope="module")
def data():
    return synthetic_chunks(300, seed=0), synthetic_chunks(60, seed=1)


@pytest.fixture(scope="module")
def tok(data):
    return ActionTokenizer(scale=10, vocab_size=1024).fit(data[0])


def test_dct_matrix_is_orthonormal_dct_ii():
    c = dct_matrix(T)
    np.testing.assert_allclose(c @ c.T, np.eye(T), atol=1e-12)
    x = np.random.default_rng(0).normal(size=T)
    n = np.arange(T)
    direct = [np.sum(x * np.cos(np.pi * (n + 0.5) * k / T)) * np.sqrt((1 if k == 0 else 2) / T) for k in range(T)]
    np.testing.assert_allclose(c @ x, direct, atol=1e-12)


def test_flatten_order_is_low_frequency_first(tok, data):
    chunk = data[1][3]
    q, _ = tok._coeffs_from_ids([tok.encode(chunk)])
    x = normalize(chunk.astype(np.float64), tok.lo, tok.hi)
    expected = np.rint(dct_matrix(T) @ x * 10)                 # (T coefficients, D channels)
    flat = q.reshape(-1)
    np.testing.assert_array_equal(flat[:D], expected[0])          # coefficient 0 of every channel first
    np.testing.assert_array_equal(flat[D:2 * D], expected[1])     # then coefficient 1 of every channel
    np.testing.assert_array_equal(flat, expected.reshape(-1))


@pytest.mark.parametrize("scale", [10.0, 5.0, "per-channel"])
def test_round_trip_within_quantisation_bound(data, scale):
    # Orthonormal DCT preserves the L2 norm, so a per-coefficient rounding error <= 0.5/scale gives a per-channel
    # time-domain RMSE <= 0.5/scale (normalised units, before clipping).
    s = channel_scale() if scale == "per-channel" else np.full(D, scale)
    tok = ActionTokenizer(scale=s, vocab_size=2048).fit(data[0])
    test = data[1]
    q_true = tok._coeffs(test.astype(np.float64))
    assert q_true.min() >= tok.vmin and q_true.max() <= tok.vmax, "held-out coefficients must be in range"
    q, info = tok._coeffs_from_ids(tok.encode(test))
    assert info["ok"].all()
    x = tok._normalized_from_coeffs(q)
    x_true = normalize(test.astype(np.float64), tok.lo, tok.hi)
    rmse = np.sqrt(((x - x_true) ** 2).mean(axis=1))               # (B, D)
    assert (rmse <= 0.5 / s + 1e-9).all()
    # after clipping/thresholding: cursor error within the same bound in pixels, buttons/keys exact
    out = tok.decode(tok.encode(test))
    half_range = (tok.hi - tok.lo)[:2] / 2
    px = np.sqrt(((out[..., :2] - test[..., :2]) ** 2).mean(axis=1))
    assert (px <= 0.5 / s[:2] * half_range + 1e-6).all()
    np.testing.assert_array_equal(out[..., BINARY], test[..., BINARY])


def test_single_and_batch_paths_agree(tok, data):
    test = data[1][:5]
    batch = tok(test)
    assert batch == [tok(c) for c in test]
    np.testing.assert_array_equal(tok.decode(batch), np.stack([tok.decode(i) for i in batch]))
    assert tok.decode(batch).shape == (5, T, D) and tok.decode(batch[0]).shape == (T, D)


@pytest.mark.parametrize("scale", [10.0, 2.0, "per-channel"])
def test_pre_merged_zero_runs_give_the_trained_bpe_ids(data, scale):
    # encode feeds a second BPE with the zero runs already merged (_build_encoder): its ids must be exactly those
    # of the trained BPE on the plain symbol strings, also on inputs unlike the training data
    s = channel_scale() if scale == "per-channel" else scale
    tok = ActionTokenizer(scale=s, vocab_size=1024).fit(data[0][:150])
    rng = np.random.default_rng(0)
    test = data[1].astype(np.float64)
    noisy = test.copy()
    noisy[..., :2] = np.clip(noisy[..., :2] + rng.normal(0, 20, noisy[..., :2].shape), 0, [SCREEN_W - 1, SCREEN_H - 1])
    keys = test.copy()
    keys[..., 3:] = rng.random(keys[..., 3:].shape) < 0.2
    x = np.concatenate([test, noisy, keys, np.repeat(test[:, :1], T, axis=1)])     # + still chunks
    q = tok._coeffs(x)
    plain = tok._strings(q, zero_blocks=False)
    assert tok(x) == [e.ids for e in tok.bpe.encode_batch(plain, add_special_tokens=False)]
    assert [tok(c) for c in x[::10]] == tok(x[::10])
    n = len(test)       # on realistic chunks the runs really are pre-merged: the BPE sees a third of the symbols
    assert sum(map(len, tok._strings(q[:n]))) < sum(map(len, plain[:n])) / 3


def test_compresses_against_naive_binning(tok, data):
    test = data[1]
    mean_tokens = np.mean([len(i) for i in tok(test)])
    naive = NaiveBinTokenizer().fit(data[0])
    assert len(naive(test[0])) == T * D
    assert mean_tokens < T * D / 5
    half_bin = 1 / 256
    x = normalize(naive.decode(naive(test)).astype(np.float64), naive.lo, naive.hi)
    x_true = normalize(test.astype(np.float64), naive.lo, naive.hi)
    inside = np.abs(x_true) <= 1
    assert (np.abs(x - x_true)[inside] <= half_bin + 1e-6).all()


def _valid(actions):
    return (np.isfinite(actions).all() and (actions[..., 0] >= 0).all() and (actions[..., 0] <= SCREEN_W - 1).all()
            and (actions[..., 1] <= SCREEN_H - 1).all() and np.isin(actions[..., BINARY], [0, 1]).all())


def test_malformed_streams_decode_to_valid_actions(tok, data):
    ids = tok(data[1][0])
    vocab = len(tok)
    cases = {"empty": [], "truncated": ids[: len(ids) // 2], "garbage": [-5, vocab, vocab + 1000, 10**9],
             "too long": ids * 3, "random": list(np.random.default_rng(0).integers(0, vocab, 80))}
    for name, stream in cases.items():
        out, info = tok.decode(stream, return_info=True)
        assert out.shape == (T, D) and _valid(out), name
    assert tok.decode(cases["garbage"], return_info=True)[1]["unknown"] == 4
    assert not tok.decode(cases["too long"], return_info=True)[1]["ok"]
    assert tok.decode(ids, return_info=True)[1]["ok"]
    batch = tok.decode(list(cases.values()))
    assert batch.shape == (len(cases), T, D) and _valid(batch)


def test_failed_decode_holds_previous_action(tok, data):
    prev = np.zeros(D, dtype=np.float32)
    prev[:3] = 700, 300, 1
    prev[3 + KEYS.index("q")] = 1
    out = tok.decode([], prev_action=prev)
    np.testing.assert_array_equal(out, np.tile(prev, (T, 1)))
    # without a previous action: middle of the cursor range, everything released
    out = tok.decode([len(tok) + 7])
    assert (out[:, BINARY] == 0).all() and np.allclose(out[:, :2], (tok.lo[:2] + tok.hi[:2]) / 2, atol=1)
    # a stream cut inside the coefficient-0 row: the channels it reached decode, the rest hold prev
    one_symbol = tok.bpe.token_to_id(chr(SYMBOL_BASE - tok.vmin))    # the single symbol for coefficient 0
    out, info = tok.decode([one_symbol], prev_action=prev, return_info=True)
    assert info["n_coeffs"] == 1 and not info["ok"]
    np.testing.assert_array_equal(out[:, 1:], np.tile(prev[1:], (T, 1)))
    assert np.ptp(out[:, 0]) == 0 and out[0, 0] != prev[0]          # x decoded from its (zero) coefficients


def test_save_load_round_trip(tok, data, tmp_path):
    tok.save(tmp_path / "fast")
    loaded = ActionTokenizer.load(str(tmp_path / "fast"))
    ids = tok(data[1])
    assert loaded(data[1]) == ids
    np.testing.assert_array_equal(loaded.decode(ids), tok.decode(ids))
    np.testing.assert_array_equal(loaded.scale, tok.scale)


def test_fit_is_deterministic(tok, data):
    # the actions task refits its tokenizer in every process, so the same data must give the same BPE
    again = ActionTokenizer(scale=10, vocab_size=1024).fit(data[0])
    assert again.bpe.to_str() == tok.bpe.to_str() and again(data[1]) == tok(data[1])


def test_lm_token_mapping(tok, data):
    ids = tok(data[1][2])
    text = tok.to_lm_tokens(ids)
    assert text.startswith(f"<act_{ids[0]}>")
    assert tok.from_lm_text("noise " + text + "</actions> tail") == ids
    strings = tok.token_strings()
    assert len(strings) == len(tok) and len(set(strings)) == len(strings)


def test_clear_errors(tok, data):
    with pytest.raises(ValueError, match="shape"):
        tok.encode(np.zeros((T, 5)))
    with pytest.raises(ValueError, match="NaN"):
        bad = data[1][0].copy()
        bad[3, 0] = np.nan
        tok.encode(bad)
    with pytest.raises(ValueError, match="frames"):
        tok.encode(np.zeros((10, D)))
    with pytest.raises(RuntimeError, match="not fitted"):
        ActionTokenizer().encode(data[1][0])
    with pytest.raises(ValueError, match="vocab_size"):
        ActionTokenizer(scale=channel_scale(), vocab_size=256).fit(data[0])
    with pytest.raises(ValueError, match="prev_action"):
        tok.decode([], prev_action=np.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        ActionTokenizer(scale=0)


def _runs(mask):
    """(start, length) of every run of True in a 1-d bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts, ends - starts))


def test_generator_is_deterministic_and_realistic():
    a = generate_session(120, seed=3)
    np.testing.assert_array_equal(a, generate_session(120, seed=3))
    assert not np.array_equal(a, generate_session(120, seed=4))
    assert a.shape == (120 * FPS, D)
    xy = a[:, :2]
    assert (xy >= 0).all() and (xy[:, 0] <= SCREEN_W - 1).all() and (xy[:, 1] <= SCREEN_H - 1).all()
    np.testing.assert_array_equal(xy, np.rint(xy))
    assert np.abs(np.diff(xy, axis=0)).max() < 200            # < 10,000 px/s: no teleporting cursor
    assert np.isin(a[:, 2:], [0, 1]).all()
    clicks = [(s, n) for s, n in _runs(a[:, 2] > 0) if s + n < len(a)]
    assert len(clicks) > 20
    for s, n in clicks:
        moved = np.ptp(xy[s:s + n], axis=0).max() > 0
        if not moved:                                          # a click, not a drag: held 60-140 ms
            assert 3 <= n <= 7, (s, n)
    keys = [n for k in range(26) for s, n in _runs(a[:, 3 + k] > 0) if s + n < len(a)]
    assert len(keys) > 20 and all(4 <= n <= 7 for n in keys)   # key holds 80-140 ms
    typing = a[1:, 3:].any(axis=1) & a[:-1, 3:].any(axis=1)   # frame pairs with a key held in both
    assert typing.any() and (np.diff(xy, axis=0)[typing] == 0).all()   # the hand is on the keyboard


def test_chunking_drops_tail():
    a = generate_session(3.5, seed=0)
    assert chunk_actions(a).shape == (3, T, D)
    assert synthetic_chunks(4, seed=0).shape == (4, T, D)


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_load_trajectory_csv_and_jsonl(tmp_path):
    csv_path = _write(tmp_path / "t.csv", "time,x,y,buttons,keys\n0,0,0,0,\n0.1,100,50,1,ab\n0.2,100,50,0,\n")
    a = load_trajectory(csv_path)
    assert a.shape == (11, D)                                   # 0.2 s at 50 Hz, both ends included
    np.testing.assert_allclose(a[:6, 0], [0, 20, 40, 60, 80, 100], atol=1e-4)   # linear cursor
    np.testing.assert_array_equal(a[:, 2], [0] * 5 + [1] * 5 + [0])              # held button state
    assert a[5, 3 + KEYS.index("a")] == 1 and a[5, 3 + KEYS.index("b")] == 1 and a[4, 3] == 0
    rows = [{"time": 0, "x": 0, "y": 0, "buttons": 0, "keys": ""},
            {"time": 0.1, "x": 100, "y": 50, "buttons": 1, "keys": ["a", "b"]},
            {"time": 0.2, "x": 100, "y": 50, "buttons": 0, "keys": ""}]
    jl = _write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    np.testing.assert_array_equal(load_trajectory(jl), a)


@pytest.mark.parametrize("name,text,message", [
    ("a.csv", "time,x,y,buttons\n0,1,1,0\n0.1,1,1,0\n", r"a.csv:2: missing field\(s\) keys"),
    ("b.csv", "time,x,y,buttons,keys\n0,1,1,0,\n0.1,abc,1,0,\n", r"b.csv:3: .*numbers"),
    ("c.csv", "time,x,y,buttons,keys\n0,1,1,0,\n0,1,1,0,\n", r"c.csv:3: time 0.0 is not after"),
    ("d.csv", "time,x,y,buttons,keys\n0,1,1,0,\n0.1,5000,1,0,\n", r"d.csv:3: cursor .* off the"),
    ("e.csv", "time,x,y,buttons,keys\n0,1,1,0,\n0.1,1,1,0,A!\n", r"e.csv:3: keys may only"),
    ("f.jsonl", '{"time": 0, "x": 1, "y": 1, "buttons": 0, "keys": ""}\n{"time": 0.1,\n', r"f.jsonl:2: invalid JSON"),
    ("g.jsonl", '[1, 2]\n', r"g.jsonl:1: expected a JSON object"),
    ("h.txt", "x", r"h.txt: unsupported"),
    ("i.csv", "time,x,y,buttons,keys\n0,1,1,0,\n", r"i.csv: need at least 2 records"),
])
def test_load_trajectory_errors_name_file_and_line(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        load_trajectory(_write(tmp_path / name, text))


# ---------------------------------------------------------------- tasks

from action_tokenizer import TASKS  # noqa: E402


@pytest.mark.parametrize("name", ["coords", "coords-box", "coords-image", "actions"])
def test_task_examples_deterministic_and_splits_disjoint(name):
    task = TASKS[name]
    assert task.examples("train", 6, seed=1) == task.examples("train", 6, seed=1)
    ids = [ex["id"] for s in ("train", "val", "test") for ex in task.examples(s, 9)]
    assert len(set(ids)) == len(ids)
    key = (lambda ex: {e["label"] for e in ex["elements"]}) if name.startswith("coords") else \
        (lambda ex: {ex["text"]} - {""})
    used = {s: set().union(*(key(ex) for ex in task.examples(s, 60))) for s in ("train", "val", "test")}
    assert used["test"] and not (used["test"] & used["train"]) and not (used["val"] & used["train"])
    with pytest.raises(ValueError, match="split"):
        task.examples("dev", 1)


@pytest.mark.parametrize("name", ["coords", "coords-box", "coords-image", "actions"])
def test_task_demos_replay_to_success(name):
    task = TASKS[name]
    for ex in task.examples("val", 12, seed=2):
        [[(observation, trainable_obs), (answer, trainable)]] = task.demo(ex)
        assert not trainable_obs and trainable and answer.endswith(task.stop_tokens[0])
        episode = task.reset(ex)
        assert episode.observation() == observation
        _, done = episode.step(answer)
        total, parts = episode.reward()
        assert done and parts["success"] == 1.0 and total > 0.9, (ex["family"], parts)


def _reward(task, example, text):
    """(total, components) of a one-turn episode answering text."""
    episode = task.reset(example)
    episode.step(text)
    return episode.reward()


def test_coords_reward_shape():
    ex = TASKS["coords"].examples("train", 1)[0]
    x0, y0, x1, y1 = ex["target"]
    score = lambda text: _reward(TASKS["coords"], ex, text)  # noqa: E731

    assert score(f"<point>{x0 + 1}, {y0 + 1}</point>")[0] == 1.0
    near, far = score(f"<point>{x1 + 20}, {y1}</point>"), score(f"<point>{x1 + 600}, {y1}</point>")
    assert 1.0 > near[0] > far[0] > 0.1 - 1e-9 and near[1]["distance_px"] == 20
    assert score("somewhere near the top")[0] == 0.0 and score("<point>12</point>")[1]["format"] == 0.0


def test_coords_tree_lists_clickable_points_and_coords_box_does_not():
    point, box = TASKS["coords"], TASKS["coords-box"]
    ex = point.examples("test", 1, seed=3)[0]
    assert box.examples("test", 1, seed=3)[0]["elements"] == ex["elements"]   # the same screen, two renderings
    lines = point.reset(ex).observation().splitlines()
    for e in ex["elements"]:
        x0, y0, x1, y1 = e["box"]
        line = next(x for x in lines if f'"{e["label"]}"' in x)
        assert line.endswith(f" point ({(x0 + x1) // 2}, {(y0 + y1) // 2})")
    assert "point (" not in box.reset(ex).observation()
    # the demo's answer is the target's listed point, copied
    answer = point.demo(ex)[0][1][0]
    target_line = next(x for x in lines if f"[{', '.join(map(str, ex['target']))}]" in x)
    assert target_line.endswith(f" point ({answer[len('<point>'):-len('</point>')]})")


def test_coords_image_reward_scales_with_the_screenshot():
    ex = TASKS["coords-image"].examples("train", 1)[0]
    x0, y0, x1, y1 = ex["target"]
    score = lambda text: _reward(TASKS["coords-image"], ex, text)  # noqa: E731

    assert score(f"<point>{x0}, {y1}</point>")[0] == 1.0 and score(f"<point>{x1}, {y0}</point>")[1]["success"] == 1.0
    near, far = score(f"<point>{x1 + 5}, {y1}</point>"), score(f"<point>{x1 + 60}, {y1}</point>")
    assert near[1]["distance_px"] == 5 and near[1]["success"] == 0.0
    # decay 100 px * 224 / 1920: 5 px off on a 224 px screenshot scores like ~43 px off on the 1920 px screen
    assert near[0] == pytest.approx(0.9 * 0.5 * np.exp(-5 / (100 * 224 / 1920)) + 0.1)
    assert 1.0 > near[0] > far[0] > 0.1 - 1e-9
    assert score("<point>12</point>")[0] == 0.0 and score("Save is at 10, 20")[1]["format"] == 0.0


def test_coords_image_renders_deterministically_as_48_image_tokens():
    import vlm
    task, text_task = TASKS["coords-image"], TASKS["coords"]
    a, b = task.examples("test", 2, seed=4)
    shot = task.render(a)
    assert shot.shape == (168, 224, 3) and shot.dtype == np.uint8
    assert np.array_equal(shot, task.render(task.examples("test", 1, seed=4)[0]))   # same seed, same pixels
    assert not np.array_equal(shot, task.render(b))
    ep = task.reset(a)
    assert ep.observation().count(vlm.IMAGE) == 1 and len(ep.images()) == 1
    assert np.array_equal(task.demo_images(a)[0], shot)
    # 224 x 168 is 8 x 6 merged 28 px patches: the processor does not resize it
    assert vlm.image_text(vlm.build_image_processor(), shot).count("<|image_pad|>") == 48
    assert vlm.task_has_images(task) and not vlm.task_has_images(text_task)


def test_coords_image_boxes_hold_exactly_their_drawn_pixels():
    """Every element's pixels (label included) lie inside its box, and a button or field is mostly its fill:
    the box the reward accepts is what the screenshot shows."""
    from action_tokenizer import UI_THEMES
    task = TASKS["coords-image"]
    seen = set()
    for ex in task.examples("train", 24, seed=7):
        shot = task.render(ex)
        theme = UI_THEMES[ex["style"]["theme"]]
        boxes = [e["box"] for e in ex["elements"]]
        assert ex["target"] in boxes
        for k, e in enumerate(ex["elements"]):
            x0, y0, x1, y1 = e["box"]
            assert 0 <= x0 < x1 < 224 and 0 <= y0 < y1 < 168
            assert all(x1 < b[0] or b[2] < x0 or y1 < b[1] or b[3] < y0 for b in boxes[:k] + boxes[k + 1:])
            inside = np.zeros(shot.shape[:2], bool)
            inside[y0:y1 + 1, x0:x1 + 1] = True
            without = task.render({**ex, "elements": ex["elements"][:k] + ex["elements"][k + 1:]})
            unlabelled = task.render({**ex, "elements": [dict(o, label="") if o is e else o for o in ex["elements"]]})
            drawn, label = (shot != without).any(-1), (shot != unlabelled).any(-1)
            assert drawn.any() and not (drawn & ~inside).any(), (ex["id"], e)
            assert label.sum() >= 10 and not (label & ~inside).any(), (ex["id"], e)
            if e["role"] != "icon":
                fill = theme["buttons"][e["colours"]][0] if e["role"] == "button" else theme["field"]
                assert (shot[inside] == fill).all(-1).mean() > 0.5, (ex["id"], e)
            seen.add((e["role"], ex["style"]["theme"]))
    assert len(seen) == 9   # every role in every theme


def test_sft_and_grpo_run_on_coords_image(tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    sft_dir, grpo_dir = str(tmp_path / "sft"), str(tmp_path / "grpo")
    for argv in (["sft.py", "--task", "coords-image", "--model-size", "tiny", "--steps", "4", "--batch-size", "4",
                  "--num-examples", "16", "--num-val-examples", "4", "--warmup-steps", "1", "--eval-every", "4",
                  "--save-every", "4", "--eval-episodes", "3", "--out-dir", sft_dir],
                 ["grpo.py", "--task", "coords-image", "--model", sft_dir, "--steps", "1", "--prompts-per-step", "2",
                  "--num-generations", "2", "--out-dir", grpo_dir]):
        out = subprocess.run([sys.executable, *argv], cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [json.loads(line) for line in open(os.path.join(sft_dir, "metrics.jsonl"))]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 4 and np.isfinite(losses).all()
    config = json.load(open(os.path.join(sft_dir, "config.json")))
    assert config["model_type"] == "qwen2_5_vl" and os.path.exists(os.path.join(grpo_dir, "preprocessor_config.json"))


def test_actions_reward_penalises_wrong_actions():
    task = TASKS["actions"]
    tok = task.tokenizer
    assert set(tok.token_strings()) <= set(task.special_tokens)
    click_ex, drag_ex, type_ex = task.examples("train", 3, seed=5)

    def score(ex, chunk=None, text=None):
        ep = task.reset(ex)
        ep.step(text if text is not None else f"<actions>{tok.to_lm_tokens(tok.encode(chunk))}</actions>")
        return ep.reward()

    good = task.expert_chunk(click_ex)
    no_click = good.copy()
    no_click[:, 2] = 0
    assert score(click_ex, good)[1]["success"] == 1.0
    assert score(click_ex, no_click)[1]["click"] == 0.0 and score(click_ex, no_click)[0] < score(click_ex, good)[0]
    stay = np.tile(good[0], (T, 1))                              # never leaves the start
    assert score(click_ex, stay)[1]["endpoint"] < 0.1
    released_early = task.expert_chunk(drag_ex)
    released_early[10:, 2] = 0
    assert score(drag_ex, released_early)[1]["success"] == 0.0
    wrong_word = task.expert_chunk({**type_ex, "text": "zzz"})
    assert score(type_ex, wrong_word)[1]["typed"] < 0.5
    assert score(type_ex, text="no actions here</actions>")[0] == 0.0
    ids = tok.encode(task.expert_chunk(type_ex))
    broken = score(type_ex, text=f"<actions>{tok.to_lm_tokens(ids[:4])}</actions>")
    assert broken[1]["typed"] < 1.0 and 0.0 < broken[0] < 0.5   # a truncated stream still decodes, to less
