"""The digits vision tower alone (sft.vision_warmup): held-out accuracy per digit against the image processor's
min_pixels. Usage: python tower.py MIN_PIXELS STEPS SIZE BATCH SECONDS (prints a line every 100 steps)."""
import sys
import time

import torch
from transformers import Qwen2VLImageProcessorPil

sys.path.insert(0, ".")
import sft
import vlm
from rollout import get_task

min_px, steps, size, batch, seconds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
amp = torch.bfloat16 if device.type == "cuda" else torch.float32
torch.manual_seed(0)
task = get_task("digits")
tokenizer = sft.build_char_tokenizer(task.special_tokens + vlm.VISION_TOKENS)
model = vlm.build_tiny_vlm(tokenizer, size).to(device)
processor = (Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2, min_pixels=min_px) if min_px
             else vlm.build_image_processor())
train, val = task.examples("train", 20000, 0), task.examples("val", 400, 0)
print("source", train[0]["source"], "min_pixels", min_px, "image tokens",
      vlm.image_text(processor, task.reset(train[0]).images()[0]).count("<|image_pad|>"), flush=True)
t0 = time.time()
for record in sft.vision_warmup(model, task, train, processor, steps, batch, 1e-3, 0, device, amp, held_out=val,
                                measure_every=100):
    if "warmup_val_acc_fg" in record:
        print(f"step {record['warmup_step']} train_fg {record['warmup_acc_fg']:.3f} "
              f"val_fg {record['warmup_val_acc_fg']:.3f} t {time.time() - t0:.0f}s", flush=True)
    if time.time() - t0 > seconds:
        break
