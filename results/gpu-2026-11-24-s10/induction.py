"""Does an induction head form in sft.py's from-scratch LM? Variable-offset repeats: a random letter string A (10-39
letters) appears twice in 100 random letters, at random places, and the second A is the target. With a fixed
offset the copy is a relative-position attention (`fixed`: learned in ~100 CPU steps); with a random one it must
find its place by content: the previous-token + match circuit the cryptogram lookup needs. Usage: python induction.py SIZE BATCH LR
SECONDS [fixed] (a line every 100 steps: loss and accuracy on the second A's letters, chance 1/26). `fixed`: A is
40 letters at 0 and again at 40, the control for the fixed-offset copy."""
import sys
import time

import numpy as np
import torch

sys.path.insert(0, ".")
from sft import build_char_tokenizer, build_tiny_model

size, batch, lr, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fixed = sys.argv[5:] == ["fixed"]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.manual_seed(0)
rng = np.random.default_rng(0)
tokenizer = build_char_tokenizer([])
model = build_tiny_model(tokenizer, size).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95))
letters = torch.tensor(tokenizer.convert_tokens_to_ids([chr(97 + j) for j in range(26)]))
T, t0, step = 100, time.time(), 0
while time.time() - t0 < seconds:
    x = letters[torch.from_numpy(rng.integers(0, 26, size=(batch, T)))]
    y = torch.full((batch, T), -100)
    for b in range(batch):
        n = 40 if fixed else int(rng.integers(10, 40))
        start = 0 if fixed else int(rng.integers(0, T - 2 * n))
        gap = 0 if fixed else int(rng.integers(0, T - 2 * n - start + 1))
        x[b, start + n + gap:start + 2 * n + gap] = x[b, start:start + n]
        y[b, start + n + gap + 1:start + 2 * n + gap] = x[b, start + 1:start + n]
    x, y = x.to(device), y.to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(input_ids=x).logits[:, :-1].float()
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1), ignore_index=-100)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step % 100 == 0:
        m = y[:, 1:] != -100
        acc = (logits.argmax(-1)[m] == y[:, 1:][m]).float().mean().item()
        print(f"step {step} loss {loss.item():.3f} acc {acc:.3f} t {time.time() - t0:.0f}s", flush=True)
    step += 1
