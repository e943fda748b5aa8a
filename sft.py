"""Supervised fine-tuning (SFT): next-token loss on the tokens the model must produce, over a task's expert
demos (`--task vi`) or a JSONL file (`--data rows.jsonl`), for a tiny model built from scratch or any HF causal LM.

Choices worth knowing (where they depart from a plain LM fine-tune):
1) The loss is a token-level mean over every trainable token of an optimizer step (all gradient-accumulation
   micro-batches together), so long answers are not down-weighted; prompt and env-written tokens get label
   -100 (`--train-on-env-output` trains on the env's `<output>` segments too; the prompt never).
   `--context-loss-weight w` adds w x the token-mean loss on those untrained tokens (reported loss and val
   loss stay the trained tokens' alone).
2) Logits are computed only at the positions that have a label (the lm_head is applied to those hidden
   states alone): a vi step trains on ~20 of ~520 tokens, and a 150k vocabulary would otherwise dominate memory.
3) Chat rows give one sequence per assistant turn: the chat template renders only the turns before it
   (`add_generation_prompt=True`) and the assistant text is appended verbatim + eos. A template never sees
   the trained text, so it cannot drop `<think>` cycles (the stock Qwen3 template drops all but the last).
4) Under LoRA the embedding rows (input and output, tied or not) of tokens added for the task are trained
   through PEFT `trainable_token_indices`; otherwise new tag tokens would stay at their initial values.
5) Sequences longer than `--max-seq-len` are dropped and counted, never truncated (that would cut the stop
   token the model has to learn).
6) Image tasks with a VLM built from scratch first get a vision warm-up (`--vision-warmup-steps`): the vision
   tower alone learns to name what is drawn under each image token (the boxes the task's renderer drew), then
   the normal loop trains everything; through the LM loss alone a from-scratch tower does not learn to tell
   shapes apart (README, issue 8).
7) Tasks that name an `induction_warmup` (the cryptograms) first train a tiny LM on repeated random letters
   (`--induction-warmup-steps`): the table lookup needs an induction head, which this dense drill grows and the
   task's own signal did not (README, issue 8). The image cryptogram also drills its lookup in the decoder image
   (`--lookup-warmup-steps`), after a tower warm-up that names each pair token through the LM's embeddings of
   its letters (`--vision-warmup-head tokens`).

Commands:
    python sft.py --task vi --model-size tiny --steps 30 --num-examples 50    # smoke run, seconds
    python sft.py --task vi                                                    # default: 7-12 min on 2 CPU cores
    python sft.py --data rows.jsonl --model Qwen/Qwen3-0.6B --lora-r 16 --batch-size 8 --lr 2e-4 --steps 500
    python sft.py --task vi --resume                                           # continue a killed run exactly
    python sft.py --task digits --model-size small     # image task: a Qwen2.5-VL from scratch (vlm.py), pixels per batch

Writes runs/sft-<task>/ (runs/sft-<data file stem>/ with --data; --out-dir overrides): the final model and
tokenizer (`save_pretrained`; for an HF base under LoRA a PEFT adapter dir, else a full model; a VLM adds its
image processor's preprocessor_config.json), args.json, metrics.jsonl, loss.png, and ckpt/ (trainable weights,
optimizer, scheduler, step, RNG) for --resume.
"""
import argparse
import dataclasses
import json
import math
import random
import shutil
import string
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer, PreTrainedTokenizerFast,
                          Qwen3Config, Qwen3ForCausalLM)

import vlm
from rollout import draw_examples, field_docs, get_task, run_episodes


@dataclass
class Args:
    # data
    task: str | None = None
    """registered task to learn from its expert demos (vi, exec, ... or module:name); exclusive with --data"""
    data: str | None = None
    """JSONL file: rows {prompt, completion}, chat {messages: [{role, content}]}, or WorldModel {query, response, ...}"""
    families: str = "auto"
    """task families and/or difficulties to train on, comma separated (e.g. easy,move_line); all; or auto =
    the task's default_families (vi: easy, what the CPU default learns in 10 minutes)"""
    num_examples: int = 1500
    """task examples drawn from the train split (a vi example gives one sequence per step of its demo)"""
    num_val_examples: int = 40
    """val-loss set: task examples from the val split, or rows held out of --data"""
    max_seq_len: int = 2048
    """sequences longer than this many tokens are dropped (and counted in the log)"""
    train_on_env_output: bool = False
    """also train on env-written segments after the prompt (e.g. <output>...</output>); the prompt never"""
    context_loss_weight: float = -1.0
    """add this weight x the mean loss on the untrained text tokens (prompt, env replies): a model built from
    scratch learns to copy from its context far sooner when it also has to predict that context (README,
    Results; a VLM's image placeholders are left out); 0 = off; -1 = auto: 0.25 for --model tiny on a text task,
    else 0"""
    # model
    model: str = "tiny"
    """'tiny' builds a Qwen3-architecture model (a Qwen2.5-VL for image tasks) from scratch with a char tokenizer;
    else an HF name or local path (a VLM for image tasks)"""
    model_size: str = "cpu"
    """size preset for --model tiny: tiny (~0.2M params, tests), cpu (~0.8M, 2 CPU cores), small (~25M, GPU);
    image tasks add a vision tower (vlm.VISION_PRESETS: in all ~0.45M, ~1.9M, ~35M)"""
    lora_r: int = 0
    """LoRA rank; 0 = full fine-tuning"""
    lora_alpha: int = 32
    """LoRA scale numerator (the update is scaled by alpha / r)"""
    lora_dropout: float = 0.05
    """dropout on the LoRA branch input"""
    lora_targets: str = "all-linear"
    """comma-separated module names to adapt (e.g. q_proj,v_proj), or all-linear (every linear but the lm_head)"""
    load_in_4bit: bool = False
    """QLoRA: load the HF base in 4-bit NF4 through bitsandbytes (CUDA; needs --lora-r > 0)"""
    dtype: str = "auto"
    """compute dtype: fp32 | bf16 | fp16 | auto (bf16 on an NVIDIA GPU that supports it; fp32 on CPU and ROCm)"""
    grad_checkpointing: bool = False
    """recompute activations in the backward pass (less memory, ~30% slower)"""
    # optimization
    steps: int = 1100
    """optimizer steps"""
    time_budget: float = 0.0
    """minutes of training, the vision warm-up included (0 = off): after 50 steps --steps is cut to what fits at the
    measured rate, and the cosine schedule follows the new count (the GPU bar is "the best model from <= 10
    minutes of training"); if the rate falls later, training still stops when the budget is spent"""
    warmups_time_share: float = 0.5
    """the share of --time-budget that the warm-ups (induction, vision, lookup) may take together; each stops once
    its part of it, in proportion to its steps, is spent (session 12, call H: 0.5 of 7.8 min cut the image
    cryptogram's lookup drill at 120 of 250 steps, 76% right, where call E's ran 222 steps to 100%)"""
    batch_size: int = 16
    """sequences per micro-batch"""
    grad_accum: int = 1
    """micro-batches per optimizer step"""
    lr: float = 3e-3
    """peak learning rate (AdamW)"""
    warmup_steps: int = 30
    """linear warmup steps, then cosine decay to lr * min_lr_ratio"""
    min_lr_ratio: float = 0.1
    """final learning rate as a fraction of --lr"""
    weight_decay: float = 0.0
    """AdamW weight decay"""
    max_grad_norm: float = 1.0
    """clip the global gradient norm to this (0 = no clipping)"""
    length_group: int = 32
    """length grouping: sort sequences by length within pools of this many micro-batches (1 = no grouping)"""
    vision_warmup_steps: int = -1
    """image tasks: first train the vision tower alone for this many steps (--batch-size examples, --lr) to name
    what is drawn under each image token (task.image_boxes), through a linear head that is then dropped: a tower
    built from scratch does not learn shapes through the LM loss alone (README). Counts against --time-budget and
    stops early (see --lookup-warmup-steps); skipped by --resume. 0 = off; -1 = auto: 600 for --model tiny on an image
    task, else 0"""
    vision_warmup_head: str = "auto"
    """what the vision warm-up trains each image token to name: class = its box class (one linear head over
    task.box_classes); tokens = each of the class's parts (task.box_parts, e.g. a cryptogram pair's coded and
    plain letter) through the LM's own input embeddings of its tokens (cosine against them, plus a learned
    background vector); auto = the task's `warmup_head`, else class"""
    induction_warmup_steps: int = -1
    """first train the LM alone on variable-offset repeats of random letters (induction_warmup): a cryptogram's
    lookup needs an induction head, which the task's own sparse signal did not grow in up to 5,283 steps and this dense
    drill grows in ~850-2,900 (small preset, batch 128; README). Runs first (see --lookup-warmup-steps); skipped
    by --resume. 0 = off; -1 = auto: the task's `induction_warmup` (cryptogram: 3000) for --model tiny, else 0"""
    lookup_warmup_steps: int = -1
    """image tasks with task.image_pairs (cryptogram): after the vision warm-up, train the LM alone on lookups in
    the image: a task image, then 40 of its (key, value) pairs in random order, "Jh Ze Jh ...", the loss on the
    values (lookup_warmup); the induction warm-up's counterpart for a key that sits in an image token, not in
    text (call C: 100% of lookups by step 200, H100). 0 = off; -1 = auto: the task's `lookup_warmup` (cryptogram:
    400) for --model tiny on an image task, else 0. The warm-ups run in the order induction, vision, lookup and
    share --warmups-time-share of --time-budget in proportion to their steps (each stops once its share and its
    predecessors' are spent)"""
    freeze_vision: int = -1
    """image tasks: 1 = the vision tower (merger included) is not trained by the LM loss, 0 = it is; -1 = auto: frozen
    after a vision warm-up, whose features the LM's first, random gradients would otherwise overwrite (call R,
    README)"""
    # logging, eval, checkpoints
    eval_every: int = 100
    """steps between val-loss evaluations (and at the last step); 0 = only at the last step"""
    save_every: int = 100
    """steps between checkpoints in <out-dir>/ckpt (and at the last step); 0 = only at the last step"""
    eval_episodes: int = 0
    """after training, play this many greedy episodes on the task's val split and print success per family (0 = off)"""
    out_dir: str | None = None
    """run directory (default runs/sft-<task> or runs/sft-<data file stem>)"""
    resume: bool = False
    """continue from <out-dir>/ckpt: same command plus --resume"""
    seed: int = 0
    """seed for model init, example draws, data order and dropout"""
    device: str = "auto"
    """cuda | cpu | auto"""


