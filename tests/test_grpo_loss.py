"""The named parts of GRPO against hand-computed values."""
import math

import pytest
import torch

from grpo import aggregate_loss, clipped_token_loss, group_advantages, k3_kl, pack
from rollout import Turn


def test_group_advantages_scaling():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv, std = group_advantages(r, 4, "group", eps=0.0)
    s = math.sqrt((0.75 ** 2 + 3 * 0.25 ** 2) / 3)  # unbiased std of group 1
    assert torch.allclose(adv[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]) / s)
    adv, std = group_advantages(r, 4, "group")
    assert torch.all(adv[4:] == 0) and torch.all(std[4:] == 0)  # a zero-variance group gives zero advantage
    adv, _ = group_advantages(r, 4, "none")
    assert torch.allclose(adv, torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]))
    adv, _ = group_advantages(r, 4, "batch", eps=0.0)
    assert torch.allclose(adv[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]) / r.std())
    with pytest.raises(ValueError):
        group_advantages(r, 4, "bogus")


def test_k3_kl_zero_for_equal_policies_and_positive_otherwise():
    logp = torch.log(torch.tensor([[0.2, 0.5]]))
    assert torch.allclose(k3_kl(logp, logp), torch.zeros(1, 2))
    ref = torch.log(torch.tensor([[0.4, 0.25]]))
    # exp(ref - logp) - (ref - logp) - 1 by hand
    expect = torch.tensor([[2 - math.log(2) - 1, 0.5 + math.log(2) - 1]])
    assert torch.allclose(k3_kl(logp, ref), expect, atol=1e-6)
    assert k3_kl(torch.tensor([[-30.0]]), torch.tensor([[0.0]]), clamp=10.0).item() == 10.0


def test_clipping_stops_gradient_outside_band():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.0, 1.5, 0.5]])).requires_grad_()  # ratios 1.0, 1.5, 0.5
    loss, low, high = clipped_token_loss(logp, old, torch.tensor([1.0]), 0.2, 0.28)
    loss.sum().backward()
    assert torch.allclose(loss, torch.tensor([[-1.0, -1.28, -0.5]]))
    assert logp.grad[0, 1] == 0  # ratio above 1 + eps_high with a positive advantage: clipped
    assert logp.grad[0, 0] == -1.0 and logp.grad[0, 2] == -0.5  # d(-ratio)/dlogp = -ratio
    assert high.tolist() == [[False, True, False]] and not low.any()
    logp2 = torch.log(torch.tensor([[0.5]])).requires_grad_()
    loss2, low2, _ = clipped_token_loss(logp2, torch.zeros(1, 1), torch.tensor([-1.0]), 0.2, 0.28)
    loss2.sum().backward()
    assert loss2.item() == pytest.approx(0.8) and low2.item() and logp2.grad.item() == 0


def test_aggregate_loss_each_type_by_hand():
    l = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    # grpo: mean over sequences of per-sequence token means = ((1+2+3)/3 + 4/1) / 2
    assert aggregate_loss(l, m, "grpo", num_sequences=2).item() == pytest.approx(3.0)
    # bnpo: token mean within the micro-batch = 10/4
    assert aggregate_loss(l, m, "bnpo", num_micro_batches=1).item() == pytest.approx(2.5)
    # dr_grpo: sum / (N * max_len) = 10 / (2 * 8)
    assert aggregate_loss(l, m, "dr_grpo", num_sequences=2, max_len=8).item() == pytest.approx(10 / 16)
    # dapo: sum / tokens of the whole batch (here 10 tokens across micro-batches)
    assert aggregate_loss(l, m, "dapo", num_tokens=10).item() == pytest.approx(1.0)
    # two micro-batches summed equal the full-batch loss for grpo and dapo
    full = aggregate_loss(l, m, "grpo", num_sequences=2)
    split = sum(aggregate_loss(l[i:i + 1], m[i:i + 1], "grpo", num_sequences=2) for i in range(2))
    assert torch.allclose(full, split)


def test_pack_masks_env_tokens_and_right_aligns_completions():
    a = Turn([5, 6], [7, 8, 9], [1, 0, 1], [-0.1, 0.0, -0.3], False)  # token 8 was written by the env
    b = Turn([5, 6, 6], [7], [1], [-0.2], False)  # one token shorter: its row is left-padded
    seq, mask, old, adv = pack([(a, 1.0), (b, -1.0)], pad_id=0, device="cpu")
    assert seq.tolist() == [[5, 6, 7, 8, 9], [0, 5, 6, 6, 7]]
    assert mask.tolist() == [[1, 0, 1], [0, 0, 1]]
    assert torch.allclose(old, torch.tensor([[-0.1, 0.0, -0.3], [0.0, 0.0, -0.2]]))
    # the env token contributes nothing to any loss type
    token_loss = torch.ones(2, 3) * 7
    token_loss[0, 1] = 1e6
    assert aggregate_loss(token_loss, mask, "dapo", num_tokens=3).item() == pytest.approx(7.0)


@pytest.mark.parametrize("lora,temperature", [(False, 0.7), (True, 0.7), (False, 1.0)])
def test_chunked_logprobs_match_the_full_pass(lora, temperature):
    """--logprob-chunk: same log-probs, entropies and gradients as the one-shot LM-head pass (chunks that do not
    divide B x C included), for a plain and a LoRA model, at temperature 0.7 and 1 (where the chunk skips the
    division)."""
    import sft
    from grpo import token_logprobs
    tok = sft.build_char_tokenizer([])
    torch.manual_seed(0)
    model = sft.build_tiny_model(tok, "tiny")
    if lora:
        peft = pytest.importorskip("peft")
        model = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0))
    pad = tok.pad_token_id
    seqs = torch.randint(3, len(tok), (3, 14))
    seqs[0, :4] = pad  # left padding
    results = []
    for chunk in (0, 5):
        model.zero_grad()
        logp, entropy = token_logprobs(model, seqs, 6, pad, temperature, chunk=chunk)
        (logp * torch.linspace(-1, 1, 18).view(3, 6)).sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        results.append((logp.detach(), entropy, grads))
    (lp0, e0, g0), (lp1, e1, g1) = results
    assert lp0.shape == lp1.shape == (3, 6)
    torch.testing.assert_close(lp1, lp0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(e1, e0, atol=1e-5, rtol=1e-5)
    for a, b in zip(g0, g1):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_head_logprobs_entropy_over_many_rows():
    """_head_logprobs sums p log p 32 rows at a time: the same entropies as over the whole chunk at once."""
    from grpo import _head_logprobs
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    hidden, targets = torch.randn(70, 8), torch.randint(0, 50, (70,))
    logp, entropy = _head_logprobs(hidden, targets, head, 1.0)
    ref = torch.log_softmax(head(hidden), -1)
    torch.testing.assert_close(logp, ref.gather(-1, targets[:, None])[:, 0])
    torch.testing.assert_close(entropy, -(ref.exp() * ref).sum(-1))
