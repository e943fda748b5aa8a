"""Where an image-task SFT step's time goes, and what vlm.py's fast paths buy: per task, one batch of B examples,
ms per call (mean over --reps after one warm-up), each fast path next to the HF code it replaces.

  pixel inputs, HF processor     Qwen2VLImageProcessorPil on the batch's images (what sft.py ran per step before)
  pixel inputs, from patches     vlm.pixel_values on the uint8 patches sft.py now stores per example (made once)
  rope, get_rope_index           the model's own 3-D mRoPE positions (a Python loop over rows and images)
  rope, vectorised               vlm.rope_positions
  model fwd+bwd, per image       sft.sequence_loss_sum + backward, vision attention one SDPA call per image (HF's)
  model fwd+bwd, packed          the same with vlm.packed_sdpa (one call per run of equal-size images)

    python bench/vlm_step_bench.py                                   # GPU if there is one: small preset, B = 128
    python bench/vlm_step_bench.py --size tiny --batch 16 --reps 3   # CPU
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sft  # noqa: E402
import vlm  # noqa: E402
from rollout import get_task  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="digits,cryptogram,pixel")
    ap.add_argument("--size", default="small", help="model preset (tiny, cpu, small)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(fn):
        fn()
        sync()
        start = time.perf_counter()
        for _ in range(args.reps):
            fn()
        sync()
        return (time.perf_counter() - start) / args.reps * 1e3

    rows = []
    for name in args.tasks.split(","):
        task = get_task(name)
        tokenizer = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
        processor = vlm.build_image_processor()
        sequences = sft.task_sequences(task, "train", args.batch, 0, tokenizer.eos_token, images=True)[:args.batch]
        data = [(*sft.tokenize_sequence(tokenizer, s, False, processor, ims), [vlm.patchify(processor, im) for im in ims])
                for s, ims in sequences]
        images = [im for _, ims in sequences for im in ims]
        ids, attention, labels, pixels = sft.collate(data, tokenizer.pad_token_id, device, processor)
        torch.manual_seed(0)
        model = vlm.build_tiny_vlm(tokenizer, args.size).to(device)
        base = model.model
        mm_types = (ids == model.config.image_token_id).int()
        times = {
            "pixel inputs, HF processor": timed(lambda: {k: v.to(device) for k, v in processor(
                images=images, return_tensors="pt").items()}),
            "pixel inputs, from patches": timed(lambda: vlm.pixel_values(processor, [p for d in data for p in d[2]], device)),
            "rope, get_rope_index": timed(lambda: base.get_rope_index(ids, mm_token_type_ids=mm_types, attention_mask=attention,
                                                                      image_grid_thw=pixels["image_grid_thw"])),
            "rope, vectorised": timed(lambda: vlm.rope_positions(model, ids, attention, pixels)),
        }
        for label, attn in (("model fwd+bwd, per image", "sdpa"), ("model fwd+bwd, packed", vlm.PACKED_ATTENTION)):
            model.set_attn_implementation({"vision_config": attn})

            def step():
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    loss = sft.sequence_loss_sum(model, ids, attention, labels, pixels)
                loss.backward()
                model.zero_grad(set_to_none=True)
            times[label] = timed(step)
        rows.append((name, len(images), tuple(pixels["image_grid_thw"][0].tolist()), ids.shape[1], times))
        print(f"{name}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in times.items()), flush=True)

    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"\n### Image SFT step pieces, ms per batch of {args.batch}, `{args.size}` model, {gpu}\n")
    keys = list(rows[0][4])
    print("| task | images | first grid (t, h, w) | tokens | " + " | ".join(keys) + " |")
    print("|---|---:|---|---:|" + "---:|" * len(keys))
    for name, n, grid, length, times in rows:
        print(f"| {name} | {n} | {grid} | {length} | " + " | ".join(f"{times[k]:.1f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