CHOICES = {"dtype": ["auto", "fp32", "bf16", "fp16"], "device": ["auto", "cuda", "cpu"],
           "vision_warmup_head": ["auto", "class", "tokens"]}


def parse_args(argv=None) -> Args:
    """Args -> argparse: every field is a --dashed-flag whose help is the docstring under it; unknown flags fail."""
    docs = field_docs(Args)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=docs[f.name])
        else:
            parser.add_argument(flag, type=str if f.default is None else type(f.default), default=f.default,
                                choices=CHOICES.get(f.name), help=docs[f.name])
    return Args(**vars(parser.parse_args(argv)))


# ---------------------------------------------------------------------------------------------------------
# The built-in offline model: a char-level tokenizer and a Qwen3-architecture LM made from config classes.

def build_char_tokenizer(special_tokens: list[str]) -> PreTrainedTokenizerFast:
    """One token per printable ASCII char, "\\n" and "\\t"; <pad>, <|endoftext|> (eos), <unk> (any other char);
    each special token a single token, matched before characters. Round-trips through save_pretrained."""
    chars = [c for c in string.printable if c not in "\r\x0b\x0c"]  # 95 printable + \t + \n
    base = ["<pad>", "<|endoftext|>", "<unk>"]
    tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(base + chars)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every char its own word
    tok.decoder = decoders.Fuse()  # join tokens with no separator
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|endoftext|>", unk_token="<unk>")
    # Added, not "special": decode(skip_special_tokens=True) must keep <Esc> and </command>.
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in special_tokens if t not in tokenizer.get_vocab()])
    return tokenizer


# name: (hidden, layers, heads, kv heads, head dim, mlp width). Tied embeddings; params are for ~110 tokens.
SIZE_PRESETS = {
    "tiny": (64, 4, 4, 2, 16, 192),      # ~0.2M: tests
    "cpu": (128, 4, 4, 2, 32, 384),      # ~0.8M: the --task vi default on 2 CPU cores (narrow: more steps in 10 min)
    "small": (512, 8, 8, 4, 64, 1536),   # ~25M: a GPU
}


