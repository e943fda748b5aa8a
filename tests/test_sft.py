"""Tests for sft.py: the char tokenizer and tiny model, data rendering and loss masks, new-token rows under
LoRA, and end-to-end runs (loss falls; a killed run resumes to the same final weights).

    python -m pytest -q tests/test_sft.py
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import sft  # noqa: E402

WM_TOKENS = ["<think>", "</think>", "<model>", "</model>", "<code>", "</code>", "<output>", "</output>"]


# ---- a toy task (registered as "test_sft:copy" for the subprocess runs) ----

class CopyEpisode:
    def __init__(self, example):
        self.example, self.text = example, ""

    def observation(self):
        return f"<BOS>copy {self.example['word']}\n"

    def step(self, completion):
        self.text = completion
        return "", True

    def reward(self):
        ok = float(self.text == self.example["word"] + "</command>")
        return ok, {"success": ok}

    def answer(self):
        return self.text

    def info(self):
        return {"said": self.text}

    def close(self):
        pass


class CopyTask:
    """Reprompt toy task: repeat a word of 3-6 letters, then </command>."""
    name, style = "copy", "reprompt"
    special_tokens, stop_tokens = ["<BOS>", "</command>"], ["</command>"]
    max_turns, max_new_tokens = 1, 12

    def examples(self, split, n, seed=0):
        rng = random.Random(f"copy-{split}-{seed}")
        out = []
        for i in range(n):
            word = "".join(rng.choice("abcdef") for _ in range(rng.randint(3, 6)))
            out.append({"id": f"copy-{split}-{seed}-{i}", "family": "short" if len(word) < 5 else "long",
                        "difficulty": "easy", "word": word})
        return out

    def reset(self, example):
        return CopyEpisode(example)

    def demo(self, example):
        return [[(f"<BOS>copy {example['word']}\n", False), (example["word"] + "</command>", True)]]


class AppendCopyTask(CopyTask):
    name, style = "copy_append", "append"


TASKS = {"copy": CopyTask(), "copy_append": AppendCopyTask()}


def check_labels_char_by_char(tokenizer, segments, input_ids, labels, train_on_env_output=False):
    """Independent of sft's tokenizer walk: every char-tokenizer token covers a known span of the text; the
    span must sit inside one segment, and its label must be its id exactly when that segment is trained."""
    text = "".join(t for t, _ in segments)
    assert len(input_ids) == len(labels)
    bounds, pos = [], 0
    for seg_text, trainable in segments:
        bounds.append((pos, pos + len(seg_text), trainable))
        pos += len(seg_text)
    first_trained = min(start for start, _, tr in bounds if tr)
    pos = 0
    for tok_id, label in zip(input_ids, labels):
        piece = tokenizer.convert_ids_to_tokens(tok_id)
        assert text.startswith(piece, pos), f"token {piece!r} does not match the text at {pos}"
        (seg_start, seg_end, trainable), = [b for b in bounds if b[0] <= pos < b[1]]
        assert pos + len(piece) <= seg_end, f"token {piece!r} crosses a segment boundary"
        expected = trainable or (train_on_env_output and seg_start >= first_trained)
        assert label == (tok_id if expected else -100), f"wrong label for {piece!r} at char {pos}"
        pos += len(piece)
    assert pos == len(text), "some text was lost in tokenization"


def trained_text(tokenizer, input_ids, labels):
    return "".join(tokenizer.convert_ids_to_tokens([i for i, l in zip(input_ids, labels) if l != -100]))


# ---- CLI, tokenizer, model presets ----

def test_help_lists_every_field_and_unknown_flags_fail(capsys):
    with pytest.raises(SystemExit) as e:
        sft.parse_args(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in sft.Args.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in out
    assert "LoRA rank; 0 = full fine-tuning" in out
    with pytest.raises(SystemExit) as e:
        sft.parse_args(["--task", "vi", "--no-such-flag"])
    assert e.value.code == 2
    args = sft.parse_args(["--task", "vi", "--lora-r", "8", "--train-on-env-output"])
    assert args.lora_r == 8 and args.train_on_env_output and args.model == "tiny"


def test_char_tokenizer_round_trips(tmp_path):
    from transformers import AutoTokenizer
    specials = ["<BOS>", "</command>", "<Esc>", "<Enter>", "<Tab>"]
    tok = sft.build_char_tokenizer(specials)
    text = "<BOS>\n<notepad>\n1 |<cursor>x = 1\t# ok\n</notepad>\n3GdwA!<Esc></command>"
    ids = tok.encode(text, add_special_tokens=False)
    pieces = tok.convert_ids_to_tokens(ids)
    for s in specials[:3]:
        assert pieces.count(s) == 1  # one token each, matched before its characters
    assert "<notepad>" not in pieces and "<" in pieces  # other tags stay characters
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == text  # task tokens survive skipping specials
    assert tok.pad_token_id is not None and tok.eos_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert tok.decode(tok.encode("é", add_special_tokens=False)) == "<unk>"
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.encode(text, add_special_tokens=False) == ids
    assert (loaded.pad_token, loaded.eos_token, len(loaded)) == (tok.pad_token, tok.eos_token, len(tok))


def test_model_size_presets():
    tok = sft.build_char_tokenizer(["<BOS>", "</command>", "<Esc>", "<Enter>", "<Tab>"])
    bounds = {"tiny": (0.1e6, 0.5e6), "cpu": (0.5e6, 3e6), "small": (20e6, 50e6)}
    for size, (lo, hi) in bounds.items():
        model = sft.build_tiny_model(tok, size)
        n = sum(p.numel() for p in model.parameters())
        assert lo <= n <= hi, f"{size}: {n} params"
        assert model.config.vocab_size == len(tok) and model.config.eos_token_id == tok.eos_token_id
    with pytest.raises(ValueError, match="unknown model size"):
        sft.build_tiny_model(tok, "huge")


# ---- data rendering and loss masks ----

def test_multi_cycle_labels_token_by_token():
    tok = sft.build_char_tokenizer(WM_TOKENS)
    segments = [("Question: 45 pens at 3 for $2?\n", False),
                ("<think>groups</think>\n<code>\nprint(45 // 3)\n</code>", True), ("\n<output>\n15\n</output>\n", False),
                ("<think>cost</think>\n<model>c = g * 2</model>\n<code>\nprint(15 * 2)\n</code>", True),
                ("\n<output>\n30\n</output>\n", False), ("$30", True), (tok.eos_token, True)]
    ids, labels = sft.tokenize_sequence(tok, segments)
    check_labels_char_by_char(tok, segments, ids, labels)
    trained = trained_text(tok, ids, labels)
    assert trained.count("<code>") == 2 and trained.count("<think>") == 2 and "<output>" not in trained
    assert trained.endswith("$30" + tok.eos_token)
    ids, labels = sft.tokenize_sequence(tok, segments, train_on_env_output=True)
    check_labels_char_by_char(tok, segments, ids, labels, train_on_env_output=True)
    trained = trained_text(tok, ids, labels)
    assert trained.count("<output>") == 2 and "Question" not in trained  # the prompt is never trained


def test_worldmodel_rows_keep_every_cycle():
    exec_env = pytest.importorskip("exec_env", reason="exec_env.py (format_prompt, response_segments) not importable")
    tok = sft.build_char_tokenizer(WM_TOKENS)
    path = ROOT / "tests" / "data" / "worldmodel_rows.jsonl"
    sequences, blank = sft.load_jsonl_sequences(path, tok)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert blank == 0 and [n for n, _ in sequences] == [1, 2, 3]
    for (lineno, segments), row in zip(sequences, rows):
        assert segments[0] == (exec_env.format_prompt(row["query"]), False)
        ids, labels = sft.tokenize_sequence(tok, segments)
        check_labels_char_by_char(tok, segments, ids, labels)
        trained = trained_text(tok, ids, labels)
        # every code block is trained on, verbatim; no env output is
        for block in row["response"].split("<code>")[1:]:
            assert "<code>" + block.split("</code>")[0] + "</code>" in trained
        assert trained.count("<code>") == row["response"].count("<code>") >= 1
        assert trained.count("<think>") == row["response"].count("<think>")
        assert "<output>" not in trained and trained.endswith(tok.eos_token)
    assert sum(trained_text(tok, *sft.tokenize_sequence(tok, s)).count("<code>") for _, s in sequences) == 6


QWEN3_LIKE_TEMPLATE = (  # drops every <think> cycle of earlier assistant turns, as the stock Qwen3 template does
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}<|im_start|>assistant\n{{ m.content.split('</think>')[-1] }}<|im_end|>\n"
    "{%- else -%}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}")


def test_chat_rows_train_assistant_turns_verbatim(tmp_path):
    tok = sft.build_char_tokenizer(WM_TOKENS)
    tok.chat_template = QWEN3_LIKE_TEMPLATE
    first = ("<think>split</think>\n<code>\nprint(2 * 3)\n</code>\n<think>check</think>\n<code>\nprint(6 + 1)\n</code>\n"
             "Seven.")
    second = "<think>again</think>\n<code>\nprint(8)\n</code>\nEight."
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2*3+1?"},
            {"role": "assistant", "content": first}, {"role": "user", "content": "And 8?"},
            {"role": "assistant", "content": second}]
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": msgs}) + "\n\n")
    sequences, blank = sft.load_jsonl_sequences(path, tok)
    assert blank == 1 and len(sequences) == 2  # one sequence per assistant turn
    for (_, segments), i, content in zip(sequences, [2, 4], [first, second]):
        assert segments[0] == (tok.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True), False)
        ids, labels = sft.tokenize_sequence(tok, segments)
        check_labels_char_by_char(tok, segments, ids, labels)
        assert trained_text(tok, ids, labels) == content + tok.eos_token
    # the template applied to the whole conversation would have lost a code block of the first turn
    assert tok.apply_chat_template(msgs, tokenize=False).count("<code>") < (first + second).count("<code>")
    # without a template: a plain "role: content" rendering, assistant text still verbatim
    tok.chat_template = None
    segments = sft.load_jsonl_sequences(path, tok)[0][0][1]
    assert segments[0][0] == "system: Be brief.\nuser: 2*3+1?\nassistant: " and segments[1] == (first, True)


@pytest.mark.parametrize("line,match", [
    ('{"prompt": "a", "completion": "b"', "not valid JSON"),
    ('[1, 2]', "must be a JSON object"),
    ('{"prompt": "a"}', "'prompt' and 'completion' must both be strings"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', "no assistant turn"),
    ('{"messages": [{"role": "user"}]}', "list of"),
    ('{"query": "q"}', "WorldModel row needs"),
    ('{"text": "free text"}', "unknown row schema"),
])
def test_malformed_rows_name_file_and_line(tmp_path, line, match):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "p", "completion": "c"}\n\n' + line + "\n")
    with pytest.raises(ValueError, match=f"rows.jsonl:3: .*{match}"):
        sft.read_jsonl_rows(path)


def test_task_sequences_end_as_the_style_requires():
    tok = sft.build_char_tokenizer(CopyTask.special_tokens)
    reprompt = sft.task_sequences(CopyTask(), "train", 3, 0, tok.eos_token)
    append = sft.task_sequences(AppendCopyTask(), "train", 3, 0, tok.eos_token)
    assert len(reprompt) == 3 and all(s[-1][0].endswith("</command>") for s in reprompt)
    assert all(s[-1] == (tok.eos_token, True) and s[:-1] == r for s, r in zip(append, reprompt))


def test_length_grouped_batches():
    rng = random.Random(0)
    lengths = [rng.randint(10, 600) for _ in range(1000)]
    e0 = sft.length_grouped_batches(lengths, 16, seed=3, epoch=0, group=8)
    assert sorted(i for b in e0 for i in b) == list(range(1000))
    assert e0 == sft.length_grouped_batches(lengths, 16, seed=3, epoch=0, group=8)
    assert e0 != sft.length_grouped_batches(lengths, 16, seed=3, epoch=1, group=8)
    pad = lambda batches: sum(max(lengths[i] for i in b) * len(b) for b in batches) / sum(lengths) - 1
    ungrouped = sft.length_grouped_batches(lengths, 16, seed=3, epoch=0, group=1)
    assert pad(e0) < 0.2 < 0.5 < pad(ungrouped)


# ---- new tokens under LoRA on an HF-format model ----

def save_fake_hub_model(path, tied):
    """A tiny Qwen3 and a small byte-level BPE tokenizer without any of the task's tokens, saved like a hub model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = ["Question: what is two plus two?", "print(4) gives 4", "the answer is four"] * 20
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         num_key_value_heads=1, head_dim=16, intermediate_size=64,
                                         tie_word_embeddings=tied, eos_token_id=tok.eos_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return len(tok)


