"""decode.py: the static-KV decode engine must reproduce the HF forward (same greedy tokens, same log-probs
within fp32 tolerance) for plain and LoRA models, shared prompts, env replies fed as forced tokens, and a cache
that has to grow; sampling inside its step must draw from softmax(logits / T) with those log-probs. CPU runs the
engine eagerly (CUDA graphs are only captured on CUDA)."""
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import decode  # noqa: E402
import sft  # noqa: E402
from rollout import generate  # noqa: E402


def tiny(seed=0, size="tiny"):
    tok = sft.build_char_tokenizer(["<BOS>", "</command>"])
    torch.manual_seed(seed)
    return sft.build_tiny_model(tok, size).eval(), tok


def prompts_of(tok, texts):
    return [tok.encode(t, add_special_tokens=False) for t in texts]


def both(model, prompts, tok, **kw):
    kw = dict(max_new_tokens=12, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=0.0) | kw
    return generate(model, prompts, **kw), generate(model, prompts, engine=decode.DecodeEngine(model), **kw)


def assert_same(hf, fast, atol=2e-4):
    for (ids_a, mask_a, lp_a, tr_a), (ids_b, mask_b, lp_b, tr_b) in zip(hf, fast):
        assert ids_a == ids_b and mask_a == mask_b and tr_a == tr_b
        torch.testing.assert_close(torch.tensor(lp_b), torch.tensor(lp_a), atol=atol, rtol=0)


