"""Call H (issue 9): what of the decode engine is still allocated when the training pass starts? The LoRA
training-pass peak is 13.85 GiB after a static-engine rollout and 13.20 after an HF one (call G). Qwen3-0.6B
shape, LoRA r16 all-linear, bf16, 64 rows x (128 + 256) tokens, as bench/grpo_vs_trl.py; GiB allocated at each point."""
import gc
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]
from peft import LoraConfig, get_peft_model  # noqa: E402
from grpo_vs_trl import build, make_prompts  # noqa: E402
from decode import DecodeEngine  # noqa: E402
from rollout import generate  # noqa: E402

gib = lambda: torch.cuda.memory_allocated() / 2**30  # noqa: E731
device, dtype = torch.device("cuda"), torch.bfloat16
model, tok = build("qwen3-0.6b", device, dtype, 0)
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
_, prompt_ids = make_prompts(tok, 8, 128, 0)
prompts = [p for p in prompt_ids for _ in range(8)]
model.eval()
print(f"model: {gib():.3f}")
for trial in range(2):
    engine = DecodeEngine(model, dtype=dtype, cuda_graph=True, compile=False)
    print(f"[{trial}] engine built (weights snapshot): {gib():.3f}")
    g = torch.Generator(device=device).manual_seed(trial)
    outs = generate(model, prompts, max_new_tokens=256, stop_ids={-1}, pad_id=tok.pad_token_id, temperature=1.0,
                    generator=g, engine=engine)
    torch.cuda.synchronize()
    print(f"[{trial}] after generate: {gib():.3f} | graphs {len(engine.graphs)}")
    refs = len(gc.get_referrers(engine))
    del engine
    torch.cuda.synchronize()
    print(f"[{trial}] after del engine: {gib():.3f} (referrers before del: {refs})")
    gc.collect()
    torch.cuda.synchronize()
    print(f"[{trial}] after gc.collect: {gib():.3f}")
    del outs
    gc.collect()
    print(f"[{trial}] after del outs: {gib():.3f}")
# the same without CUDA graphs
engine = DecodeEngine(model, dtype=dtype, cuda_graph=False)
generate(model, prompts, max_new_tokens=256, stop_ids={-1}, pad_id=tok.pad_token_id, temperature=1.0,
         generator=torch.Generator(device=device).manual_seed(5), engine=engine)
del engine
gc.collect()
print(f"no graphs, after del + gc: {gib():.3f}")