def effective_rows(model, ids):
    """(input rows, output rows) of token ids as the model actually uses them (through any PEFT wrappers)."""
    with torch.no_grad():
        inp = model.get_input_embeddings()(torch.tensor(ids))
        hidden = inp.shape[-1]
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        out = base.get_output_embeddings()(torch.eye(hidden))[:, ids].T  # lm_head(I) = W^T
    return inp.clone(), out.clone()


@pytest.mark.parametrize("tied", [True, False])
def test_new_token_rows_train_under_lora(tmp_path, tied):
    from peft import AutoPeftModelForCausalLM
    hub = tmp_path / "hub"
    old_vocab = save_fake_hub_model(hub, tied)
    args = sft.Args(model=str(hub), lora_r=4, lora_alpha=8, lora_dropout=0.0)
    new_tokens = ["<think>", "</think>", "<code>", "</code>"]
    model, tok, new_ids = sft.load_model(args, new_tokens, torch.device("cpu"), torch.float32)
    assert sorted(new_ids) == list(range(old_vocab, old_vocab + 4)) and len(tok) == old_vocab + 4
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)
    old_ids = [5, 50, 100]
    before_new, before_old = effective_rows(model, new_ids), effective_rows(model, old_ids)

    segments = [("Question: what is two plus two?\n", False), ("<think>two plus two</think><code>print(4)</code>", True),
                (tok.eos_token, True)]
    batch = sft.collate([sft.tokenize_sequence(tok, segments)] * 2, tok.pad_token_id, torch.device("cpu"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(5):
        loss = sft.sequence_loss_sum(model, *batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
    after_new, after_old = effective_rows(model, new_ids), effective_rows(model, old_ids)
    for b, a, name in zip(before_new, after_new, ["input", "output"]):
        assert (a - b).abs().amax(dim=1).min() > 1e-3, f"some new {name} rows did not change"
    for b, a in zip(before_old, after_old):
        assert torch.equal(a, b), "old rows must stay frozen under LoRA"
    if tied:
        assert torch.allclose(after_new[0], after_new[1]), "tied embeddings must stay tied"

    # sft.py's save for an HF base under LoRA; AutoPeftModelForCausalLM gets the trained rows back
    model.save_pretrained(tmp_path / "out", save_embedding_layers=False)
    tok.save_pretrained(tmp_path / "out")
    loaded = AutoPeftModelForCausalLM.from_pretrained(tmp_path / "out")
    for a, b in zip(after_new, effective_rows(loaded, new_ids)):
        assert torch.allclose(a, b, atol=1e-6)


def test_4bit_without_bitsandbytes_says_so(tmp_path):
    pytest.importorskip("peft")
    try:
        import bitsandbytes  # noqa: F401
        pytest.skip("bitsandbytes is installed")
    except ImportError:
        pass
    save_fake_hub_model(tmp_path / "hub", tied=True)
    args = sft.Args(model=str(tmp_path / "hub"), lora_r=4, load_in_4bit=True)
    with pytest.raises(SystemExit, match="needs bitsandbytes"):
        sft.load_model(args, [], torch.device("cpu"), torch.float32)


# ---- end to end: a run learns, and a killed run resumes to the same final state ----

def sft_cmd(out_dir, *extra):
    return [sys.executable, str(ROOT / "sft.py"), "--task", "test_sft:copy", "--model-size", "tiny", "--steps", "80",
            "--batch-size", "8", "--num-examples", "300", "--num-val-examples", "16", "--warmup-steps", "5",
            "--save-every", "10", "--eval-every", "40", "--out-dir", str(out_dir), *extra]


ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}", "TQDM_DISABLE": "1"}


def read_metrics(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_learns_then_kill_and_resume_matches(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ref = tmp_path / "ref"
    done = subprocess.run(sft_cmd(ref, "--eval-episodes", "8"), env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_metrics(ref)
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == list(range(1, 81))
    first, last = train[0]["loss"], sum(r["loss"] for r in train[-5:]) / 5
    assert last < 0.5 * first, f"loss did not fall markedly: {first:.3f} -> {last:.3f}"
    assert [r["step"] for r in train if "val_loss" in r] == [40, 80]
    assert train[-1]["val_loss"] < 0.5 * first and all(r["tokens_per_s"] > 0 for r in train)
    evals = [r for r in records if "eval_success" in r]
    assert len(evals) == 1 and 0.0 <= evals[0]["eval_success"] <= 1.0
    assert {"eval_success/short", "eval_success/long"} <= set(evals[0])
    assert "family" in done.stdout and (ref / "loss.png").stat().st_size > 0
    assert json.loads((ref / "args.json").read_text())["steps"] == 80
    assert json.loads((ref / "args.json").read_text())["context_loss_weight"] == 0.25  # auto, for --model tiny
    model, tok = AutoModelForCausalLM.from_pretrained(ref), AutoTokenizer.from_pretrained(ref)  # plain HF loading
    assert model.config.vocab_size == len(tok) and len(tok.encode("</command>", add_special_tokens=False)) == 1

    # same run, killed right after its first checkpoint, then resumed with the same command + --resume
    run = tmp_path / "run"
    proc = subprocess.Popen(sft_cmd(run), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "ckpt" / "state.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = json.loads((run / "ckpt" / "state.json").read_text())["step"]
    assert 10 <= killed_at < 80 and not (run / "model.safetensors").exists()
    resumed = subprocess.run(sft_cmd(run, "--resume"), env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {run / 'ckpt'} at step {killed_at}" in resumed.stdout

    steps = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 81))  # no step lost or logged twice
    assert [r["loss"] for r in steps] == pytest.approx([r["loss"] for r in train], rel=1e-5)
    final_ref, final_run = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert final_ref.keys() == final_run.keys()
    for name in final_ref:
        torch.testing.assert_close(final_run[name], final_ref[name], rtol=1e-5, atol=1e-6)


def test_context_loss_sums_the_untrained_real_tokens():
    """sequence_loss_sum(context=True): the second sum is the cross-entropy over exactly the real tokens
    without a label (prompt), computed here independently from the full logits; pads count nowhere."""
    tok = sft.build_char_tokenizer(["<BOS>", "</command>"])
    torch.manual_seed(0)
    model = sft.build_tiny_model(tok, "tiny").eval()
    data = [sft.tokenize_sequence(tok, [(f"<BOS>copy {w}\n", False), (w + "</command>", True)]) for w in ("abc", "fedcba")]
    ids, attention, labels = sft.collate(data, tok.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        target_sum, context_sum = sft.sequence_loss_sum(model, ids, attention, labels, context=True)
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    trained, real = labels[:, 1:] != -100, attention[:, 1:] == 1
    assert int((real & ~trained).sum()) == sum(len(i) - 1 for i, _ in data) - int(trained.sum())
    torch.testing.assert_close(target_sum, ce[trained].sum(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(context_sum, ce[real & ~trained].sum(), rtol=1e-4, atol=1e-4)


def test_context_loss_of_a_vlm_leaves_the_image_placeholders_out():
    """On an image task the context sum covers the prompt's text tokens only: the image placeholders (and the
    vision frame tokens), which the model never writes, are no targets."""
    import vision_tasks
    import vlm
    task = vision_tasks.TASKS["cryptogram"]
    tok = sft.build_char_tokenizer(task.special_tokens + vlm.VISION_TOKENS)
    torch.manual_seed(0)
    model, processor = vlm.build_tiny_vlm(tok, "tiny").eval(), vlm.build_image_processor()
    seqs = sft.task_sequences(task, "train", 2, 0, tok.eos_token, "all", True)
    data = [(*sft.tokenize_sequence(tok, s, False, processor, ims), [vlm.patchify(processor, im) for im in ims])
            for s, ims in seqs]
    ids, attention, labels, pixels = sft.collate(data, tok.pad_token_id, torch.device("cpu"), processor)
    with torch.no_grad():
        target_sum, context_sum = sft.sequence_loss_sum(model, ids, attention, labels, pixels, context=True)
        logits = model(input_ids=ids, attention_mask=attention, use_cache=False, **pixels,
                       position_ids=vlm.rope_positions(model, ids, attention, pixels)).logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none")
    vision = torch.isin(ids[:, 1:], torch.tensor(tok.convert_tokens_to_ids(vlm.VISION_TOKENS)))
    trained, real = labels[:, 1:] != -100, attention[:, 1:] == 1
    assert int(vision.sum()) >= 2 * 64 and not (vision & trained).any()   # 64 image tokens a decoder
    torch.testing.assert_close(target_sum, ce[trained].sum(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(context_sum, ce[real & ~trained & ~vision].sum(), rtol=1e-4, atol=1e-3)


def test_context_loss_weight_trains_the_context_too(tmp_path):
    """With --context-loss-weight the prompt's loss is logged and falls; the reported loss still learns."""
    out = tmp_path / "ctx"
    done = subprocess.run(sft_cmd(out, "--context-loss-weight", "0.5", "--steps", "40", "--eval-every", "40"),
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    train = [r for r in read_metrics(out) if "loss" in r]
    first, last = train[0], train[-5:]
    assert sum(r["context_loss"] for r in last) / 5 < 0.7 * first["context_loss"]
    assert sum(r["loss"] for r in last) / 5 < 0.5 * first["loss"]
    bad = subprocess.run([sys.executable, str(ROOT / "sft.py"), "--task", "test_sft:copy", "--context-loss-weight", "-2"],
                         env=ENV, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--context-loss-weight must be >= 0" in bad.stderr



# ---- induction warm-up ----

def test_induction_rows_repeat_a_string_at_varying_offsets():
    letters = torch.arange(10, 62)
    x, y = sft.induction_rows(np.random.default_rng(0), letters, 64)
    assert x.shape == y.shape == (64, 100) and torch.isin(x, letters).all()
    offsets = set()
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        labelled = [i for i, t in enumerate(row_y) if t != -100]
        start, end = labelled[0] - 1, labelled[-1] + 1            # the second copy; its first letter is unlabelled
        n = end - start
        assert 10 <= n < 40 and labelled == list(range(start + 1, end))
        assert [row_x[i] for i in labelled] == [row_y[i] for i in labelled]
        firsts = [f for f in range(0, start - n + 1) if row_x[f:f + n] == row_x[start:end]]
        assert firsts, "the labelled string must appear earlier in the row"
        offsets.add(start - firsts[0])
    assert len(offsets) > 20   # no fixed shift to learn in place of the content match


def test_induction_warmup_trains_and_sft_logs_it(tmp_path):
    """Through sft.py: the warm-up's records are logged before the task's steps, and its loss falls (at this size
    and length only to the letters' marginal, ln 52 = 3.95: the induction head itself took ~850-2,900 GPU steps at
    batch 128, README), then the task trains as usual."""
    out = tmp_path / "ind"
    done = subprocess.run(sft_cmd(out, "--induction-warmup-steps", "60", "--steps", "20", "--eval-every", "20"),
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_metrics(out)
    warm = [r for r in records if "induction_loss" in r]
    assert [r["induction_step"] for r in warm] == list(range(1, 61))
    assert records.index(warm[-1]) < min(i for i, r in enumerate(records) if "loss" in r)
    assert warm[0]["induction_loss"] > 4.4 and sum(r["induction_loss"] for r in warm[-10:]) / 10 < 4.05
    assert "induction warm-up 60/60" in done.stdout


def test_induction_warmup_drills_the_tasks_alphabet(monkeypatch):
    """The drill's alphabet is the task's `induction_chars` (pixel: letters and digits, since its tool calls copy
    coordinates); without one, the letters a-z, A-Z as before (the cryptograms)."""
    import string
    import vision_tasks
    tok = sft.build_char_tokenizer(vision_tasks.SPECIAL_TOKENS)
    model = sft.build_tiny_model(tok, "tiny")
    seen, rows = [], sft.induction_rows
    monkeypatch.setattr(sft, "induction_rows", lambda rng, letters, b: seen.append(letters) or rows(rng, letters, b))
    for chars in (vision_tasks.PixelTask.induction_chars, string.ascii_letters):
        list(sft.induction_warmup(model, tok, 1, 2, 1e-3, 0, torch.device("cpu"), torch.float32, chars))
    assert set(tok.convert_ids_to_tokens(seen[0].tolist())) == set(string.ascii_letters + string.digits)
    assert set(tok.convert_ids_to_tokens(seen[1].tolist())) == set(string.ascii_letters)
    assert not hasattr(vision_tasks.CryptogramTask, "induction_chars")


def test_cryptogram_gets_the_induction_warmup_by_default_within_the_time_cap(tmp_path):
    """Auto: the task's induction_warmup (3,000 steps) for --model tiny, stopped after half of --time-budget."""
    out = tmp_path / "crypt"
    done = subprocess.run([sys.executable, str(ROOT / "sft.py"), "--task", "cryptogram-text", "--model-size", "tiny",
                           "--batch-size", "4", "--num-examples", "8", "--num-val-examples", "4", "--steps", "3",
                           "--time-budget", "0.1", "--out-dir", str(out)], env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "induction warm-up stopped" in done.stdout
    assert 0 < sum("induction_loss" in r for r in read_metrics(out)) < 3000
    assert json.loads((out / "args.json").read_text())["induction_warmup_steps"] == 3000


def test_warmups_time_share_sets_the_warmups_cap(tmp_path):
    """--warmups-time-share 0.25: the induction warm-up (alone, so all of the share is its) stops at a quarter of
    --time-budget, and says so."""
    out = tmp_path / "crypt"
    done = subprocess.run([sys.executable, str(ROOT / "sft.py"), "--task", "cryptogram-text", "--model-size", "tiny",
                           "--batch-size", "4", "--num-examples", "8", "--num-val-examples", "4", "--steps", "3",
                           "--time-budget", "0.05", "--warmups-time-share", "0.25", "--out-dir", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "induction warm-up stopped: it may run until 25% of --time-budget is spent" in done.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "sft.py"), "--task", "cryptogram-text", "--warmups-time-share",
                          "0"], env=ENV, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--warmups-time-share must be in (0, 1], got 0.0" in bad.stderr


def run_sft_with_nan_gradients(monkeypatch, out_dir, nan_at):
    """sft.py run in this process on the copy task, every gradient made nan at the optimizer steps `nan_at` (by
    patching the clip that measures the norm)."""
    import runpy
    real_clip, calls = torch.nn.utils.clip_grad_norm_, []

    def clip(params, max_norm, *a, **k):
        params = list(params)
        calls.append(1)
        if nan_at(len(calls)):
            for p in params:
                p.grad.fill_(float("nan"))
        return real_clip(params, max_norm, *a, **k)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    monkeypatch.setattr(sys, "argv", sft_cmd(out_dir, "--steps", "40")[1:])
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    runpy.run_path(str(ROOT / "sft.py"), run_name="__main__")


def test_a_non_finite_gradient_skips_the_step_and_training_goes_on(tmp_path, monkeypatch):
    """Call P (bf16, H100): one nan gradient norm at step 57, and every weight was nan from then on. Now the step is
    skipped and counted: here step 3's gradients are all made nan, and the run still learns, with finite weights."""
    from safetensors.torch import load_file
    run_sft_with_nan_gradients(monkeypatch, tmp_path / "run", nan_at=lambda step: step == 3)
    rows = [r for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert [r["skipped_steps"] for r in rows[:4]] == [0, 0, 1, 1] and rows[-1]["skipped_steps"] == 1
    assert rows[-1]["loss"] < 0.7 * rows[0]["loss"]
    weights = load_file(tmp_path / "run" / "ckpt" / "trainable.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_ten_non_finite_gradients_in_a_row_stop_the_run(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="10 optimizer steps in a row had a non-finite gradient"):
        run_sft_with_nan_gradients(monkeypatch, tmp_path / "run", nan_at=lambda step: True)
    assert [r["skipped_steps"] for r in read_metrics(tmp_path / "run")] == list(range(1, 10))


def test_ramped_step_skips_a_non_finite_gradient():
    layer = torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in layer.parameters()]
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    sft.ramped_step(optimizer, list(layer.parameters()), layer(torch.full((1, 3), float("nan"))).sum(), 0.1)
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    assert all(p.grad is None for p in layer.parameters())
    sft.ramped_step(optimizer, list(layer.parameters()), layer(torch.ones(1, 3)).sum(), 0.1)
    assert not torch.equal(before[0], layer.weight)


def test_eval_and_save_every_zero_mean_only_at_the_end(tmp_path):
    out = tmp_path / "run"
    cmd = sft_cmd(out, "--steps", "6") + ["--eval-every", "0", "--save-every", "0"]   # later flags win
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_metrics(out)
    assert [r["step"] for r in rows if "val_loss" in r] == [6]
    assert os.path.exists(out / "ckpt")


def test_time_budget_is_a_hard_bound(tmp_path):
    """--time-budget sets --steps at step 50 from the measured rate; if the rate falls later (another job takes the
    GPU), training still stops once the budget is spent, and ends as a planned last step does (val loss, checkpoint,
    saved model)."""
    out = tmp_path / "run"
    driver = tmp_path / "clock_jumps.py"
    driver.write_text(f"""import os, runpy, sys, time
real, metrics = time.time, {str(out / "metrics.jsonl")!r}
def clock():  # once 60 steps are logged, an hour has passed
    return real() + 3600 * (os.path.exists(metrics) and open(metrics).read().count(chr(10)) >= 60)
time.time = clock
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
""")
    cmd = sft_cmd(out, "--steps", "400", "--time-budget", "30")
    done = subprocess.run([cmd[0], str(driver), *cmd[1:]], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--time-budget 30.0 min spent at step 61 of 400: stopping here" in done.stdout + done.stderr
    rows = read_metrics(out)
    assert rows[-1]["step"] == 61 and "val_loss" in rows[-1]
    assert json.loads((out / "args.json").read_text())["steps"] == 61
    assert json.loads((out / "ckpt" / "state.json").read_text())["step"] == 61 and (out / "model.safetensors").exists()
