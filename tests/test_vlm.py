"""The vision-language path (vlm.py through sft/grpo/eval/chat/rollout) with a tiny Qwen2.5-VL built from scratch:
image tokens and loss masks, pixel inputs and mRoPE positions equal the HF image processor's and get_rope_index's,
SFT on `digits` lowers the loss, log-probs stored while sampling (prompt images and image-bearing env replies) equal
a fresh forward's, and grpo/eval/chat run on an image task (CPU, ~2 minutes).

    python -m pytest -q tests/test_vlm.py
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import Qwen2VLImageProcessorPil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ENV = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}

import grpo  # noqa: E402
import sft  # noqa: E402
import vlm  # noqa: E402
from rollout import get_task, run_episodes  # noqa: E402


def run(*argv, timeout=600, cwd=ROOT):
    out = subprocess.run([sys.executable, *argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def metrics(out_dir):
    return [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]


# ---- a toy append task whose env answers every turn with a new image (a ZOOM_IN-like reply) ----

class ZoomEpisode:
    def __init__(self, example, turns):
        self.example, self.turns, self.max_replies = example, 0, turns
        self._images = [np.random.default_rng(example["seed"]).integers(0, 256, (56, 84, 3), dtype=np.uint8)]

    def observation(self):
        return f"{vlm.IMAGE}\nlook {self.example['seed']}:"

    def images(self):
        return list(self._images)

    def step(self, completion):
        self.turns += 1
        rng = np.random.default_rng([self.example["seed"], self.turns])   # a new image of a new size each turn
        self._images.append(rng.integers(0, 256, (28 * (1 + self.turns), 56, 3), dtype=np.uint8))
        return f"\n<result>{vlm.IMAGE}</result>\n", self.turns >= self.max_replies

    def reward(self):
        return 0.0, {"success": 0.0}

    def answer(self):
        return None

    def info(self):
        return {}


class ZoomTask:
    """Any of 13 letters ends a turn, so even a random model runs several image-bearing cycles."""
    name, style = "zoom", "append"
    special_tokens = [vlm.IMAGE, "<result>", "</result>"]
    stop_tokens = list("abcdefghijklm")
    max_turns, max_new_tokens = 4, 12

    def __init__(self, replies=3):
        self.replies = replies

    def examples(self, split, n, seed=0):
        return [{"id": f"zoom-{i}", "family": "zoom", "difficulty": "easy", "seed": i} for i in range(n)]

    def reset(self, example):
        return ZoomEpisode(example, self.replies)


def sharp_tiny_vlm(tokenizer):
    """A random tiny VLM with weights scaled up, so its log-probs depend strongly on positions and pixels
    (at the default init they are nearly uniform and a wrong position would go unnoticed)."""
    torch.manual_seed(0)
    model = vlm.build_tiny_vlm(tokenizer, "tiny")
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(8.0)
    return model


@pytest.mark.parametrize("max_turns", [4, 2])   # 2: the last reply's image is produced but never fed
def test_stored_logprobs_match_a_fresh_forward_with_the_same_pixels(max_turns):
    torch.set_num_threads(1)
    task = ZoomTask()
    tok = sft.build_char_tokenizer(task.special_tokens + vlm.VISION_TOKENS)
    model, processor = sharp_tiny_vlm(tok), vlm.build_image_processor()
    results = run_episodes(model, tok, task, task.examples("train", 3), num_generations=2, temperature=1.0, seed=1,
                           max_turns=max_turns, image_processor=processor)
    turns = [r.turns[0] for r in results]
    start, pad = tok.convert_tokens_to_ids(["<|vision_start|>", "<|image_pad|>"])
    vision_ids = set(tok.convert_tokens_to_ids(vlm.VISION_TOKENS))
    for t in turns:  # the stored pixels are exactly the images whose tokens the sequence holds
        ids = t.prompt_ids + t.completion_ids
        assert ids.count(start) == sum(len(p["image_grid_thw"]) for p in t.pixels)
        assert ids.count(pad) == sum(int(p["image_grid_thw"].prod(-1).sum()) // 4 for p in t.pixels)
        assert not any(i in vision_ids for i, m in zip(t.completion_ids, t.completion_mask) if m)  # never sampled
    # prompt image + the replies fed as image chunks (3 replies, the last ends the episode; or cut by max_turns)
    assert max(len(t.pixels) for t in turns) == min(max_turns, 3)

    samples = [(t, 1.0) for t in turns]
    sequences, mask, stored, _ = grpo.pack(samples, tok.pad_token_id, "cpu")
    pixels = vlm.cat_pixels([p for t in turns for p in t.pixels])
    with torch.no_grad():
        fresh, entropy = grpo.token_logprobs(model, sequences, mask.shape[1], tok.pad_token_id, 1.0, pixels)
        assert ((fresh - stored).abs() * mask).max().item() < 1e-4
        assert torch.isfinite(entropy).all()
        # the check has teeth: plain 1-D positions give other log-probs
        attention = grpo._left_pad_mask(sequences, tok.pad_token_id)
        positions_1d = (attention.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=sequences, attention_mask=attention, position_ids=positions_1d,
                       logits_to_keep=mask.shape[1] + 1, **pixels).logits[:, :-1]
        logprobs = torch.log_softmax(vlm.forbid_vision_tokens(logits, model), -1)
        wrong = logprobs.gather(-1, sequences[:, -mask.shape[1]:, None])[..., 0]
        assert ((wrong - stored).abs() * mask).max().item() > 0.1


def test_image_tokens_and_loss_masks_of_the_pixel_demo():
    task = get_task("pixel")
    tok = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
    processor = vlm.build_image_processor()
    sequences = sft.task_sequences(task, "train", 8, 0, tok.eos_token, images=True)
    segments, images = next(s for s in sequences if len(s[1]) == 2)   # a ZOOM_IN demo: the scene, then the crop
    assert images[1].shape != images[0].shape
    for env_output in (False, True):
        ids, labels = sft.tokenize_sequence(tok, segments, env_output, processor, images)
        pixels = vlm.pixel_inputs(processor, images)
        pad = tok.convert_tokens_to_ids("<|image_pad|>")
        assert ids.count(pad) == int(pixels["image_grid_thw"].prod(-1).sum()) // 4
        vision = set(tok.convert_tokens_to_ids(vlm.VISION_TOKENS))
        assert all(label == -100 for i, label in zip(ids, labels) if i in vision)   # image tokens never trained
        trained = tok.decode([label for label in labels if label != -100])
        assert trained.startswith("<think>") and "Question" not in trained
        assert ("<result>" in trained) == env_output
    # a digits canvas (100x100 -> 112x112) is 4x4 merged patches
    assert vlm.image_text(processor, np.zeros((100, 100, 3), np.uint8)).count("<|image_pad|>") == 16


def task_images(n=6):
    """Images of the three image tasks' demos: digits canvases, cryptogram decoders, pixel scenes, ZOOM_IN crops
    of several sizes and video frames."""
    images = []
    for name in ("digits", "cryptogram", "pixel"):
        task = get_task(name)
        for example in task.examples("train", n if name != "pixel" else 2 * n):
            images += task.demo_images(example)
    return images


def test_pixel_inputs_equal_the_image_processors():
    rng = np.random.default_rng(0)
    odd = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)   # upscaled to min_pixels, ragged, downscaled to max
           for h, w in [(20, 30), (29, 29), (57, 300), (5, 600), (1100, 1000)]]
    images = task_images() + odd
    assert len({im.shape for im in images}) >= 8
    # ours, a Qwen3-VL-like processor (16 px patches, mean 0.5, other pixel bounds), and one without normalize
    for processor in (vlm.build_image_processor(),
                      Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3,
                                               image_std=[0.5] * 3, min_pixels=64 * 64, max_pixels=256 * 256),
                      Qwen2VLImageProcessorPil(do_normalize=False)):
        ref = processor(images=images, return_tensors="pt")
        ours = vlm.pixel_inputs(processor, images)
        assert ours["pixel_values"].dtype == ref["pixel_values"].dtype == torch.float32
        assert torch.equal(ours["pixel_values"], ref["pixel_values"])
        assert torch.equal(ours["image_grid_thw"], ref["image_grid_thw"])
    assert vlm.pixel_inputs(processor, []) is None
    # sft.collate's pixels come from the examples' stored patches
    tok = sft.build_char_tokenizer(list(get_task("pixel").special_tokens) + vlm.VISION_TOKENS)
    processor = vlm.build_image_processor()
    seqs = sft.task_sequences(get_task("pixel"), "train", 8, 0, tok.eos_token, images=True)
    data = [(*sft.tokenize_sequence(tok, s, False, processor, ims), [vlm.patchify(processor, im) for im in ims])
            for s, ims in seqs]
    pixels = sft.collate(data, tok.pad_token_id, "cpu", processor)[3]
    ref = processor(images=[im for _, ims in seqs for im in ims], return_tensors="pt")
    assert torch.equal(pixels["pixel_values"], ref["pixel_values"])


def test_packed_vision_attention_equals_sdpa_image_by_image():
    """vlm.packed_sdpa (one SDPA call per run of equal-size images) gives the image features and gradients of HF's
    own SDPA path (one call per image), on a batch mixing sizes (runs of 3, 1, 3 and 1 images)."""
    images = task_images()
    images = sorted(images, key=lambda im: im.shape)[:3] + images[-1:] + sorted(images, key=lambda im: im.shape)[:3] + images[-1:]
    tok = sft.build_char_tokenizer(list(get_task("digits").special_tokens) + vlm.VISION_TOKENS)
    pixels = vlm.pixel_inputs(vlm.build_image_processor(), images)
    features, grads = [], []
    for packed in (False, True):
        torch.manual_seed(0)
        model = vlm.build_tiny_vlm(tok, "tiny")
        if not packed:
            model.set_attn_implementation({"vision_config": "sdpa"})
        assert model.config.vision_config._attn_implementation == (vlm.PACKED_ATTENTION if packed else "sdpa")
        out = torch.cat(model.model.get_image_features(**pixels).pooler_output)
        out.square().sum().backward()
        features.append(out.detach())
        grads.append(model.model.visual.blocks[0].attn.qkv.weight.grad)
    assert len({im.shape for im in images}) >= 2
    torch.testing.assert_close(features[1], features[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def tiny_qwen_vl(cls, config_cls, image_token_id, **vision):
    text = dict(vocab_size=image_token_id + 4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=16, head_dim=8, bos_token_id=None, eos_token_id=None)
    return cls(config_cls(text_config=text, vision_config=dict(depth=1, hidden_size=16, num_heads=2, **vision),
                          image_token_id=image_token_id, video_token_id=image_token_id + 1))


def test_rope_positions_equal_get_rope_index():
    from transformers import Qwen2VLConfig, Qwen2VLModel, Qwen3VLConfig, Qwen3VLModel
    task = get_task("pixel")
    tok = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
    processor = vlm.build_image_processor()
    seqs = sft.task_sequences(task, "train", 8, 0, tok.eos_token, images=True)   # 1-8 images a row (crops, frames)
    data = [sft.tokenize_sequence(tok, s, False, processor, ims) for s, ims in seqs]
    pixels = vlm.pixel_inputs(processor, [im for _, ims in seqs for im in ims])
    ids, attention, _ = sft.collate(data, tok.pad_token_id, "cpu")
    L, image_id = ids.shape[1], tok.convert_tokens_to_ids("<|image_pad|>")
    shift = [int(L - a.sum()) for a in attention]
    left_ids = torch.stack([r.roll(s) for r, s in zip(ids, shift)])
    left = torch.stack([a.roll(s) for a, s in zip(attention, shift)])
    holes = left * ((torch.rand(left.shape, generator=torch.Generator().manual_seed(0)) > 0.1) | (left_ids == image_id))
    one, one_pixels = torch.tensor([data[0][0]]), vlm.pixel_inputs(processor, seqs[0][1])
    text = torch.tensor([tok.encode("no image here")])
    cases = [(ids, attention, pixels), (left_ids, left, pixels), (left_ids, holes, pixels), (one, None, one_pixels),
             (text, None, None), (text, torch.ones_like(text), {})]
    for model in (vlm.build_tiny_vlm(tok, "tiny").model, tiny_qwen_vl(Qwen2VLModel, Qwen2VLConfig, image_id, embed_dim=16),
                  tiny_qwen_vl(Qwen3VLModel, Qwen3VLConfig, image_id, intermediate_size=16, out_hidden_size=16,
                               deepstack_visual_indexes=[])):
        for input_ids, mask, px in cases:   # right pads, left pads, pads between text tokens, none, text alone
            ref, _ = model.get_rope_index(input_ids, mm_token_type_ids=(input_ids == image_id).int(), attention_mask=mask,
                                          image_grid_thw=px["image_grid_thw"] if px else None)
            assert torch.equal(vlm.rope_positions(model, input_ids, mask, px), ref)


def test_text_model_on_an_image_task_names_the_fix():
    task = get_task("digits")
    tok = sft.build_char_tokenizer(task.special_tokens)
    with pytest.raises(ValueError, match="python sft.py --task digits"):
        run_episodes(sft.build_tiny_model(tok, "tiny"), tok, task, task.examples("train", 1))


@pytest.fixture(scope="module")
def sft_digits(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("vlm") / "sft-digits")
    run("sft.py", "--task", "digits", "--model-size", "tiny", "--steps", "40", "--batch-size", "8", "--num-examples", "96",
        "--num-val-examples", "8", "--lr", "3e-3", "--warmup-steps", "5", "--eval-every", "40", "--save-every", "40",
        "--vision-warmup-steps", "10", "--out-dir", out)
    return out


def test_sft_digits_loss_falls(sft_digits):
    losses = [m["loss"] for m in metrics(sft_digits) if "loss" in m]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.55 * sum(losses[:5]) / 5, losses
    for f in ("config.json", "preprocessor_config.json", "tokenizer.json"):
        assert os.path.exists(os.path.join(sft_digits, f)), f
    config = json.load(open(os.path.join(sft_digits, "config.json")))
    assert config["model_type"] == "qwen2_5_vl" and "vision_config" in config


def test_grpo_eval_and_chat_run_on_an_image_task(sft_digits, tmp_path):
    out = str(tmp_path / "grpo")
    run("grpo.py", "--task", "digits", "--model", sft_digits, "--out-dir", out, "--steps", "2", "--prompts-per-step", "2",
        "--num-generations", "4", "--beta", "0.05", "--num-iterations", "2", "--eval-every", "2", "--eval-examples", "4")
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) and np.isfinite(r["kl"]) for r in rows)
    assert "eval/success" in rows[-1] and os.path.exists(os.path.join(out, "preprocessor_config.json"))
    # --freeze-vision (default): the policy gradient moves the language model, not the tower
    from safetensors.torch import load_file
    before, after = (load_file(os.path.join(d, "model.safetensors")) for d in (sft_digits, out))
    tower = [n for n in before if "visual." in n]
    assert tower and all(torch.equal(before[n], after[n]) for n in tower)
    assert any(not torch.equal(before[n], after[n]) for n in before if n not in tower)

    ev = str(tmp_path / "eval")
    run("eval.py", "--task", "digits", "--model", sft_digits, out, "--n", "6", "--out-dir", ev)
    result = json.load(open(os.path.join(ev, "results.json")))["rows"]
    assert result["expert"]["all"]["success"] == 1.0
    assert {"untrained", sft_digits, out} <= set(result) and result[out]["all"]["n"] == 6

    from PIL import Image
    image = str(tmp_path / "digits.png")
    task = get_task("digits")
    Image.fromarray(task.render(task.examples("test", 1)[0])).save(image)
    chat = os.path.join(ROOT, "chat.py")   # run from tmp_path: chat saves the shown examples under ./runs/
    stdout = run(chat, "--task", "digits", "--model", out, "--image", image, "--query", "What is the sum?",
                 "--max-tokens", "16", "--show-think", cwd=tmp_path)
    assert stdout.strip()   # the streamed answer
    stdout = run(chat, "--task", "digits", "--model", out, "--query", "/next", "--max-tokens", "16", cwd=tmp_path)
    assert "images: runs/chat-digits/" in stdout and "(reward" in stdout
    assert len(os.listdir(tmp_path / "runs" / "chat-digits")) == 2   # example 0 shown at start, then /next
