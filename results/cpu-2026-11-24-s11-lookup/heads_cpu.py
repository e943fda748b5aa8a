"""The cryptogram tower's warm-up on CPU with each head (sft.vision_warmup, head class or tokens): tiny preset, 64
train decoders, batch 4, lr 3e-3, 120 steps; prints the share of pair tokens named whole (both letters) at the
last step and on 8 held-out decoders. Usage: python results/cpu-2026-11-24-s11-lookup/heads_cpu.py"""
import sys

import torch

sys.path.insert(0, ".")
import sft  # noqa: E402
import vlm  # noqa: E402
from rollout import get_task  # noqa: E402

torch.set_num_threads(1)
task = get_task("cryptogram")
tokenizer = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
for head in ("class", "tokens"):
    torch.manual_seed(0)
    model = vlm.build_tiny_vlm(tokenizer, "tiny")
    *_, last = sft.vision_warmup(model, task, task.examples("train", 64), vlm.build_image_processor(), 120, 4, 3e-3, 0,
                                 torch.device("cpu"), torch.float32, task.examples("val", 8), 40, head=head,
                                 tokenizer=tokenizer)
    print(f"head {head}: step 120, pair tokens named {last['warmup_acc_fg']:.3f} (train batch), "
          f"{last['warmup_val_acc_fg']:.3f} (held-out)")