def build_tiny_model(tokenizer, size: str = "tiny") -> Qwen3ForCausalLM:
    """A randomly initialised Qwen3ForCausalLM sized by SIZE_PRESETS, with the tokenizer's vocab, pad and eos."""
    if size not in SIZE_PRESETS:
        raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(SIZE_PRESETS)}")
    hidden, layers, heads, kv_heads, head_dim, mlp = SIZE_PRESETS[size]
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, head_dim=head_dim, intermediate_size=mlp, max_position_embeddings=4096,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None)
    model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def load_model(args: Args, special_tokens: list[str], device, amp_dtype, vision: bool = False):
    """(model, tokenizer, new_token_ids) for --model: built from scratch ('tiny') or loaded from a name/path
    with the missing special tokens added (embeddings grown if needed), wrapped with LoRA if --lora-r > 0.
    new_token_ids are the tokens added for the task: under LoRA their embedding rows stay trainable.
    vision: a vision-language model (a tiny Qwen2.5-VL, or the HF model through AutoModelForImageTextToText)."""
    if args.model == "tiny":
        tokenizer = build_char_tokenizer(special_tokens + (vlm.VISION_TOKENS if vision else []))
        torch.manual_seed(args.seed)
        model = vlm.build_tiny_vlm(tokenizer, args.model_size) if vision else build_tiny_model(tokenizer, args.model_size)
        new_token_ids = tokenizer.convert_tokens_to_ids(special_tokens)
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {args.model} has no eos token; sequences could not learn to stop")
        missing = [t for t in special_tokens if t not in tokenizer.get_vocab()]
        tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in missing])
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # padding is masked out by attention and labels anyway
        load_kwargs = {"dtype": torch.float32}  # fp32 master weights; autocast does the low-precision math
        if args.lora_r > 0:
            load_kwargs["dtype"] = amp_dtype  # the frozen base can live in the compute dtype
        if args.load_in_4bit:
            try:
                import bitsandbytes  # noqa: F401
            except ImportError:
                raise SystemExit("--load-in-4bit needs bitsandbytes (CUDA only): pip install bitsandbytes, or drop the flag")
            from transformers import BitsAndBytesConfig
            load_kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=amp_dtype)
            load_kwargs["device_map"] = {"": device}
        model = (AutoModelForImageTextToText if vision else AutoModelForCausalLM).from_pretrained(args.model, **load_kwargs)
        if vision:
            vlm.pack_vision_attention(model)
        # Grow only: AutoPeftModelForCausalLM resizes the base the same way (only if the tokenizer is larger).
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))  # new rows start at the mean embedding (HF default)
        new_token_ids = tokenizer.convert_tokens_to_ids(missing)
        if args.load_in_4bit:
            from peft import prepare_model_for_kbit_training
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=args.grad_checkpointing)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if args.lora_r > 0:
        from peft import LoraConfig, get_peft_model
        names = {m: n.split(".")[-1] for n, m in model.named_modules()}
        emb, out = names[model.get_input_embeddings()], names[model.get_output_embeddings()]
        # Both rows of each new token: PEFT ties them back together when the model ties its embeddings.
        token_rows = {emb: new_token_ids, out: new_token_ids} if new_token_ids else None
        targets = args.lora_targets if args.lora_targets == "all-linear" else args.lora_targets.split(",")
        config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, target_modules=targets,
                            trainable_token_indices=token_rows, task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
        for p in model.parameters():  # what we train is kept in fp32, even over a bf16 base
            if p.requires_grad:
                p.data = p.data.float()
    if not args.load_in_4bit:  # a 4-bit model was placed by device_map and refuses .to()
        model = model.to(device)
    return model, tokenizer, new_token_ids


# ---------------------------------------------------------------------------------------------------------
# Data: everything becomes a list of (text, trainable) segments, then (input_ids, labels).

def task_sequences(task, split: str, n: int, seed: int, eos_token: str, families: str = "", images: bool = False) -> list:
    """The task's expert demos for n examples of split. Append-style sequences get eos (trainable) so the model
    learns to stop; reprompt sequences already end at their stop token (e.g. </command>).
    images=True (image tasks): items are (segments, images), the demo's images (task.demo_images) dealt to its
    sequences in the order of their `<image>` placeholders."""
    sequences = []
    for example in draw_examples(task, split, n, seed, families):
        shown = list(task.demo_images(example)) if images else []
        for segments in task.demo(example):
            segments = list(segments) + ([(eos_token, True)] if task.style == "append" else [])
            if images:
                k = sum(text.count(vlm.IMAGE) for text, _ in segments)
                segments, shown = (segments, shown[:k]), shown[k:]
            sequences.append(segments)
    return sequences


def read_jsonl_rows(path) -> tuple[list, int]:
    """([(line number, row dict)], blank line count). A row that is not JSON or fits no schema raises
    ValueError naming the file and line."""
    rows, blank = [], 0
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            blank += 1
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not valid JSON ({e})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
        if "messages" in row:
            msgs = row["messages"]
            if not isinstance(msgs, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                     and isinstance(m.get("content"), str) for m in msgs):
                raise ValueError(f"{where}: 'messages' must be a list of {{role: str, content: str}}")
            if not any(m["role"] == "assistant" for m in msgs):
                raise ValueError(f"{where}: chat row has no assistant turn to train on")
        elif "prompt" in row or "completion" in row:
            if not (isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str)):
                raise ValueError(f"{where}: 'prompt' and 'completion' must both be strings")
        elif "query" in row or "response" in row:
            if not (isinstance(row.get("query"), str) and isinstance(row.get("response"), str)):
                raise ValueError(f"{where}: WorldModel row needs string 'query' and 'response'")
        else:
            raise ValueError(f"{where}: unknown row schema (keys {sorted(row)}); expected prompt/completion, "
                             f"messages, or WorldModel query/response")
        rows.append((lineno, row))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows, blank


def row_sequences(row: dict, tokenizer) -> list:
    """One row -> training sequences of (text, trainable) segments, each ending in the tokenizer's eos."""
    eos = (tokenizer.eos_token, True)
    if "prompt" in row:
        return [[(row["prompt"], False), (row["completion"], True), eos]]
    if "query" in row:  # WorldModel: the exec task's prompt, then think/code cycles with env-written outputs
        import exec_env
        return [[(exec_env.format_prompt(row["query"]), False), *exec_env.response_segments(row["response"]), eos]]
    sequences, msgs = [], row["messages"]
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        if tokenizer.chat_template:
            prompt = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True)
        else:  # plain rendering for tokenizers without a template (the char tokenizer)
            prompt = "".join(f"{p['role']}: {p['content']}\n" for p in msgs[:i]) + "assistant: "
        sequences.append([(prompt, False), (m["content"], True), eos])
    return sequences


def load_jsonl_sequences(path, tokenizer) -> tuple[list, int]:
    """([(line number, segments)], blank line count) for every training sequence of a JSONL file."""
    rows, blank = read_jsonl_rows(path)
    return [(lineno, seq) for lineno, row in rows for seq in row_sequences(row, tokenizer)], blank


def tokenize_sequence(tokenizer, segments, train_on_env_output: bool = False, image_processor=None,
                      images=()) -> tuple[list, list]:
    """(input_ids, labels): segments tokenized one by one (so a mask boundary never falls inside a token)
    and concatenated; labels are the ids on trainable segments and -100 elsewhere. With train_on_env_output,
    untrainable segments after the first trainable one (env replies) get labels too; the prompt never does.
    A VLM (image_processor given): the k-th `<image>` becomes the model's image tokens for images[k] (vlm.expand);
    image tokens never get labels."""
    input_ids, labels, seen_trainable, images = [], [], False, list(images)
    for text, trainable in segments:
        if image_processor is not None:
            k = text.count(vlm.IMAGE)
            text, images = vlm.expand(text, images[:k], image_processor), images[k:]
        ids = tokenizer.encode(text, add_special_tokens=False)
        seen_trainable |= trainable
        input_ids += ids
        labels += ids if trainable or (train_on_env_output and seen_trainable) else [-100] * len(ids)
    if image_processor is not None:
        never = set(tokenizer.convert_tokens_to_ids(vlm.VISION_TOKENS))
        labels = [-100 if i in never else label for i, label in zip(input_ids, labels)]
    return input_ids, labels


