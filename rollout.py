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
import importlib
import importlib.util
import os
from dataclasses import dataclass, field

import torch

ENV_MODULES = ["vi_env", "exec_env", "vision_tasks", "action_tokenizer"]


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
    """Load a stage's output dir (a full `save_pretrained` model, or a PEFT adapter) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging
    logging.disable_progress_bar()  # one "Loading weights" bar per stage start is noise

    if os.path.isdir(path):
        if not any(os.path.exists(os.path.join(path, f)) for f in ("config.json", "adapter_config.json")):
            raise FileNotFoundError(f"{path} holds no model (no config.json or adapter_config.json)")
    elif path.count("/") != 1 or path.startswith((".", "/", "runs/")):  # not a hub-style "org/name" either
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if os.path.exists(os.path.join(path, "adapter_config.json")):
        from peft import AutoPeftModelForCausalLM
        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype, is_trainable=is_trainable)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
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
             generator=None, on_stop=None, max_cycles=1, stream=None):
    """Batched sampling with a KV cache from left-padded prompts (lists of token ids).

    A row's cycle ends at a token in `stop_ids` or after `max_new_tokens` sampled tokens. Then
    `on_stop(row, cycle_ids, truncated)` may return token ids for the env's reply: they are fed as forced
    tokens (mask 0) and the row samples a new cycle, at most `max_cycles` cycles. Returning None ends
    the row. `stream(row, token_id)` sees every token as it is chosen (chat.py prints with it).
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
    stop_ids = torch.tensor(sorted(stop_ids), device=device)

    completions = [[] for _ in range(B)]
    masks = [[] for _ in range(B)]
    logprobs = [[] for _ in range(B)]
    truncated = [False] * B
    cycle_start = [0] * B   # index in completions[i] where the current cycle's sampled tokens start
    cycles = [1] * B
    forced = [[] for _ in range(B)]  # env tokens waiting to be fed to row i
    active = [True] * B

    out = model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True,
                logits_to_keep=1)
    cache, next_pos = out.past_key_values, positions[:, -1] + 1
    logits = out.logits[:, -1]
    while any(active):
        sampled, sampled_lp = sample_tokens(logits, temperature, top_p, generator)
        is_stop = torch.isin(sampled, stop_ids).tolist()
        sampled, sampled_lp = sampled.tolist(), sampled_lp.tolist()
        step_tokens = [pad_id] * B
        for i in range(B):
            if not active[i]:
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
                    hit_budget = not is_stop[i]
                    reply = on_stop(i, completions[i][cycle_start[i]:], hit_budget) if on_stop else None
                    if reply is None or cycles[i] >= max_cycles or hit_budget:
                        active[i] = False
                        truncated[i] = hit_budget
                    elif reply:
                        forced[i] = list(reply)
                        cycles[i] += 1
                    else:  # an empty reply: the next cycle starts at once
                        cycles[i] += 1
                        cycle_start[i] = len(completions[i])
            if stream is not None:
                stream(i, step_tokens[i])
        if not any(active):
            break
        attention = torch.cat([attention, torch.ones((B, 1), dtype=attention.dtype, device=device)], 1)
        out = model(input_ids=torch.tensor(step_tokens, device=device)[:, None], attention_mask=attention,
                    position_ids=next_pos[:, None], past_key_values=cache, use_cache=True)
        cache, next_pos = out.past_key_values, next_pos + 1
        logits = out.logits[:, -1]
    return [(completions[i], masks[i], logprobs[i], truncated[i]) for i in range(B)]


def run_episodes(model, tokenizer, task, examples, num_generations=1, temperature=0.0, top_p=1.0,
                 max_new_tokens=None, max_turns=None, seed=0, generator=None, stream=None):
    """Play `num_generations` episodes of each example (grouped: example 0's G episodes come first).

    reprompt tasks: every turn, all unfinished episodes' observations are batched into one `generate`.
    append tasks: one `generate` per batch; the env's replies come back through `on_stop` as forced tokens.
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
    was_training = model.training
    model.eval()
    try:
        if task.style == "reprompt":
            observations = [ep.observation() for ep in episodes]
            live = list(range(len(episodes)))
            for _ in range(max_turns):
                if not live:
                    break
                prompts = [encode(observations[i]) for i in live]
                outs = generate(model, prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids, pad_id=pad_id,
                                temperature=temperature, top_p=top_p, generator=generator,
                                stream=None if stream is None else lambda row, tok: stream(live[row], tok))
                still_live = []
                for i, prompt, (ids, mask, lps, trunc) in zip(live, prompts, outs):
                    text = decode(ids)
                    results[i].turns.append(Turn(prompt, ids, mask, lps, trunc))
                    results[i].texts.append(text)
                    observations[i], done = episodes[i].step(text)
                    if not done:
                        still_live.append(i)
                live = still_live
        elif task.style == "append":
            prompts = [encode(ep.observation()) for ep in episodes]

            def on_stop(row, cycle_ids, truncated):
                reply, done = episodes[row].step(decode(cycle_ids))
                return None if done else encode(reply)

            outs = generate(model, prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids, pad_id=pad_id,
                            temperature=temperature, top_p=top_p, generator=generator, on_stop=on_stop,
                            max_cycles=max_turns, stream=stream)
            for r, prompt, (ids, mask, lps, trunc) in zip(results, prompts, outs):
                r.turns.append(Turn(prompt, ids, mask, lps, trunc))
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
        model.train(was_training)
    return results
