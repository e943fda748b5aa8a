"""The model <-> environment glue shared by grpo.py, eval.py, chat.py and sft.py's final check.

Three things live here because every stage needs exactly the same version of them:
- `get_task(name)`: finds a task in the env modules' `TASKS` dicts (README, "The task protocol").
- `load_policy(path)`: loads a checkpoint written by any stage (full model or PEFT adapter) + tokenizer.
- `run_episodes(...)`: batched episodes with the KV cache. It records the token ids the model actually
  sampled (never re-tokenised text), their log-probs at sampling time, and a mask that is 0 on every
  token the environment wrote, so the training passes can use them as they are.

Episode styles (DESIGN.md): "reprompt" tasks (vi) render a fresh prompt every turn, so each turn is its
own (prompt, completion) pair; "append" tasks (exec, tools) get the env's reply appended to the running
context: the reply is fed to the model as forced tokens in the same decode loop, so the KV cache is kept
across cycles and the batch stays aligned.
"""
import ast
import importlib
import importlib.util
import inspect
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

import decode as decode_engine
import vlm

ENV_MODULES = ["vi_env", "exec_env", "vision_tasks", "action_tokenizer"]


def field_docs(cls):
    """A stage's Args dataclass -> {field: the string literal under it}, its --help text (% escaped: argparse
    formats help strings)."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    return {a.target.id: b.value.value.replace("%", "%%") for a, b in zip(body, body[1:])
            if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)}


def get_task(name):
    """The task registered as `name` by one of the env modules, or a ValueError listing the known ones.
    "some.module:name" takes TASKS[name] from any importable module (your own task, or a test's toy task)."""
    if ":" in name:
        module_name, name = name.split(":", 1)
        tasks = getattr(importlib.import_module(module_name), "TASKS", {})
        if name not in tasks:
            raise ValueError(f"module {module_name!r} registers no task {name!r}; it has: {', '.join(sorted(tasks))}")
        return tasks[name]
    known = {}
    for module_name in ENV_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue
        known.update(getattr(importlib.import_module(module_name), "TASKS", {}))
    if name not in known:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def draw_examples(task, split, n, seed=0, families=""):
    """task.examples, optionally restricted to some families: a comma list of family names and/or
    difficulties (easy, medium, hard), resolved through the task's `families` {name: difficulty} dict;
    "all" (or "") = every family; "auto" = the task's `default_families` if it declares them, else all."""
    if families == "auto":
        families = getattr(task, "default_families", "")
    if families in ("", "all"):
        return task.examples(split, n, seed)
    known = getattr(task, "families", None)
    if not known:
        raise ValueError(f"task {task.name!r} has no families to choose from")
    chosen = []
    for item in families.split(","):
        matches = [f for f, d in known.items() if item in (f, d)]
        if not matches:
            raise ValueError(f"unknown family or difficulty {item!r} for task {task.name!r}; "
                             f"families: {', '.join(known)}")
        chosen += [f for f in matches if f not in chosen]
    return task.examples(split, n, seed, families=chosen)


def load_policy(path, dtype=None, device="cpu", is_trainable=False):
    """Load a stage's output dir (a full `save_pretrained` model, or a PEFT adapter) and its tokenizer.
    A vision-language checkpoint loads as one too (its image processor: vlm.load_image_processor)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer
    from transformers.utils import logging
    logging.disable_progress_bar()  # one "Loading weights" bar per stage start is noise

    if os.path.isdir(path):
        if not any(os.path.exists(os.path.join(path, f)) for f in ("config.json", "adapter_config.json")):
            raise FileNotFoundError(f"{path} holds no model (no config.json or adapter_config.json)")
    elif path.count("/") != 1 or path.startswith((".", "/", "runs/")):  # not a hub-style "org/name" either
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(path)
    adapter = os.path.join(path, "adapter_config.json")
    base_path = json.load(open(adapter))["base_model_name_or_path"] if os.path.exists(adapter) else path
    vision = getattr(AutoConfig.from_pretrained(base_path), "vision_config", None) is not None
    if os.path.exists(adapter) and vision:  # AutoPeftModelForCausalLM would load the base as a causal LM
        from peft import PeftModel
        base = AutoModelForImageTextToText.from_pretrained(base_path, dtype=dtype)
        if len(tokenizer) > base.get_input_embeddings().weight.shape[0]:
            base.resize_token_embeddings(len(tokenizer))  # tokens added for the task, as AutoPeftModel does
        model = PeftModel.from_pretrained(base, path, is_trainable=is_trainable)
    elif os.path.exists(adapter):
        from peft import AutoPeftModelForCausalLM
        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype, is_trainable=is_trainable)
    else:
        model = (AutoModelForImageTextToText if vision else AutoModelForCausalLM).from_pretrained(path, dtype=dtype)
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:  # else sampling dies deep inside torch.multinomial (call P: an SFT run whose weights had gone nan)
        raise ValueError(f"{path}: {len(bad)} weight tensors hold nan or inf, e.g. {bad[:3]}; retrain it")
    if vision:
        vlm.pack_vision_attention(model)
    return model.to(device), tokenizer


def check_task_tokens(tokenizer, task):
    """Every special token of the task must be one token, else sampling can never emit a stop token."""
    bad = [t for t in task.special_tokens if len(tokenizer.encode(t, add_special_tokens=False)) != 1]
    if bad:
        raise ValueError(f"tokenizer lacks the {task.name!r} task's special tokens {bad}; "
                         f"train or convert the model with `python sft.py --task {task.name}` first")


@dataclass
class Turn:
    prompt_ids: list          # the tokens the model conditioned on
    completion_ids: list      # every token after the prompt: sampled ones and env-written ones
    completion_mask: list     # 1 where the model sampled the token (trained on), 0 where the env wrote it
    logprobs: list            # log-prob of each completion token under the sampling policy (0.0 on env tokens)
    truncated: bool           # hit the token budget before a stop token
    pixels: list = field(default_factory=list)  # VLM: pixel inputs of the images in prompt + completion, in order


@dataclass
class EpisodeResult:
    example: dict
    turns: list = field(default_factory=list)
    texts: list = field(default_factory=list)        # per turn: the model's text (reprompt) / the whole context after the prompt (append)
    reward: float = 0.0
    components: dict = field(default_factory=dict)
    answer: object = None
    info: dict = field(default_factory=dict)

    @property
    def truncated(self):
        return any(t.truncated for t in self.turns)


def sample_tokens(logits, temperature, top_p, generator):
    """Next token per row and its log-prob under softmax(logits / T) (the policy the trainer recomputes).
    logits: (B, V) float. temperature 0 means greedy (log-probs then use T = 1)."""
    logits = logits.float()
    if temperature <= 0:
        tokens = logits.argmax(-1)
        return tokens, torch.log_softmax(logits, -1).gather(-1, tokens[:, None])[:, 0]
    logprobs = torch.log_softmax(logits / temperature, -1)
    probs = logprobs.exp()
    if top_p < 1.0:  # nucleus: keep the smallest set of tokens whose mass reaches top_p
        sorted_probs, order = probs.sort(-1, descending=True)
        drop = sorted_probs.cumsum(-1) - sorted_probs > top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    tokens = torch.multinomial(probs, 1, generator=generator)[:, 0]
    return tokens, logprobs.gather(-1, tokens[:, None])[:, 0]


@torch.no_grad()
def generate(model, prompts, *, max_new_tokens, stop_ids, pad_id, temperature=0.0, top_p=1.0,
             generator=None, on_stop=None, max_cycles=1, stream=None, pixels=None, engine=None, env_threads=16):
    """Batched sampling with a KV cache from left-padded prompts (lists of token ids).

    A row's cycle ends at a token in `stop_ids` or after `max_new_tokens` sampled tokens. Then
    `on_stop(row, cycle_ids, truncated)` may return token ids for the env's reply: they are fed as forced
    tokens (mask 0) and the row samples a new cycle, at most `max_cycles` cycles. Returning None ends
    the row. `stream(row, token_id)` sees every token as it is chosen (chat.py prints with it).
    VLMs: `pixels` holds per row a list with the pixel inputs of its prompt's images (empty if none); positions
    are the model's 3-D mRoPE positions (vlm.rope_positions) and image tokens are never sampled. on_stop may
    return (ids, pixel inputs): a reply with images is fed whole in one step, since the vision tower must see an
    image's tokens together (the other rows feed their one token in that step, left-padded, the pads masked),
    and its pixel inputs are appended to the row's list, which so ends as those of prompt + completion.
    Rows whose cycles end at the same token get their on_stop calls concurrently, in up to `env_threads` threads
    (1 = one after the other; each call must touch only its own row's state).
    engine: a decode.DecodeEngine over the model's weights runs the forward passes instead of the model
    (static KV cache, CUDA graphs); text models only. With it, each decode step is launched before the host
    walks the rows of the previous one (its tokens are known on the device: the sampled ones, or env reply
    tokens already queued on the host), so on a GPU the next step computes while Python does the bookkeeping.
    Where it can (engine.sample_in_step: top_p = 1, the generator on its device), the engine also samples inside
    its step, by Gumbel-max from the same softmax(logits / T) with the same log-probs, but other draws than
    sample_tokens' multinomial for a given seed.
    Returns per row: (completion_ids, mask, logprobs, truncated).
    """
    device = next(model.parameters()).device
    B = len(prompts)
    L = max(len(p) for p in prompts)
    input_ids = torch.full((B, L), pad_id, dtype=torch.long, device=device)
    attention = torch.zeros((B, L), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        input_ids[i, L - len(p):] = torch.tensor(p, dtype=torch.long)
        attention[i, L - len(p):] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    vision = {}
    if pixels is not None:
        vision = vlm.cat_pixels([p for row in pixels for p in row], device) or {}
        positions = vlm.rope_positions(model, input_ids, attention, vision)   # (3, B, L)
    stop_ids = torch.tensor(sorted(stop_ids), device=device)

    completions = [[] for _ in range(B)]
    masks = [[] for _ in range(B)]
    logprobs = [[] for _ in range(B)]
    truncated = [False] * B
    cycle_start = [0] * B   # index in completions[i] where the current cycle's sampled tokens start
    cycles = [1] * B
    forced = [[] for _ in range(B)]  # env tokens waiting to be fed to row i
    forced_pixels = [None] * B       # VLM: pixel inputs of the images in forced[i]
    active = [True] * B

    if engine is not None:
        if pixels is not None:
            raise ValueError("the decode engine runs text models only")
        # engine_samples: prefill and step return (tokens, log-probs, stop) of the next token instead of its logits
        engine_samples = engine.sample_in_step(temperature, top_p, generator, stop_ids)
        logits = engine.prefill(input_ids, attention, capacity=L + max_new_tokens * max_cycles)
        # host <-> device through pinned buffers, so copies do not wait for the step running on the GPU; the
        # forced-token buffers alternate: one may still be on its way to the device while the other is filled
        cuda = device.type == "cuda"
        host_tokens, host_lp, host_stop = (torch.empty(B, dtype=d, pin_memory=cuda) for d in (torch.long, torch.float, torch.bool))
        host_forced = [torch.empty(B, dtype=torch.long, pin_memory=cuda) for _ in range(2)]
        n_steps = 0
    else:
        out = model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True,
                    logits_to_keep=1, **vision)
        # next position per row: (B,), or (3, B) under mRoPE (a sequence always ends in a text token, whose three
        # components are equal and the largest so far)
        cache, next_pos = out.past_key_values, positions[..., -1] + 1
        logits = out.logits[:, -1]
    while any(active):
        if pixels is not None:
            logits = vlm.forbid_vision_tokens(logits, model)
        if engine is not None and engine_samples:
            sampled, sampled_lp, is_stop = logits
        else:
            sampled, sampled_lp = sample_tokens(logits, temperature, top_p, generator)
            is_stop = torch.isin(sampled, stop_ids)
        if engine is None:
            is_stop, sampled, sampled_lp = is_stop.tolist(), sampled.tolist(), sampled_lp.tolist()
        else:
            for host, value in ((host_tokens, sampled), (host_lp, sampled_lp), (host_stop, is_stop)):
                host.copy_(value, non_blocking=cuda)
            copied = torch.cuda.Event() if cuda else None
            if cuda:
                copied.record()
            next_logits = None
            if not engine.full:  # launch the next step now (never one that grows the cache: it may be past the last)
                queued = host_forced[n_steps % 2]
                queued.copy_(torch.tensor([forced[i][0] if active[i] and forced[i] else -1 for i in range(B)]))
                queued = queued.to(device, non_blocking=cuda)
                next_logits = engine.step(torch.where(queued >= 0, queued, sampled))
            n_steps += 1
            if cuda:
                copied.synchronize()
            is_stop, sampled, sampled_lp = host_stop.tolist(), host_tokens.tolist(), host_lp.tolist()
        step_tokens = [pad_id] * B
        ended = []  # (row, the cycle's sampled ids, hit the token budget) of rows whose cycle ends at this token
        chunks = {}  # row -> (ids, pixel inputs): an image-bearing env reply fed whole this step
        for i in range(B):
            if not active[i]:
                continue
            if forced[i] and forced_pixels[i] is not None:
                chunks[i] = (forced[i], forced_pixels[i])
                pixels[i].append(forced_pixels[i])
                completions[i] += forced[i]; masks[i] += [0] * len(forced[i]); logprobs[i] += [0.0] * len(forced[i])
                cycle_start[i] = len(completions[i])
                if stream is not None:
                    for token in forced[i]:
                        stream(i, token)
                forced[i], forced_pixels[i] = [], None
                continue
            if forced[i]:  # the env's reply, fed one token per step so every row stays aligned
                step_tokens[i] = forced[i].pop(0)
                completions[i].append(step_tokens[i]); masks[i].append(0); logprobs[i].append(0.0)
                if not forced[i]:
                    cycle_start[i] = len(completions[i])
            else:
                step_tokens[i] = sampled[i]
                completions[i].append(sampled[i]); masks[i].append(1); logprobs[i].append(sampled_lp[i])
                n_sampled = len(completions[i]) - cycle_start[i]
                if is_stop[i] or n_sampled >= max_new_tokens:
                    ended.append((i, completions[i][cycle_start[i]:], not is_stop[i]))
            if stream is not None:
                stream(i, step_tokens[i])
        # the env's replies to every row whose cycle ended at this token, at once: each row's env is its own (exec:
        # its own sandbox process), so threads run their code blocks in parallel; each reply depends on its row only
        replies = [None] * len(ended)
        if on_stop is not None and len(ended) > 1 and env_threads > 1:
            with ThreadPoolExecutor(min(env_threads, len(ended))) as threads:
                replies = list(threads.map(lambda e: on_stop(*e), ended))
        elif on_stop is not None:
            replies = [on_stop(*e) for e in ended]
        for (i, _, hit_budget), reply in zip(ended, replies):
            if isinstance(reply, tuple):
                reply, forced_pixels[i] = reply
            if reply is None or cycles[i] >= max_cycles or hit_budget:
                active[i] = False
                truncated[i] = hit_budget
            elif reply:
                forced[i] = list(reply)
                cycles[i] += 1
            else:  # an empty reply: the next cycle starts at once
                cycles[i] += 1
                cycle_start[i] = len(completions[i])
        if not any(active):
            break
        if engine is not None:  # inactive rows may have been fed their sampled token instead of a pad: never read
            logits = next_logits if next_logits is not None else engine.step(torch.tensor(step_tokens, device=device))
            continue
        if chunks:
            out, attention, next_pos = _feed_chunks(model, chunks, step_tokens, attention, next_pos, cache, pad_id)
        else:
            attention = torch.cat([attention, torch.ones((B, 1), dtype=attention.dtype, device=device)], 1)
            out = model(input_ids=torch.tensor(step_tokens, device=device)[:, None], attention_mask=attention,
                        position_ids=next_pos[..., None], past_key_values=cache, use_cache=True)
            next_pos = next_pos + 1
        cache = out.past_key_values
        logits = out.logits[:, -1]
    return [(completions[i], masks[i], logprobs[i], truncated[i]) for i in range(B)]


def _feed_chunks(model, chunks, step_tokens, attention, next_pos, cache, pad_id):
    """One VLM decode step in which some rows feed a whole image-bearing reply (chunks: row -> (ids, pixels)) and
    the others their one token, right-aligned in a (B, K) block; the pads before them are masked. Positions of a
    chunk are its own mRoPE positions shifted to the row's next position. Returns (out, attention, next_pos)."""
    device = attention.device
    B, K = len(step_tokens), max(len(ids) for ids, _ in chunks.values())
    ids = torch.full((B, K), pad_id, dtype=torch.long, device=device)
    block = torch.zeros((B, K), dtype=attention.dtype, device=device)
    positions = torch.zeros((3, B, K), dtype=next_pos.dtype, device=device)
    next_pos = next_pos.clone()
    for i in range(B):
        row = chunks[i][0] if i in chunks else [step_tokens[i]]
        ids[i, K - len(row):] = torch.tensor(row, device=device)
        block[i, K - len(row):] = 1
        pos = next_pos[:, i:i + 1]   # (3, 1) for a token; a chunk adds its own positions, counted from 0
        if i in chunks:
            pos = vlm.rope_positions(model, ids[i:i + 1, K - len(row):], None, chunks[i][1])[:, 0] + pos
        positions[:, i, K - len(row):] = pos
        next_pos[:, i] = pos[:, -1] + 1
    attention = torch.cat([attention, block], 1)
    pixels = vlm.cat_pixels([chunks[i][1] for i in sorted(chunks)], device)
    out = model(input_ids=ids, attention_mask=attention, position_ids=positions, past_key_values=cache, use_cache=True,
                logits_to_keep=1, **pixels)
    return out, attention, next_pos


def run_episodes(model, tokenizer, task, examples, num_generations=1, temperature=0.0, top_p=1.0,
                 max_new_tokens=None, max_turns=None, seed=0, generator=None, stream=None, image_processor=None,
                 engine="hf", cuda_graph=True, compile_decode=False, graph_sampling=True, fuse_kv_writes=False):
    """Play `num_generations` episodes of each example (grouped: example 0's G episodes come first).

    reprompt tasks: every turn, all unfinished episodes' observations are batched into one `generate`.
    append tasks: one `generate` per batch; the env's replies come back through `on_stop` as forced tokens.
    VLMs (pass the checkpoint's `image_processor`): the episode's images (`episode.images()`: the observation's,
    then those its replies added) are fed as pixels where their `<image>` placeholders stand (vlm.encode); each
    Turn keeps the pixel inputs of its images for the training pass.
    engine: "hf" runs the model's own forward with a dynamic cache; "static" snapshots the weights into a
    decode.DecodeEngine (static KV cache; CUDA graphs on CUDA unless cuda_graph=False; torch.compile'd layers if
    compile_decode, K/V writes inside them if fuse_kv_writes; sampling inside the decode step unless
    graph_sampling=False) for this call's generations;
    "auto" = static on CUDA when decode.py supports the model, else hf.
    """
    max_new_tokens = max_new_tokens or task.max_new_tokens
    max_turns = max_turns or task.max_turns
    if generator is None:
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    stop_ids = {tokenizer.convert_tokens_to_ids(t) for t in task.stop_tokens} | {tokenizer.eos_token_id}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)

    results = [EpisodeResult(example=ex) for ex in examples for _ in range(num_generations)]
    episodes = [task.reset(r.example) for r in results]
    images = lambda ep: ep.images() if hasattr(ep, "images") else []
    if image_processor is None and episodes and images(episodes[0]):
        raise ValueError(f"task {task.name!r} shows images: it needs a vision-language model and its image processor "
                         f"(`python sft.py --task {task.name}` builds a tiny one)")
    if image_processor is not None:  # a VLM: token ids and pixel inputs of each observation and reply
        def encode_images(text, ep, seen):
            shown = images(ep)[seen:]
            return vlm.encode(tokenizer, image_processor, text, shown[:text.count(vlm.IMAGE)])
    was_training = model.training
    model.eval()
    fast = None
    if engine == "auto":
        engine = "static" if next(model.parameters()).is_cuda and decode_engine.unsupported(model) is None and \
            image_processor is None else "hf"
    if engine == "static":
        dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None  # grpo runs under autocast
        fast = decode_engine.DecodeEngine(model, dtype=dtype, cuda_graph=cuda_graph, compile=compile_decode,
                                          graph_sampling=graph_sampling, fuse_kv_writes=fuse_kv_writes)
    elif engine != "hf":
        raise ValueError(f"engine must be hf, static or auto, got {engine!r}")
    try:
        if task.style == "reprompt":
            observations = [ep.observation() for ep in episodes]
            live = list(range(len(episodes)))
            for _ in range(max_turns):
                if not live:
                    break
                pixels = None
                if image_processor is None:
                    prompts = [encode(observations[i]) for i in live]
                else:  # a reprompt observation shows the episode's current images
                    encoded = [encode_images(observations[i], episodes[i], 0) for i in live]
                    prompts, pixels = [ids for ids, _ in encoded], [[p] if p else [] for _, p in encoded]
                outs = generate(model, prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids, pad_id=pad_id,
                                temperature=temperature, top_p=top_p, generator=generator, pixels=pixels, engine=fast,
                                stream=None if stream is None else lambda row, tok: stream(live[row], tok))
                still_live = []
                for k, (i, prompt, (ids, mask, lps, trunc)) in enumerate(zip(live, prompts, outs)):
                    text = decode(ids)
                    results[i].turns.append(Turn(prompt, ids, mask, lps, trunc, pixels[k] if pixels else []))
                    results[i].texts.append(text)
                    observations[i], done = episodes[i].step(text)
                    if not done:
                        still_live.append(i)
                live = still_live
        elif task.style == "append":
            pixels = None
            if image_processor is None:
                prompts = [encode(ep.observation()) for ep in episodes]
            else:
                # an example's G episodes share one encoding of its prompt (and its pixel tensors)
                encoded = [encode_images(ep.observation(), ep, 0) for ep in episodes[::num_generations]]
                encoded = [e for e in encoded for _ in range(num_generations)]
                prompts, pixels = [ids for ids, _ in encoded], [[p] if p else [] for _, p in encoded]
                images_seen = [len(images(ep)) for ep in episodes]

            def on_stop(row, cycle_ids, truncated):
                ep = episodes[row]
                reply, done = ep.step(decode(cycle_ids))
                if done:
                    return None
                if image_processor is None:
                    return encode(reply)
                encoded = encode_images(reply, ep, images_seen[row])   # with the images the reply added
                images_seen[row] = len(images(ep))
                return encoded

            outs = generate(model, prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids, pad_id=pad_id,
                            temperature=temperature, top_p=top_p, generator=generator, on_stop=on_stop,
                            max_cycles=max_turns, stream=stream, pixels=pixels, engine=fast)
            for row, (r, prompt, (ids, mask, lps, trunc)) in enumerate(zip(results, prompts, outs)):
                r.turns.append(Turn(prompt, ids, mask, lps, trunc, pixels[row] if pixels else []))
                r.texts.append(decode(ids))
        else:
            raise ValueError(f"task {task.name!r} has unknown style {task.style!r}")
        for r, ep in zip(results, episodes):
            r.reward, r.components = ep.reward()
            r.answer, r.info = ep.answer(), ep.info()
    finally:
        for ep in episodes:
            if hasattr(ep, "close"):
                ep.close()
        if fast is not None:
            fast.close()  # its memory goes back before the caller's training pass, not when Python drops it
        model.train(was_training)
    return results