def length_grouped_batches(lengths: list, batch_size: int, seed: int, epoch: int, group: int) -> list:
    """One epoch of micro-batches (lists of indices): shuffle, sort by length inside pools of group*batch_size
    (little padding), cut into batches, shuffle the batches. Pure in (seed, epoch), so resume recomputes it."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches, pool = [], batch_size * group
    for start in range(0, len(order), pool):
        part = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list, pad_id: int, device, image_processor=None):
    """Right-pad (input_ids, labels) pairs into (B, T) tensors: input_ids, attention_mask, labels (-100 on pad).
    With an image_processor the examples are (input_ids, labels, [vlm.patchify of each image]) and the batch's
    pixel inputs come fourth, made on the device."""
    T = max(len(ex[0]) for ex in examples)
    input_ids = np.full((len(examples), T), pad_id, np.int64)   # numpy takes Python lists ~5x faster than torch
    attention = np.zeros((len(examples), T), np.int64)
    labels = np.full((len(examples), T), -100, np.int64)
    for i, (ids, lab, *_) in enumerate(examples):
        input_ids[i, :len(ids)], attention[i, :len(ids)], labels[i, :len(ids)] = ids, 1, lab
    batch = tuple(torch.from_numpy(x).to(device) for x in (input_ids, attention, labels))
    if image_processor is None:
        return batch
    return *batch, vlm.pixel_values(image_processor, [p for ex in examples for p in ex[2]], device)


def last_hidden(base, input_ids, attention, pixels=None):
    """The decoder's last hidden states (B, T, C) of a base model (vlm.base_model); a VLM runs its vision tower on
    the pixel inputs and gets 3-D mRoPE positions (vlm.rope_positions)."""
    if vlm.is_vlm(base):
        return base.model(input_ids=input_ids, attention_mask=attention, use_cache=False, **(pixels or {}),
                          position_ids=vlm.rope_positions(base, input_ids, attention, pixels)).last_hidden_state
    return base.get_decoder()(input_ids=input_ids, attention_mask=attention, use_cache=False).last_hidden_state


def sequence_loss_sum(model, input_ids, attention, labels, pixels=None, context=False):
    """Summed next-token cross-entropy over labelled positions. The lm_head sees only the hidden states that
    predict a label (deviation 2); assumes logits = lm_head(last hidden state), true for Qwen/Llama-style models.
    A VLM runs its vision tower on the pixel inputs and gets 3-D mRoPE positions (vlm.rope_positions).
    context=True: returns (labelled sum, context sum), the second summed over every other real token (prompt and
    env replies; not pads, nor a VLM's image placeholders, which the model never writes), for --context-loss-weight."""
    base = vlm.base_model(model)
    hidden = last_hidden(base, input_ids, attention, pixels)
    targets = labels[:, 1:]                                 # B, T-1: position t predicts token t+1
    keep = targets != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])  # N, V
    loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    if not context:
        return loss
    vision = input_ids.new_tensor(vlm.vision_token_ids(base))
    in_context = ~keep & (attention[:, 1:] == 1) & ~torch.isin(input_ids[:, 1:], vision)
    context_logits = base.get_output_embeddings()(hidden[:, :-1][in_context])
    return loss, F.cross_entropy(context_logits.float(), input_ids[:, 1:][in_context], reduction="sum")


def ramped_step(optimizer, params, loss, lr):
    """One warm-up update at lr: backward, clip the gradient norm of params to 1, step (unless the gradient is not
    finite), clear the gradients."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss.backward()
    if torch.isfinite(torch.nn.utils.clip_grad_norm_(params, 1.0)):  # a nan step would poison every weight
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


class EmbeddingHead(torch.nn.Module):
    """Logits over [background] + `token_ids`: scale * cosine(feature, row), the rows being a learned background
    vector and the LM's input embeddings of the tokens (a fixed copy: the warm-up trains the tower, not the LM)."""

    def __init__(self, embeddings, token_ids):
        super().__init__()
        self.register_buffer("tokens", embeddings.weight[token_ids].detach().float().clone())
        self.background = torch.nn.Parameter(torch.randn_like(self.tokens[0]) * self.tokens.std())
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, features):
        rows = torch.cat([self.background[None], self.tokens])
        return self.log_scale.exp() * F.normalize(features.float(), dim=-1) @ F.normalize(rows, dim=-1).T


def warmup_heads(model, task, kind, tokenizer, device):
    """(heads, label tables) of the vision warm-up: head k names part k of each image token's box class, its target
    table[k][class] (kind "class": one part, the class itself; "tokens": task.box_parts, see Args)."""
    hidden = model.get_input_embeddings().embedding_dim
    if kind == "class":
        return [torch.nn.Linear(hidden, len(task.box_classes)).to(device)], [torch.arange(len(task.box_classes))]
    tables = list(torch.as_tensor(task.box_part_labels).T)
    ids = [tokenizer.convert_tokens_to_ids(tokens[1:]) for tokens in task.box_parts.values()]
    if any(i is None or i == tokenizer.unk_token_id for part in ids for i in part):
        raise ValueError(f"--vision-warmup-head tokens: the tokenizer lacks some of {task.name}'s box_parts tokens")
    return [EmbeddingHead(model.get_input_embeddings(), torch.tensor(part)).to(device) for part in ids], tables


