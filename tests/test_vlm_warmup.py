"""The vision warm-up (sft.py --vision-warmup-steps, vlm.patch_labels, the tasks' image_boxes) and the curiosity
bonus in grpo.py (--curiosity-bonus): labels land on the right image tokens, the warm-up learns, sft runs and
resumes with it, grpo adds the bonus only when asked (CPU, ~1 minute).

    python -m pytest -q tests/test_vlm_warmup.py
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ENV = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "tests") + os.pathsep + ROOT, "OMP_NUM_THREADS": "1"}

import sft  # noqa: E402
import vision_tasks as vt  # noqa: E402
import vlm  # noqa: E402
from rollout import get_task  # noqa: E402


def run(*argv, timeout=300):
    out = subprocess.run([sys.executable, *argv], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def metrics(out_dir):
    return [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]


# ---- patch labels ----

def test_patch_labels_of_constructed_boxes():
    # 100x100 image, 4x4 merged grid: cells of 25 px
    grid = vlm.patch_labels([(60, 5, 80, 20, 3),      # small: only the cell of its centre (70, 12.5): row 0, col 2
                             (0, 50, 50, 100, 1),     # covers rows 2-3, cols 0-1 exactly
                             (77, 62, 100, 100, 2)],  # 23/25 x 13/25 = 0.48 of cell (2, 3): not enough; its centre
                                                      # (88.5, 81) claims cell (3, 3)
                            (100, 100), (4, 4)).reshape(4, 4)
    assert grid.tolist() == [[0, 0, 3, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 2]]
    assert vlm.patch_labels([], (100, 100), (4, 4)).tolist() == [0] * 16
    # a box whose centre left the image (a ball leaving a video frame) claims nothing; a non-square grid
    assert vlm.patch_labels([(-30, 0, -2, 20, 5)], (100, 100), (4, 4)).tolist() == [0] * 16
    assert vlm.patch_labels([(0, 0, 10, 10, 4)], (60, 90), (2, 3)).reshape(2, 3).tolist() == [[4, 0, 0], [0, 0, 0]]


def test_patch_labels_follow_the_processors_resize_and_token_order():
    """A white glyph drawn in a known box of a 100x100 canvas (stretched to 112x112 by the processor) is labelled
    on the merged patches whose pixel inputs hold its ink, in the processor's (= the vision tower's) token order."""
    processor = vlm.build_image_processor()
    image = np.zeros((100, 100, 3), np.uint8)
    image[30:70, 55:95] = 255                                   # box (55, 30, 95, 70): cells cols 2-3, rows 1-2
    pixels = vlm.pixel_inputs(processor, [image])
    rows, cols = (pixels["image_grid_thw"][0, 1:] // processor.merge_size).tolist()
    labels = vlm.patch_labels([(55, 30, 95, 70, 7)], (100, 100), (rows, cols))
    # merged token k is made of patches 4k..4k+3 (merge 2 x 2); ink = above the normalised black level
    patches = pixels["pixel_values"].reshape(rows * cols, processor.merge_size ** 2, -1)
    inked = (patches > patches.min() + 1).any(-1).any(-1).numpy()
    assert labels.reshape(rows, cols).tolist() == [[0, 0, 0, 0], [0, 0, 7, 7], [0, 0, 7, 7], [0, 0, 0, 0]]
    assert inked[labels == 7].all()


def test_centres_only_labels_one_token_per_box():
    boxes = [(60, 5, 80, 20, 3), (0, 50, 50, 100, 1), (77, 62, 100, 100, 2)]   # as above: centres (70, 12.5),
    grid = vlm.patch_labels(boxes, (100, 100), (4, 4), centres_only=True)       # (25, 75), (88.5, 81)
    assert grid.reshape(4, 4).tolist() == [[0, 0, 3, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 2]]


def test_digits_demo_lists_the_digits_in_the_order_of_their_centre_tokens():
    """What the warm-up teaches the tower to mark (one token per digit, at its centre) read in token order is what
    the demo's think section lists: the LM's job is to copy the marked tokens out, then sort or add."""
    task, processor = get_task("digits"), vlm.build_image_processor()
    for example in task.examples("train", 60, seed=3):
        [image] = task.reset(example).images()
        _, grid = vlm.patchify(processor, image)
        rows, cols = (grid[1:] // processor.merge_size).tolist()
        assert (rows, cols) == (task.token_grid, task.token_grid)
        labels = vlm.patch_labels(task.image_boxes(example)[0], image.shape[:2], (rows, cols), centres_only=True)
        assert (labels > 0).sum() == len(example["digits"])    # no two centres share a token
        think = task.demo(example)[0][1][0]
        shown = think.split("I see the digits ")[1].split(";")[0]
        assert shown == ", ".join(str(c - 1) for c in labels[labels > 0])


@pytest.mark.parametrize("name", ["digits", "cryptogram", "pixel", "coords-image"])
def test_image_boxes_frame_what_was_drawn(name):
    task = get_task(name)
    ids = set()
    for example in task.examples("train", 6):
        images, boxes = task.reset(example).images(), task.image_boxes(example)
        assert len(images) == len(boxes) >= 1
        for image, image_boxes in zip(images, boxes):
            background = image[0, 0] if name != "pixel" else np.array(vt.BACKGROUND)
            for x1, y1, x2, y2, cls in image_boxes:
                assert 0 < cls < len(task.box_classes)
                ids.add(cls)
                inside = image[max(int(y1), 0):int(np.ceil(y2)), max(int(x1), 0):int(np.ceil(x2))]
                if inside.size:   # a moving object may have left the frame
                    assert (inside != background).any(), (example["id"], (x1, y1, x2, y2), task.box_classes[cls])
    if name == "digits":
        example = task.examples("train", 1)[0]
        assert [c - 1 for *_, c in task.image_boxes(example)[0]] == example["digits"]
    if name == "cryptogram":   # one box per coded -> plain pair
        example = task.examples("train", 1)[0]
        assert [task.box_classes[c] for *_, c in task.image_boxes(example)[0]] == [c + p for c, p in example["pairs"]]
    text_variant = {"cryptogram": "cryptogram-text", "pixel": "pixel-text", "coords-image": "coords"}.get(name)
    if text_variant:   # no images, no boxes
        assert get_task(text_variant).image_boxes(get_task(text_variant).examples("train", 1)[0]) == []


# ---- the warm-up loop ----

def test_warmup_raises_patch_accuracy_on_the_tiny_preset():
    torch.set_num_threads(1)
    task = get_task("digits")
    tokenizer = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
    torch.manual_seed(0)
    model = vlm.build_tiny_vlm(tokenizer, "tiny")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    records = list(sft.vision_warmup(model, task, task.examples("train", 64), vlm.build_image_processor(), 100, 8,
                                     3e-3, 0, torch.device("cpu"), torch.float32, task.examples("val", 16), 25))
    first, last = records[:20], records[-20:]
    mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)
    assert [r["warmup_step"] for r in records] == list(range(1, 101)) and all(r["step"] == 0 for r in records)
    assert mean(last, "warmup_loss") < 0.6 * mean(first, "warmup_loss")
    assert mean(last, "warmup_acc") > mean(first, "warmup_acc")
    # beyond "background everywhere": digit tokens get their digit (chance 1 in 10) more and more often
    assert mean(last, "warmup_acc_fg") > max(0.15, mean(first, "warmup_acc_fg") + 0.1)
    # on held-out images (val digits, drawn from other fonts) every 25 steps; 64 train images are memorised, not
    # generalised from: the gap this measure is for
    held_out = [(r["warmup_step"], r["warmup_val_acc_fg"]) for r in records if "warmup_val_acc_fg" in r]
    assert [s for s, _ in held_out] == [25, 50, 75, 100] and all(0 <= a <= 1 for _, a in held_out)
    assert held_out[-1][1] < mean(last, "warmup_acc_fg") - 0.05
    changed = {n.split(".")[1] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"visual"}   # the text model is untouched


def test_tokens_head_puts_each_pair_token_next_to_the_lm_embeddings_of_its_letters():
    """The cryptogram's warm-up head "tokens" (its default): after 120 CPU steps each decoder token of held-out
    images is, of the LM's own input embeddings, nearest (cosine) the coded capital and the plain letter it shows;
    the LM's embeddings are not trained by it. The linear head over the 676 pairs (session 10's) names 0% of the
    pair tokens after as many steps (checked when this was written), so this also shows why "tokens" is the default."""
    torch.set_num_threads(1)
    task = get_task("cryptogram")
    assert sft.Args().vision_warmup_head == "auto" and task.warmup_head == "tokens"
    tokenizer = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
    torch.manual_seed(0)
    model = vlm.build_tiny_vlm(tokenizer, "tiny")
    embeddings = model.get_input_embeddings().weight.detach().clone()
    processor = vlm.build_image_processor()
    records = list(sft.vision_warmup(model, task, task.examples("train", 64), processor, 120, 4, 3e-3, 0,
                                     torch.device("cpu"), torch.float32, task.examples("val", 8), 40, head="tokens",
                                     tokenizer=tokenizer))
    assert records[0]["warmup_acc_fg"] < 0.05 and min(r["warmup_acc_fg"] for r in records[-10:]) > 0.9
    assert records[-1]["warmup_val_acc_fg"] > 0.9
    assert torch.equal(embeddings, model.get_input_embeddings().weight)
    letters = {kind: [chr(first + i) for i in range(26)] for kind, first in (("coded", 65), ("plain", 97))}
    rows = {kind: F.normalize(embeddings[tokenizer.convert_tokens_to_ids(ls)], dim=-1) for kind, ls in letters.items()}
    nearest = lambda feature, kind: letters[kind][(feature @ rows[kind].T).argmax()]
    model.eval()
    named = right = 0
    for example in task.examples("test", 4):
        pixels = vlm.pixel_values(processor, [vlm.patchify(processor, task.render(example))], torch.device("cpu"))
        with torch.no_grad():
            tokens = F.normalize(vlm.base_model(model).model.get_image_features(**pixels).pooler_output[0], dim=-1)
        for (coded, plain), feature in zip(example["pairs"], tokens[:26]):   # pair j sits in image token j
            named += 1
            right += nearest(feature, "coded") == coded and nearest(feature, "plain") == plain
    assert right / named > 0.9


def test_lookup_rows_train_only_the_values_of_the_image_pairs():
    task = get_task("cryptogram")
    example = task.examples("train", 1)[0]
    segments = sft.lookup_segments(np.random.default_rng(0), task.image_pairs(example), 40)
    assert segments[0] == (vlm.IMAGE + "\n", False) and len(segments) == 1 + 3 * 40
    plain_of = dict(example["pairs"])
    keys = [text for text, _ in segments[1::3]]
    assert [text for text, _ in segments[2::3]] == [plain_of[k] for k in keys] and len(set(keys)) > 15
    assert [t for _, t in segments[1:]] == [False, True, False] * 40


def test_lookup_warmup_trains_the_lm_alone():
    """30 CPU steps: the loss falls from the vocabulary's ln 115 to the plain letters' ln 26 (the lookups themselves
    take ~500-700 CPU steps at this size: results/cpu-2026-11-24-s11-lookup); the tower is not trained by it and is
    trainable again after it."""
    torch.set_num_threads(1)
    task = get_task("cryptogram")
    tokenizer = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
    torch.manual_seed(0)
    model = vlm.build_tiny_vlm(tokenizer, "tiny")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    records = list(sft.lookup_warmup(model, task, task.examples("train", 16), tokenizer, vlm.build_image_processor(),
                                     30, 4, 3e-3, 0, torch.device("cpu"), torch.float32))
    assert [r["lookup_step"] for r in records] == list(range(1, 31))
    assert records[0]["lookup_loss"] > 4.4 and sum(r["lookup_loss"] for r in records[-5:]) / 5 < 3.45
    changed = {n.split(".")[1] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "visual" not in changed and changed
    assert all(p.requires_grad and p.grad is None for p in vlm.vision_tower(model).parameters())


def test_sft_with_warmup_runs_and_resume_skips_it(tmp_path):
    out = str(tmp_path / "sft")
    common = ["sft.py", "--task", "digits", "--model-size", "tiny", "--batch-size", "4", "--num-examples", "16",
              "--num-val-examples", "4", "--eval-every", "3", "--save-every", "3", "--out-dir", out]
    stdout = run(*common, "--steps", "3", "--vision-warmup-steps", "6")
    assert "vision warm-up 6/6" in stdout
    rows = metrics(out)
    assert [r["warmup_step"] for r in rows if "warmup_step" in r] == list(range(1, 7))
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]
    assert json.load(open(os.path.join(out, "args.json")))["vision_warmup_steps"] == 6
    assert json.load(open(os.path.join(out, "args.json")))["freeze_vision"] == 1   # auto: after a warm-up
    weights = lambda: load_file(os.path.join(out, "model.safetensors"))
    at_3 = weights()
    stdout = run(*common, "--steps", "5", "--vision-warmup-steps", "6", "--resume")
    assert "vision warm-up" not in stdout and "resumed from" in stdout
    rows = metrics(out)
    assert sum("warmup_step" in r for r in rows) == 6 and [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5]
    # the checkpoint held the warmed-up tower (not rebuilt from the seed) and steps 4-5 left it alone
    at_5 = weights()
    tower = [n for n in at_3 if ".visual." in n or n.startswith("visual.")]
    assert tower and all(torch.equal(at_3[n], at_5[n]) for n in tower)
    assert any(not torch.equal(at_3[n], at_5[n]) for n in at_3 if n not in tower)


def test_vision_tower_names_what_is_missing():
    tokenizer = sft.build_char_tokenizer(vlm.VISION_TOKENS)
    assert vlm.vision_tower(vlm.build_tiny_vlm(tokenizer, "tiny")) is not None
    with pytest.raises(ValueError, match="no Qwen-VL vision tower"):
        vlm.vision_tower(sft.build_tiny_model(tokenizer, "tiny"))


def test_warmup_defaults_and_refusals():
    assert sft.Args().vision_warmup_steps == -1   # auto: on for --model tiny on image tasks (checked in sft_digits runs)
    out = subprocess.run([sys.executable, "sft.py", "--task", "toy_tasks:say", "--vision-warmup-steps", "5"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--vision-warmup-steps needs an image task" in out.stderr
    out = subprocess.run([sys.executable, "sft.py", "--task", "digits", "--vision-warmup-head", "tokens"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--vision-warmup-head tokens needs a task with box_parts" in out.stderr


def test_warmups_run_induction_then_vision_then_lookup(tmp_path):
    """The tokens head reads the LM's embeddings, which the induction warm-up trains, and the lookup drill reads the
    warmed-up tower's tokens: so induction, vision, lookup, then the task."""
    out = str(tmp_path / "sft")
    stdout = run("sft.py", "--task", "cryptogram", "--model-size", "tiny", "--batch-size", "2", "--num-examples", "4",
                 "--num-val-examples", "2", "--steps", "1", "--induction-warmup-steps", "3", "--vision-warmup-steps",
                 "3", "--lookup-warmup-steps", "2", "--out-dir", out)
    assert stdout.index("induction warm-up 3/3") < stdout.index("vision warm-up 3/3") < stdout.index("lookup warm-up 2/2")
    rows = metrics(out)
    kinds = [next(k for k in ("induction_step", "warmup_step", "lookup_step", "loss") if k in r) for r in rows]
    assert kinds[:9] == ["induction_step"] * 3 + ["warmup_step"] * 3 + ["lookup_step"] * 2 + ["loss"]
    assert json.load(open(os.path.join(out, "args.json")))["vision_warmup_head"] == "tokens"   # auto: the task's
    assert get_task("cryptogram").lookup_warmup == 400 and sft.Args().lookup_warmup_steps == -1   # auto: the task's
    out = subprocess.run([sys.executable, "sft.py", "--task", "digits", "--lookup-warmup-steps", "5"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--lookup-warmup-steps needs an image task with image_pairs" in out.stderr


# ---- curiosity bonus ----

def test_curiosity_bonus_of_a_hand_made_pixel_group():
    """Four real pixel episodes of one query, one of which calls a tool: RaPR = 0.25 < H = 0.3."""
    task = get_task("pixel")
    example = next(e for e in task.examples("train", 8) if e["family"] == "color_at")
    components = []
    for uses_tool in (True, False, False, False):
        ep = task.reset(example)
        if uses_tool:
            ep.step(f"<think>look</think><tool>{example['expert'][0]}</tool>")
        ep.step(f"<think>done</think><answer>{example['answer']}</answer>")
        components.append(ep.reward()[1])
    assert [c["used_tool"] for c in components] == [1, 0, 0, 0]
    assert vt.group_bonus(components, alpha=0.5, target_rate=0.3) == pytest.approx([0.5 * 0.05, 0, 0, 0])
    assert vt.group_bonus(components * 2 + [components[0]] * 2, 0.5, 0.3) == [0.0] * 10   # RaPR 0.4 >= H


class CoinEpisode:
    """Any completion; "used a tool" when its first character's code is a multiple of 4 (~1/4 of the draws)."""

    def __init__(self, example):
        self.example, self.text = example, ""

    def observation(self):
        return "Go:"

    def step(self, completion):
        self.text = completion
        return "", True

    def reward(self):
        return 0.0, {"used_tool": float(bool(self.text) and ord(self.text[0]) % 4 == 0), "success": 0.0}

    def answer(self):
        return self.text

    def info(self):
        return {}


class CoinTask:
    name, style = "coin", "reprompt"
    special_tokens, stop_tokens = ["</go>"], ["</go>"]
    max_turns, max_new_tokens = 1, 4

    def examples(self, split, n, seed=0):
        return [{"id": f"{split}-{seed}-{i}", "family": "coin", "difficulty": "easy"} for i in range(n)]

    def reset(self, example):
        return CoinEpisode(example)


TASKS = {"coin": CoinTask()}


def test_grpo_adds_the_curiosity_bonus_only_when_asked(tmp_path):
    """The task's own reward is always 0, so the logged reward is exactly the mean bonus."""
    checkpoint = str(tmp_path / "tiny")
    tokenizer = sft.build_char_tokenizer(CoinTask.special_tokens)
    torch.manual_seed(0)
    sft.build_tiny_model(tokenizer, "tiny").save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    common = ["grpo.py", "--task", "test_vlm_warmup:coin", "--model", checkpoint, "--steps", "3",
              "--prompts-per-step", "4", "--num-generations", "8", "--eval-every", "0"]
    run(*common, "--out-dir", str(tmp_path / "on"), "--curiosity-bonus", "0.5", "--curiosity-target", "0.3")
    run(*common, "--out-dir", str(tmp_path / "off"))
    on, off = metrics(tmp_path / "on"), metrics(tmp_path / "off")
    for row in on:
        assert row["reward"] == pytest.approx(row["reward/curiosity"], abs=1e-6)
        assert 0 <= row["reward/curiosity"] <= 0.5 * (0.3 - 1 / 8) / 8 + 1e-6   # max over groups of alpha (H - RaPR) RaPR
    assert sum(row["reward/curiosity"] for row in on) > 0   # some group had 1 or 2 tool users of 8
    assert all(row["reward"] == 0 and "reward/curiosity" not in row for row in off)
    samples = [json.loads(line) for line in open(tmp_path / "on" / "samples.jsonl")]
    assert all("curiosity" in s["components"] for s in samples)