def test_prefill_and_steps_match_the_hf_forward_logits():
    model, tok = tiny()
    prompts = prompts_of(tok, ["<BOS>copy abc\n", "<BOS>x", "<BOS>copy fedcba please\n"])
    L = max(map(len, prompts))
    ids = torch.full((3, L), tok.pad_token_id)
    att = torch.zeros(3, L, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, L - len(p):], att[i, L - len(p):] = torch.tensor(p), 1
    engine = decode.DecodeEngine(model)
    logits = engine.prefill(ids, att, capacity=L + 4)
    for t in range(6):  # feed fixed tokens; compare each step with a full HF forward over the whole sequence
        pos = (att.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            ref = model(input_ids=ids, attention_mask=att, position_ids=pos).logits[:, -1]
        torch.testing.assert_close(logits, ref, atol=1e-4, rtol=1e-4)
        nxt = torch.tensor([5 + t, 7, 9 + t])
        logits = engine.step(nxt)  # the cache starts with 4 spare columns: step 5 grows it
        ids, att = torch.cat([ids, nxt[:, None]], 1), torch.cat([att, torch.ones(3, 1, dtype=torch.long)], 1)
    assert engine.valid.shape[1] > L + 4, "the cache should have grown"


@pytest.mark.parametrize("attention", ["manual", "sdpa"])
def test_greedy_generation_is_identical_with_shared_prompts(attention):
    model, tok = tiny(1)
    texts = ["<BOS>copy abc\n"] * 3 + ["<BOS>ok\n"] * 2 + ["<BOS>copy fedcba please\n"]
    kw = dict(max_new_tokens=20, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=0.0)
    hf = generate(model, prompts_of(tok, texts), **kw)
    fast = generate(model, prompts_of(tok, texts), engine=decode.DecodeEngine(model, attention=attention), **kw)
    assert_same(hf, fast)
    assert fast[0] == fast[1] == fast[2]  # the same prompt, greedy: the same completion


@pytest.mark.parametrize("bucket", [0, 4])
def test_bucketed_attention_changes_nothing(bucket):
    """bucket=4: each step attends over the filled columns rounded up to 4 (the cache grows past several buckets);
    bucket=0: over the whole capacity. Both reproduce the HF forward."""
    model, tok = tiny(4)
    texts = ["<BOS>copy abc\n", "<BOS>copy fedcba please\n", "<BOS>ok\n"]
    kw = dict(max_new_tokens=20, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=0.0)
    hf = generate(model, prompts_of(tok, texts), **kw)
    fast = generate(model, prompts_of(tok, texts), engine=decode.DecodeEngine(model, bucket=bucket), **kw)
    assert_same(hf, fast)


def test_compiled_layers_change_nothing():
    """compile=True runs the decode step's layers through torch.compile (here its CPU backend): same tokens and
    log-probs as the HF forward."""
    model, tok = tiny(5)
    texts = ["<BOS>copy abc\n", "<BOS>ok\n"]
    kw = dict(max_new_tokens=10, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=0.0)
    hf = generate(model, prompts_of(tok, texts), **kw)
    fast = generate(model, prompts_of(tok, texts), engine=decode.DecodeEngine(model, compile=True, attention="manual"), **kw)
    assert_same(hf, fast)


def test_sampling_follows_the_same_policy():
    """graph_sampling=False (rollout.sample_tokens after each step, as before in-step sampling): same generator seed,
    the same sampled tokens as the HF path (the logits agree far below the sampling noise)."""
    model, tok = tiny(2)
    prompts = prompts_of(tok, ["<BOS>a\n"] * 4 + ["<BOS>bb\n"] * 4)
    kw = dict(max_new_tokens=16, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=1.0)
    hf = generate(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    fast = generate(model, prompts, generator=torch.Generator().manual_seed(3),
                    engine=decode.DecodeEngine(model, graph_sampling=False), **kw)
    assert_same(hf, fast)
    assert len({tuple(r[0]) for r in fast}) > 2  # it did sample


@pytest.mark.parametrize("compile", [False, True])
def test_greedy_sampling_in_the_step_matches_sampling_after_it(compile):
    """Greedy, in the step (decode._sample, compiled or not) vs rollout.sample_tokens on the step's logits: the same
    tokens and T = 1 log-probs, with stop tokens and env replies in the mix (both read the same logits: the LM head
    runs outside the compiled sampler)."""
    model, tok = tiny(8)
    prompts = prompts_of(tok, ["<BOS>copy abc\n", "<BOS>ok\n", "<BOS>copy fedcba please\n"])
    reply = tok.encode("<out>7</out>", add_special_tokens=False)
    kw = dict(max_new_tokens=12, stop_ids={tok.encode("c", add_special_tokens=False)[0], tok.eos_token_id},
              pad_id=tok.pad_token_id, temperature=0.0, on_stop=lambda *_: reply, max_cycles=3)
    engines = [decode.DecodeEngine(model, compile=compile, graph_sampling=on) for on in (False, True)]
    after, inside = [generate(model, prompts, engine=e, **kw) for e in engines]
    assert_same(after, inside, atol=1e-5)
    assert engines[1].sample_in_step(0.0, 1.0, None, torch.tensor([0])) and \
        not engines[0].sample_in_step(0.0, 1.0, None, torch.tensor([0]))


def test_sampled_tokens_carry_their_policy_logprobs():
    """Temperature 0.7, sampled in the step: each sampled token's log-prob is log_softmax(logits / T) at that token,
    logits from the HF forward over prompt + completion; one seed gives the same tokens twice, another seed others."""
    model, tok = tiny(9)
    prompts = prompts_of(tok, ["<BOS>a\n"] * 3 + ["<BOS>copy bb\n"] * 3)
    T = 0.7
    kw = dict(max_new_tokens=16, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=T)
    run = lambda seed: generate(model, prompts, generator=torch.Generator().manual_seed(seed),
                                engine=decode.DecodeEngine(model), **kw)
    first = run(3)
    assert run(3) == first
    assert [r[0] for r in run(4)] != [r[0] for r in first]
    assert len({tuple(r[0]) for r in first}) > 2  # it did sample
    for prompt, (ids, mask, lps, _) in zip(prompts, first):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1:-1]
        ref = torch.log_softmax(logits / T, -1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
        torch.testing.assert_close(torch.tensor(lps), ref, atol=2e-4, rtol=0)


def test_gumbel_max_draws_follow_softmax():
    """decode._sample on one fixed 8-token logits vector, 200,000 draws at T = 0.7: the token frequencies match
    softmax(logits / T): chi-square with 7 degrees of freedom under 40.5 (p = 1e-6; this seed: 5.6; drawn at T = 1
    instead: ~25,600, at T = 0.65 or 0.75: ~840, with -log(u) as the noise: ~8,600); and the log-probs are
    log_softmax(logits / T) at the drawn tokens."""
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0, 1.5])
    n, T, V = 200_000, 0.7, len(logits)
    noise = torch.rand(n, V, generator=torch.Generator().manual_seed(0))
    stop = torch.tensor([6])
    tokens, lps, stopped = decode._sample(logits.expand(n, V), torch.tensor(T), noise, stop)
    expected = torch.softmax(logits / T, -1) * n
    observed = torch.bincount(tokens, minlength=V).float()
    chi2 = ((observed - expected) ** 2 / expected).sum().item()
    assert chi2 < 40.5, (chi2, observed, expected)
    torch.testing.assert_close(lps, torch.log_softmax(logits / T, -1)[tokens])
    assert torch.equal(stopped, tokens == 6)
    greedy, greedy_lps, _ = decode._sample(logits.expand(2, V), None, None, stop)
    assert greedy.tolist() == [0, 0] and torch.allclose(greedy_lps, torch.log_softmax(logits, -1)[0])