def vision_warmup(model, task, examples, image_processor, steps, batch_size, lr, seed, device, amp_dtype,
                  held_out=(), measure_every=50, head="class", tokenizer=None):
    """Yields one record per step of training the vision tower (merger included) of a VLM alone: throwaway heads
    on its merged-patch outputs (the image tokens the LM sees) are trained with cross-entropy to give the class
    drawn under each token (vlm.patch_labels of task.image_boxes), or each of its parts (head, see
    warmup_heads), with AdamW at lr (ramped up over the first 10% of steps, then cosine down to 0.1 x lr). Each
    step draws batch_size examples with replacement, seeded by (seed, step).
    Records: warmup_loss, warmup_acc (all image tokens; every part right), warmup_acc_fg (tokens on something
    drawn); every measure_every steps and at the last, warmup_val_acc_fg: the same on the held_out examples (other
    source images, e.g. the val split), what the tower will name right on images it never trained on."""
    inner = vlm.base_model(model).model   # the HF VLM's vision tower + text model
    params = [p for p in vlm.vision_tower(model).parameters() if p.requires_grad]
    heads, tables = warmup_heads(model, task, head, tokenizer, device)
    optimizer = torch.optim.AdamW(params + [p for h in heads for p in h.parameters()], lr=lr, betas=(0.9, 0.95))
    model.train()

    def labelled(example):  # [(patched image, its patch labels)] of one example's images
        images, boxes = task.reset(example).images(), task.image_boxes(example)
        if len(images) != len(boxes):
            raise ValueError(f"{task.name}.image_boxes gave {len(boxes)} box lists for {len(images)} images")
        out = []
        for im, b in zip(images, boxes):
            p, grid = vlm.patchify(image_processor, im)
            rows, cols = (grid[1:] // image_processor.merge_size).tolist()
            out.append(((p, grid), torch.from_numpy(vlm.patch_labels(
                b, im.shape[:2], (rows, cols), centres_only=getattr(task, "label_centres", False)))))
        return out

    def logits_of(items):  # ([per head: logits], classes) of the image tokens of [(patched image, labels)]
        pixels = vlm.pixel_values(image_processor, [p for p, _ in items], device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
            features = torch.cat(inner.get_image_features(**pixels).pooler_output)   # image tokens, hidden
            return [h(features).float() for h in heads], torch.cat([t for _, t in items])

    def hits(logits, classes):  # every part named right, per token
        return torch.stack([lg.argmax(-1).cpu() == table[classes] for lg, table in zip(logits, tables)]).all(0)

    rendered = {}  # example index -> labelled(example), drawn, resized and labelled once
    held_out = [item for example in held_out for item in labelled(example)]
    for step in range(steps):
        items = []
        for i in random.Random(seed * 1_000_003 + step).choices(range(len(examples)), k=batch_size):
            if i not in rendered:
                rendered[i] = labelled(examples[i])
            items += rendered[i]
        logits, classes = logits_of(items)
        loss = sum(F.cross_entropy(lg, table[classes].to(device)) for lg, table in zip(logits, tables))
        ramp, cosine = min(1.0, (step + 1) / max(1, steps // 10)), 0.55 + 0.45 * math.cos(math.pi * step / steps)
        ramped_step(optimizer, params, loss, lr * ramp * cosine)  # the decay: 55% vs 46% on digit tokens, 600 CPU steps
        hit, drawn = hits(logits, classes), classes > 0
        record = {"step": 0, "warmup_step": step + 1, "warmup_loss": loss.item(), "warmup_acc": hit.float().mean().item(),
                  "warmup_acc_fg": hit[drawn].float().mean().item() if drawn.any() else float("nan")}
        if held_out and ((step + 1) % measure_every == 0 or step + 1 == steps):
            with torch.no_grad():
                val = [hits(*logits_of(held_out[k:k + batch_size])) for k in range(0, len(held_out), batch_size)]
                drawn = torch.cat([t for _, t in held_out]) > 0
            record["warmup_val_acc_fg"] = torch.cat(val)[drawn].float().mean().item() if drawn.any() else float("nan")
        yield record


def induction_rows(rng, letters, batch_size, length=100):
    """(input ids, labels), both (batch_size, length): rows of random letter ids in which a string of 10-39 of them
    appears twice at random places; labels (-100 elsewhere) are the second copy after its first letter, which only
    the first copy predicts."""
    x = letters[torch.from_numpy(rng.integers(0, len(letters), size=(batch_size, length)))]
    y = torch.full_like(x, -100)
    for row in range(batch_size):
        n = int(rng.integers(10, 40))
        first = int(rng.integers(0, length - 2 * n + 1))
        second = int(rng.integers(first + n, length - n + 1))
        x[row, second:second + n] = x[row, first:first + n]
        y[row, second + 1:second + n] = x[row, first + 1:first + n]
    return x, y


def induction_warmup(model, tokenizer, steps, batch_size, lr, seed, device, amp_dtype, chars=string.ascii_letters):
    """Yields one record per step of training the LM on induction_rows of the letters a-z, A-Z. The offset between
    the copies varies, so the copy must find its place by content: attend to where the current letter was seen
    before and copy what followed it (an induction head), as a cryptogram's "Jh" step finds coded J in the decoder
    table and writes the plain letter after it. (With a fixed offset a relative-position attention does it, learned
    in ~100 CPU steps (README), and no induction head forms.) AdamW at a constant lr after a 10% ramp; records
    induction_loss and induction_acc (on the labels; chance 1/52). chars: the drill's alphabet (a task's
    `induction_chars`; pixel adds the digits, which its tool calls copy)."""
    ids = tokenizer.convert_tokens_to_ids(list(chars))
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise ValueError(f"--induction-warmup-steps needs a tokenizer with a token for each of {chars!r}")
    letters = torch.tensor(ids)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95))
    rng = np.random.default_rng([seed, 13])
    model.train()
    for step in range(steps):
        x, y = (t.to(device) for t in induction_rows(rng, letters, batch_size))
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
            logits = model(input_ids=x).logits[:, :-1].float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1), ignore_index=-100)
        ramped_step(optimizer, params, loss, lr * min(1.0, (step + 1) / max(1, steps // 10)))
        target = y[:, 1:] != -100
        yield {"step": 0, "induction_step": step + 1, "induction_loss": loss.item(),
               "induction_acc": (logits.argmax(-1)[target] == y[:, 1:][target]).float().mean().item()}


def lookup_segments(rng, pairs, queries):
    """A lookup drill row as (text, trainable) segments: the image, then `queries` of its (key, value) pairs drawn
    at random (repeats allowed), each written "Kv ", only the value trained."""
    segments = [(f"{vlm.IMAGE}\n", False)]
    for j in rng.integers(0, len(pairs), queries):
        key, value = pairs[j]
        segments += [(key, False), (value, True), (" ", False)]
    return segments


def lookup_warmup(model, task, examples, tokenizer, image_processor, steps, batch_size, lr, seed, device, amp_dtype,
                  queries=40):
    """Yields one record per step of training the LM alone (not the vision tower) on lookup_segments rows: one of
    `examples`' images (task.demo_images) and `queries` of its task.image_pairs(example) in a fresh random order, so
    that every value must be found by its key's content in an image token. A cryptogram's "Jh" step is one such
    lookup, ~15 a message; here every labelled token is one. AdamW at a constant lr after a 10% ramp; records
    lookup_loss and lookup_acc (on the values)."""
    base, tower = vlm.base_model(model), {id(p) for p in vlm.vision_tower(model).parameters()}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in tower]
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95))
    rng = np.random.default_rng([seed, 17])
    rendered = {}  # example index -> ((image, its patched form), pairs)
    tower_trained = [p for p in vlm.vision_tower(model).parameters() if p.requires_grad]
    for p in tower_trained:  # the tower runs without autograd: no backward through it, no gradient left on it
        p.requires_grad_(False)
    model.train()
    try:
        for step in range(steps):
            rows = []
            for i in rng.integers(0, len(examples), batch_size):
                if i not in rendered:
                    image, = task.demo_images(examples[i])
                    rendered[i] = (image, vlm.patchify(image_processor, image)), task.image_pairs(examples[i])
                (image, patched), pairs = rendered[i]
                rows.append((*tokenize_sequence(tokenizer, lookup_segments(rng, pairs, queries), False,
                                                image_processor, [image]), [patched]))
            ids, attention, labels, pixels = collate(rows, tokenizer.pad_token_id, device, image_processor)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
                hidden = last_hidden(base, ids, attention, pixels)
                target = labels[:, 1:] != -100
                logits = base.get_output_embeddings()(hidden[:, :-1][target]).float()
            loss = F.cross_entropy(logits, labels[:, 1:][target])
            ramped_step(optimizer, params, loss, lr * min(1.0, (step + 1) / max(1, steps // 10)))
            yield {"step": 0, "lookup_step": step + 1, "lookup_loss": loss.item(),
                   "lookup_acc": (logits.argmax(-1) == labels[:, 1:][target]).float().mean().item()}
    finally:
        for p in tower_trained:
            p.requires_grad_(True)


@torch.no_grad()
def val_loss(model, data, batch_size, pad_id, device, amp_dtype, image_processor=None) -> float:
    """Token-mean loss over data (a list of (input_ids, labels[, images])) in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        batch = collate(data[start:start + batch_size], pad_id, device, image_processor)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
            total += sequence_loss_sum(model, *batch).item()
        count += int((batch[2][:, 1:] != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def save_checkpoint(ckpt_dir: Path, model, optimizer, scheduler, scaler, step: int, args: Args, names):
    """Atomically (write ckpt.tmp/, then swap it in) save what --resume needs. Only the parameters the run changes
    (`names`: trained or warmed up) are saved: the others are rebuilt from --model and --seed exactly as at the start."""
    from safetensors.torch import save_file
    tmp, old = ckpt_dir.with_name(ckpt_dir.name + ".tmp"), ckpt_dir.with_name(ckpt_dir.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if n in names},
              tmp / "trainable.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}, tmp / "training_state.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "args": dataclasses.asdict(args)}, indent=2))
    if ckpt_dir.exists():
        ckpt_dir.rename(old)
    tmp.rename(ckpt_dir)  # a kill before this line leaves the previous checkpoint (ckpt/ or ckpt.old/) intact
    shutil.rmtree(old, ignore_errors=True)


def plot_losses(records: list, path: Path):
    """Train loss (and val loss where measured) against step, to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records = [r for r in records if "loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records], lw=0.8, label="train")
    val = [r for r in records if "val_loss" in r]
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val")
    ax.set(xlabel="step", ylabel="loss (nats/token)", yscale="log", title=path.parent.name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    args = parse_args()
    if (args.task is None) == (args.data is None):
        raise SystemExit("give exactly one of --task NAME or --data FILE.jsonl")
    if args.context_loss_weight < 0 and args.context_loss_weight != -1:
        raise SystemExit(f"--context-loss-weight must be >= 0 (or -1 = auto), got {args.context_loss_weight}")
    if not 0 < args.warmups_time_share <= 1:
        raise SystemExit(f"--warmups-time-share must be in (0, 1], got {args.warmups_time_share}")
    if args.load_in_4bit and (args.lora_r <= 0 or args.model == "tiny"):
        raise SystemExit("--load-in-4bit is QLoRA: it needs an HF --model and --lora-r > 0")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    dtype = args.dtype
    if dtype == "auto":  # ROCm gets fp32: MI50-class GPUs have no fast bf16 (MI300 users pass --dtype bf16)
        dtype = "bf16" if device.type == "cuda" and torch.version.hip is None and torch.cuda.is_bf16_supported() else "fp32"
    amp_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    out_dir = Path(args.out_dir or f"runs/sft-{args.task or Path(args.data).stem}")
    ckpt_dir = out_dir / "ckpt"
    print(f"device {device} | dtype {dtype} | out {out_dir}")

    # ---- data source and special tokens ----
    from tqdm import tqdm
    task, rows = None, []
    if args.task:
        task = get_task(args.task)
        special_tokens = list(task.special_tokens)
        print(f"task {args.task} | families {args.families}"
              + (f" = {getattr(task, 'default_families', '') or 'all'}" if args.families == "auto" else ""))
    else:
        rows, blank = read_jsonl_rows(args.data)
        print(f"{args.data}: {len(rows)} rows, {blank} blank lines skipped")
        special_tokens = []
        if any("query" in row for _, row in rows):  # WorldModel rows: the exec task's tags must be single tokens
            special_tokens = list(get_task("exec").special_tokens)

    # ---- model and tokenizer (and for image tasks the image processor) ----
    vision = task is not None and vlm.task_has_images(task)
    if args.context_loss_weight == -1:  # auto
        args.context_loss_weight = 0.25 if args.model == "tiny" and not vision else 0.0
    if args.vision_warmup_steps == -1:  # auto
        args.vision_warmup_steps = 600 if args.model == "tiny" and vision else 0
    if args.induction_warmup_steps == -1:  # auto
        args.induction_warmup_steps = getattr(task, "induction_warmup", 0) if args.model == "tiny" else 0
    if args.vision_warmup_head == "auto":
        args.vision_warmup_head = getattr(task, "warmup_head", "class")
    if args.vision_warmup_head == "tokens" and args.vision_warmup_steps > 0 and not hasattr(task, "box_parts"):
        raise SystemExit(f"--vision-warmup-head {args.vision_warmup_head} needs a task with box_parts (cryptogram), "
                         f"not {args.task or args.data}")
    if args.lookup_warmup_steps == -1:  # auto
        args.lookup_warmup_steps = getattr(task, "lookup_warmup", 0) if args.model == "tiny" and vision else 0
    if args.lookup_warmup_steps > 0 and not (vision and hasattr(task, "image_pairs")):
        raise SystemExit(f"--lookup-warmup-steps needs an image task with image_pairs (cryptogram), not "
                         f"{args.task or args.data}")
    if args.vision_warmup_steps > 0 and not (vision and hasattr(task, "image_boxes")):
        raise SystemExit(f"--vision-warmup-steps needs an image task with image_boxes (digits, cryptogram, pixel, "
                         f"coords-image), not {args.task or args.data}")
    model, tokenizer, new_token_ids = load_model(args, special_tokens, device, amp_dtype, vision)
    image_processor = None
    if vision:
        image_processor = vlm.build_image_processor() if args.model == "tiny" else vlm.load_image_processor(args.model)
    if args.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    run_params = {n for n, p in model.named_parameters() if p.requires_grad}  # what checkpoints hold
    if args.freeze_vision == -1:  # auto
        args.freeze_vision = int(vision and args.vision_warmup_steps > 0)
    frozen = {id(p) for p in vlm.vision_tower(model).parameters()} if vision and args.freeze_vision else set()
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in frozen]  # what the optimizer steps
    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in params)
    print(f"model {args.model} ({args.model_size if args.model == 'tiny' else 'hf'}{', vision-language' * vision}): "
          f"{n_params:,} params, {n_train:,} trainable, vocab {len(tokenizer)}, {len(new_token_ids)} task tokens")

    # ---- sequences -> (input_ids, labels) ----
    if task:
        train_seqs = task_sequences(task, "train", args.num_examples, args.seed, tokenizer.eos_token, args.families, vision)
        val_seqs = task_sequences(task, "val", args.num_val_examples, args.seed, tokenizer.eos_token, args.families, vision)
    else:  # hold out whole rows (all turns of a conversation together) for val loss
        held = set(random.Random(args.seed).sample(range(len(rows)), min(args.num_val_examples, len(rows) // 10)))
        train_seqs = [s for i, (_, row) in enumerate(rows) if i not in held for s in row_sequences(row, tokenizer)]
        val_seqs = [s for i, (_, row) in enumerate(rows) if i in held for s in row_sequences(row, tokenizer)]
    splits = {}
    for name, seqs in (("train", train_seqs), ("val", val_seqs)):
        if vision:  # (input_ids, labels, patched images): resized once and kept in uint8 (190 KB a cryptogram
            # decoder, 8x less than its float pixel values); the floats are made per batch, on the device
            tokenized = [(*tokenize_sequence(tokenizer, s, args.train_on_env_output, image_processor, ims),
                          [vlm.patchify(image_processor, im) for im in ims]) for s, ims in seqs]
        else:
            tokenized = [tokenize_sequence(tokenizer, s, args.train_on_env_output) for s in seqs]
        kept = [t for t in tokenized if len(t[0]) <= args.max_seq_len and any(l != -100 for l in t[1][1:])]
        n_unk = sum(tokenizer.unk_token_id in t[0] for t in kept) if tokenizer.unk_token_id is not None else 0
        print(f"{name}: {len(kept)} sequences, {sum(len(t[0]) for t in kept)} tokens, "
              f"{sum(sum(l != -100 for l in t[1]) for t in kept)} trained | dropped {len(tokenized) - len(kept)} "
              f"(longer than {args.max_seq_len} tokens or nothing to train on) | {n_unk} contain <unk>")
        splits[name] = kept
    train_data, val_data = splits["train"], splits["val"]
    if not train_data:
        raise SystemExit("no training sequences left; raise --max-seq-len or check the data")
    lengths = [len(t[0]) for t in train_data]
    batches_per_epoch = len(length_grouped_batches(lengths, args.batch_size, args.seed, 0, args.length_group))
    print(f"{batches_per_epoch} micro-batches per epoch; {args.steps * args.grad_accum / batches_per_epoch:.2f} epochs")

    # ---- optimizer, schedule, mixed precision ----
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)

    def lr_factor(step):  # linear warmup, then cosine from 1 down to min_lr_ratio
        if step < args.warmup_steps:
            return (step + 1) / args.warmup_steps
        progress = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
        return args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)  # fp16 needs loss scaling; bf16 not

    # ---- fresh start or resume ----
    start_step = 0
    metrics_path = out_dir / "metrics.jsonl"
    if args.resume:
        if not ckpt_dir.exists() and ckpt_dir.with_name("ckpt.old").exists():
            ckpt_dir.with_name("ckpt.old").rename(ckpt_dir)  # killed between the two renames of a save
        if not (ckpt_dir / "state.json").exists():
            raise SystemExit(f"--resume: no checkpoint in {ckpt_dir}; run without --resume to start")
        from safetensors.torch import load_file
        state = json.loads((ckpt_dir / "state.json").read_text())
        changed = {k: (v, getattr(args, k)) for k, v in state["args"].items() if k != "resume" and getattr(args, k) != v}
        if changed:
            print(f"resume: args differ from the checkpoint's (saved, now): {changed}")
        saved = load_file(ckpt_dir / "trainable.safetensors", device=str(device))
        missing = run_params - set(saved)
        if missing or model.load_state_dict(saved, strict=False).unexpected_keys:
            raise SystemExit(f"--resume: checkpoint does not match this model (missing {sorted(missing)[:3]}...)")
        training_state = torch.load(ckpt_dir / "training_state.pt", weights_only=True)
        optimizer.load_state_dict(training_state["optimizer"])
        scheduler.load_state_dict(training_state["scheduler"])
        scaler.load_state_dict(training_state["scaler"])
        torch.set_rng_state(training_state["torch_rng"])
        if training_state["cuda_rng"]:
            torch.cuda.set_rng_state_all(training_state["cuda_rng"])
        start_step = state["step"]
        if args.time_budget > 0:  # the count was cut to the budget by the killed run: keep its schedule
            args.steps = state["args"]["steps"]
        # the killed run may have logged steps past its last checkpoint: they are redone, so drop them
        records = [json.loads(l) for l in metrics_path.read_text().splitlines()] if metrics_path.exists() else []
        records = [r for r in records if r["step"] <= start_step]
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in records))
        print(f"resumed from {ckpt_dir} at step {start_step}")
    else:
        records = []
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text("")
        (out_dir / "args.json").write_text(json.dumps(dataclasses.asdict(args), indent=2))
        torch.manual_seed(args.seed + 1)  # dropout stream, independent of how the model was built

    # ---- warm-ups: the LM's induction head, the vision tower, lookups in images (see each Args field) ----
    loop_start = time.time()  # the warm-ups count against --time-budget

    def run_warmup(name, records, steps, every, describe, cap):
        """Appends a warm-up's records to metrics.jsonl and prints every `every` steps; stops once `cap` of
        --time-budget has passed since the first warm-up began. A checkpoint is always past them, so --resume skips
        them."""
        for i, record in enumerate(records, 1):
            with metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            over = args.time_budget > 0 and time.time() - loop_start > args.time_budget * 60 * cap
            if i % every == 0 or i == steps or over:
                print(f"{name} warm-up {i}/{steps} | {describe(record)}")
            if over:
                print(f"{name} warm-up stopped: it may run until {cap:.0%} of --time-budget is spent")
                break
        records.close()  # a warm-up's clean-up (lookup_warmup's) runs now, not when the generator is collected

    # in this order: the induction head (it trains the LM's embeddings, which the vision warm-up's "tokens" head
    # reads), the vision tower, lookups in the warmed-up tower's images. Those that run share --warmups-time-share of
    # --time-budget in proportion to their step counts: each stops once its share and those before it are spent
    warmups = []
    if args.induction_warmup_steps > 0:
        warmups.append(("induction", induction_warmup(model, tokenizer, args.induction_warmup_steps, args.batch_size,
                                                      args.lr, args.seed, device, amp_dtype,
                                                      getattr(task, "induction_chars", string.ascii_letters)),
                        args.induction_warmup_steps, 100,
                        lambda r: f"loss {r['induction_loss']:.4f} | acc {r['induction_acc']:.3f}"))
    if args.vision_warmup_steps > 0 or args.lookup_warmup_steps > 0:
        warmup_examples = draw_examples(task, "train", args.num_examples, args.seed, args.families)
    if args.vision_warmup_steps > 0:
        held_out = draw_examples(task, "val", args.num_val_examples, args.seed, args.families)
        warmups.append(("vision", vision_warmup(model, task, warmup_examples, image_processor, args.vision_warmup_steps,
                                                args.batch_size, args.lr, args.seed, device, amp_dtype, held_out,
                                                head=args.vision_warmup_head, tokenizer=tokenizer),
                        args.vision_warmup_steps, 50,
                        lambda r: f"loss {r['warmup_loss']:.4f} | patch acc {r['warmup_acc']:.3f} | on objects "
                                  f"{r['warmup_acc_fg']:.3f}" + (f" | held-out, on objects {r['warmup_val_acc_fg']:.3f}"
                                                                  if "warmup_val_acc_fg" in r else "")))
    if args.lookup_warmup_steps > 0:
        warmups.append(("lookup", lookup_warmup(model, task, warmup_examples, tokenizer, image_processor,
                                                args.lookup_warmup_steps, args.batch_size, args.lr, args.seed, device,
                                                amp_dtype),
                        args.lookup_warmup_steps, 100,
                        lambda r: f"loss {r['lookup_loss']:.4f} | acc {r['lookup_acc']:.3f}"))
    planned, done = sum(steps for _, _, steps, _, _ in warmups), 0
    for warmup in warmups if not args.resume else []:
        done += warmup[2]
        run_warmup(*warmup, cap=args.warmups_time_share * done / planned)

    if args.freeze_vision:  # no gradient through the tower: its features stay as warmed up (and a step is cheaper)
        vlm.vision_tower(model).requires_grad_(False)

    # ---- training loop ----
    epoch_cache = {}

    def micro_batch(k):  # the k-th micro-batch of the run: epoch order recomputed from (seed, epoch)
        epoch, i = divmod(k, batches_per_epoch)
        if epoch not in epoch_cache:
            epoch_cache.clear()
            epoch_cache[epoch] = length_grouped_batches(lengths, args.batch_size, args.seed, epoch, args.length_group)
        return [train_data[j] for j in epoch_cache[epoch][i]]

    model.train()
    not_context = set(vlm.vision_token_ids(model))   # for the context loss's token count
    # optimizer steps skipped for a non-finite gradient (metrics.jsonl carries the count across --resume)
    skipped_steps, skipped_in_a_row = next((r["skipped_steps"] for r in reversed(records) if "skipped_steps" in r), 0), 0
    bar = tqdm(range(start_step, args.steps), initial=start_step, total=args.steps, desc="sft")
    for step in bar:
        if args.time_budget > 0 and not args.resume and step == 10:
            rate_start = time.time()  # the first steps are slow (CUDA/allocator warm-up): time steps 10-50
        if args.time_budget > 0 and not args.resume and step == 50:
            per_step = (time.time() - rate_start) / 40
            fit = step + max(1, int((args.time_budget * 60 - (time.time() - loop_start)) / per_step))
            if fit < args.steps:
                tqdm.write(f"--time-budget {args.time_budget} min at {per_step:.3f} s/step: {args.steps} -> {fit} steps")
                args.steps = bar.total = fit
                (out_dir / "args.json").write_text(json.dumps(dataclasses.asdict(args), indent=2))
        if step >= args.steps:  # cut by --time-budget
            break
        t0 = time.time()
        mbs = [micro_batch(step * args.grad_accum + k) for k in range(args.grad_accum)]
        n_targets = sum(sum(l != -100 for l in t[1][1:]) for mb in mbs for t in mb)  # the loss's denominator
        n_context = sum(len(t[1]) - 1 for mb in mbs for t in mb) - n_targets      # and the context loss's
        if args.context_loss_weight > 0 and not_context:
            n_context -= sum(i in not_context for mb in mbs for t in mb for i in t[0][1:])
        loss_sum, context_sum, n_tokens = 0.0, 0.0, 0
        for mb in mbs:
            batch = collate(mb, tokenizer.pad_token_id, device, image_processor)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
                if args.context_loss_weight > 0:
                    loss, context_loss = sequence_loss_sum(model, *batch, context=True)
                    objective = loss / n_targets + args.context_loss_weight * context_loss / max(n_context, 1)
                    context_sum += context_loss.item()
                else:
                    loss = sequence_loss_sum(model, *batch)
                    objective = loss / n_targets
            scaler.scale(objective).backward()
            loss_sum += loss.item()
            n_tokens += int(batch[1].sum())
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm if args.max_grad_norm > 0 else float("inf"))
        if scaler.is_enabled() or torch.isfinite(grad_norm):  # fp16's scaler skips a non-finite step by itself
            scaler.step(optimizer)
            skipped_in_a_row = 0
        else:  # one inf/nan gradient turns every weight into nan (call P, bf16: 545 steps of nan): skip, count it
            skipped_steps, skipped_in_a_row = skipped_steps + 1, skipped_in_a_row + 1
            tqdm.write(f"step {step + 1}: non-finite gradient norm ({grad_norm.item()}), optimizer step skipped")
            if skipped_in_a_row == 10:
                raise SystemExit(f"10 optimizer steps in a row had a non-finite gradient (step {step + 1}); the last "
                                 f"checkpoint in {ckpt_dir} has finite weights: try a lower --lr")
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        lr = scheduler.get_last_lr()[0]
        scheduler.step()

        record = {"step": step + 1, "loss": loss_sum / n_targets, "lr": lr, "grad_norm": grad_norm.item(),
                  "skipped_steps": skipped_steps,
                  "tokens_per_s": n_tokens / (time.time() - t0), "trained_tokens": n_targets}
        if args.context_loss_weight > 0:
            record["context_loss"] = context_sum / max(n_context, 1)
        last = step + 1 == args.steps
        if not last and args.time_budget > 0 and not args.resume and time.time() - loop_start > args.time_budget * 60:
            # the rate fell after it was measured (another job took the GPU): the budget is a hard bound
            tqdm.write(f"--time-budget {args.time_budget} min spent at step {step + 1} of {args.steps}: stopping here")
            args.steps, last = step + 1, True
            (out_dir / "args.json").write_text(json.dumps(dataclasses.asdict(args), indent=2))
        if val_data and ((args.eval_every > 0 and (step + 1) % args.eval_every == 0) or last):
            record["val_loss"] = val_loss(model, val_data, args.batch_size, tokenizer.pad_token_id, device, amp_dtype,
                                          image_processor)
            tqdm.write(f"step {step + 1}/{args.steps} | loss {record['loss']:.4f} | val {record['val_loss']:.4f} | "
                       f"lr {lr:.2e} | {record['tokens_per_s']:.0f} tok/s")
        records.append(record)
        with metrics_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
        if (args.save_every > 0 and (step + 1) % args.save_every == 0) or last:
            save_checkpoint(ckpt_dir, model, optimizer, scheduler, scaler, step + 1, args, run_params)
            plot_losses(records, out_dir / "loss.png")
    bar.close()

    # ---- final model ----
    if args.lora_r > 0 and args.model == "tiny":
        model = model.merge_and_unload()  # --model tiny always leaves a plain full model
    if args.lora_r > 0 and args.model != "tiny":
        # the adapter plus the new tokens' rows (trainable_token_indices); the base is reloaded from --model
        model.save_pretrained(out_dir, save_embedding_layers=False)
    else:
        model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if image_processor is not None:
        image_processor.save_pretrained(out_dir)
    if records:
        plot_losses(records, out_dir / "loss.png")
    print(f"saved {out_dir} (metrics.jsonl, loss.png, ckpt/)")

    # ---- optional: greedy episodes on the val split, success per family ----
    if task and args.eval_episodes > 0:
        results = run_episodes(model, tokenizer, task, draw_examples(task, "val", args.eval_episodes, args.seed, args.families),
                               temperature=0.0, image_processor=image_processor)
        families = {}
        for r in results:
            families.setdefault(r.example.get("family", "?"), []).append(r.components["success"])
        print(f"{'family':<24}{'n':>5}{'success':>10}")
        for fam, succ in sorted(families.items()):
            print(f"{fam:<24}{len(succ):>5}{sum(succ) / len(succ):>10.2f}")
        overall = sum(r.components["success"] for r in results) / len(results)
        print(f"{'all':<24}{len(results):>5}{overall:>10.2f}")
        with metrics_path.open("a") as f:
            f.write(json.dumps({"step": args.steps, "eval_success": overall,
                                **{f"eval_success/{k}": sum(v) / len(v) for k, v in families.items()}}) + "\n")