def test_in_step_sampling_falls_back_where_unsupported():
    """top_p < 1 (nucleus), the flag off, or a generator on another device: the engine returns logits and
    rollout.sample_tokens draws, exactly as with graph_sampling=False."""
    model, tok = tiny(2)
    engine = decode.DecodeEngine(model)
    stop = torch.tensor([tok.eos_token_id])
    assert not engine.sample_in_step(1.0, 0.9, None, stop)
    assert not decode.DecodeEngine(model, graph_sampling=False).sample_in_step(1.0, 1.0, None, stop)
    if torch.cuda.is_available():
        assert not engine.sample_in_step(1.0, 1.0, torch.Generator(device="cuda"), stop)
    prompts = prompts_of(tok, ["<BOS>a\n"] * 4)
    kw = dict(max_new_tokens=16, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=1.0, top_p=0.9)
    hf = generate(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    fast = generate(model, prompts, generator=torch.Generator().manual_seed(3), engine=engine, **kw)
    assert_same(hf, fast)


def test_env_replies_as_forced_tokens_and_cache_growth():
    model, tok = tiny(3)
    reply = tok.encode("<output>42 and some more text</output>", add_special_tokens=False)

    def on_stop(row, cycle_ids, truncated):
        return reply

    prompts = prompts_of(tok, ["<BOS>q1\n", "<BOS>question two\n"])
    # every token stops a cycle: 4 cycles of 1 sampled token + a 30-token reply outgrow the first capacity
    kw = dict(stop_ids=set(range(len(tok))), max_new_tokens=6, on_stop=on_stop, max_cycles=4)
    hf, fast = both(model, prompts, tok, **kw)
    assert_same(hf, fast)
    for ids, mask, _, _ in fast:
        assert mask.count(0) == 3 * len(reply) and mask.count(1) == 4  # env tokens fed and masked


def test_lora_weights_are_merged_exactly():
    peft = pytest.importorskip("peft")
    model, tok = tiny(4, "tiny")
    model = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2)  # a nonzero adapter, so merging matters
    model.eval()
    prompts = prompts_of(tok, ["<BOS>copy abc\n", "<BOS>zz\n"])
    hf, fast = both(model, prompts, tok, max_new_tokens=16)
    assert_same(hf, fast)
    with model.disable_adapter():  # the engine reads what the module computes: adapter off -> base weights
        hf_base, fast_base = both(model, prompts, tok, max_new_tokens=16)
    assert_same(hf_base, fast_base)
    assert [r[0] for r in hf_base] != [r[0] for r in hf], "the adapter should change the greedy output"


def test_trainable_token_rows_are_read_through_the_wrappers():
    """sft.py's LoRA path for HF models adds task tokens and trains their embedding rows (PEFT
    trainable_token_indices, which wraps the tied embedding and LM head): the engine must see the new rows."""
    peft = pytest.importorskip("peft")
    model, tok = tiny(7)
    ids = tok.convert_tokens_to_ids(["<BOS>", "</command>"])
    model = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0,
                                                       trainable_token_indices={"embed_tokens": ids}))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.normal_(0, 0.3)  # adapters and the new rows away from their initial values
    model.eval()
    hf, fast = both(model, prompts_of(tok, ["<BOS>copy abc\n", "<BOS>zz </command>\n"]), tok, max_new_tokens=16)
    assert_same(hf, fast)


def test_unsupported_models_say_why():
    from transformers import GPT2Config, GPT2LMHeadModel
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    assert "gpt2" in decode.unsupported(model)
    with pytest.raises(ValueError, match="does not support"):
        decode.DecodeEngine(model)


def test_run_episodes_same_with_either_engine():
    """The vi task end to end (reprompt turns, G samples per prompt): engine="static" plays the same episodes
    (graph_sampling=False: the same multinomial draws; in-step Gumbel-max draws differ for a seed)."""
    from rollout import get_task, run_episodes
    task = get_task("vi")
    tok = sft.build_char_tokenizer(list(task.special_tokens))
    torch.manual_seed(5)
    model = sft.build_tiny_model(tok, "tiny")
    examples = task.examples("val", 3, seed=1)
    runs = [run_episodes(model, tok, task, examples, num_generations=2, temperature=1.0, max_new_tokens=10,
                         max_turns=2, generator=torch.Generator().manual_seed(0), engine=e, graph_sampling=False)
            for e in ("hf", "static")]
    for a, b in zip(*runs):
        assert a.texts == b.texts and a.reward == b.reward
        assert [t.completion_ids for t in a.turns] == [t.completion_ids for t in b.turns]
    with pytest.raises(ValueError, match="engine must be"):
        run_episodes(model, tok, task, examples[:1], engine="fast")


def test_env_replies_of_rows_that_stop_together_run_concurrently():
    """Rows whose cycles end at the same token get their env replies in parallel threads (exec: one sandbox
    process each); the episodes are the same as one call after the other, and the wall time is not their sum."""
    import threading
    import time
    model, tok = tiny(6)
    prompts = prompts_of(tok, ["<BOS>q\n"] * 8)
    seen = set()

    def on_stop(row, cycle_ids, truncated):
        seen.add(threading.get_ident())
        time.sleep(0.1)  # a code block running in a sandbox
        return tok.encode(f"<out>{row}:{len(cycle_ids)}</out>", add_special_tokens=False)

    kw = dict(max_new_tokens=1, stop_ids=set(range(len(tok))), pad_id=tok.pad_token_id, temperature=0.0,
              on_stop=on_stop, max_cycles=3)
    t = time.time()
    serial = generate(model, prompts, env_threads=1, **kw)
    serial_s, threads_serial = time.time() - t, len(seen)
    seen.clear()
    t = time.time()
    parallel = generate(model, prompts, **kw)
    parallel_s = time.time() - t
    assert parallel == serial
    assert threads_serial == 1 and len(seen) > 1
    # 8 rows x 3 cycles of 0.1 s: serially 2.4 s of waiting, in parallel 0.3 s; decoding costs both the same
    assert serial_s > 2.4 and serial_s - parallel_s > 0.6 * 2.1


def test_kv_writes_inside_the_compiled_layer_change_nothing():
    """fuse_kv_writes=True: the compiled q/k/v function writes the new K/V columns itself (torch.compile's CPU backend
    here): the same greedy tokens and log-probs as the HF forward."""
    model, tok = tiny(5)
    texts = ["<BOS>copy abc\n", "<BOS>ok\n"]
    kw = dict(max_new_tokens=10, stop_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, temperature=0.0)
    hf = generate(model, prompts_of(tok, texts), **kw)
    engine = decode.DecodeEngine(model, compile=True, attention="manual", fuse_kv_writes=True)
    fast = generate(model, prompts_of(tok, texts), engine=engine, **kw)
    assert_same(hf, fast)
