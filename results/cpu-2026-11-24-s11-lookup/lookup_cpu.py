"""The lookup warm-up on CPU (sft.lookup_warmup), tiny preset: a tower warmed up with the tokens head (120 steps),
then STEPS lookup steps at batch 8 on TRAIN train decoders; every 50 steps the accuracy on 32 held-out (val)
decoders, 40 lookups each, greedy. Usage: python results/cpu-2026-11-24-s11-lookup/lookup_cpu.py [STEPS=1000] [TRAIN=64]"""
import sys
import time

import numpy as np
import torch

sys.path.insert(0, ".")
import sft  # noqa: E402
import vlm  # noqa: E402
from rollout import get_task  # noqa: E402

torch.set_num_threads(2)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 64
task = get_task("cryptogram")
tokenizer = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
torch.manual_seed(0)
model = vlm.build_tiny_vlm(tokenizer, "tiny")
processor = vlm.build_image_processor()
cpu = torch.device("cpu")
train, val = task.examples("train", n_train), task.examples("val", 32)
for record in sft.vision_warmup(model, task, train, processor, 120, 4, 3e-3, 0, cpu, torch.float32, head="tokens",
                                tokenizer=tokenizer):
    pass
print(f"tower: both letters of a pair token named {record['warmup_acc_fg']:.3f} (train, last step)")
rng = np.random.default_rng(1)
held_out = [(*sft.tokenize_sequence(tokenizer, sft.lookup_segments(rng, task.image_pairs(e), 40), False, processor,
                                    task.demo_images(e)), [vlm.patchify(processor, task.demo_images(e)[0])]) for e in val]


@torch.no_grad()
def held_out_acc():
    ids, attention, labels, pixels = sft.collate(held_out, tokenizer.pad_token_id, cpu, processor)
    base = vlm.base_model(model)
    model.eval()
    hidden = base.model(input_ids=ids, attention_mask=attention, **pixels,
                        position_ids=vlm.rope_positions(base, ids, attention, pixels)).last_hidden_state
    model.train()
    target = labels[:, 1:] != -100
    return (base.get_output_embeddings()(hidden[:, :-1][target]).argmax(-1) == labels[:, 1:][target]).float().mean().item()


t0 = time.time()
for record in sft.lookup_warmup(model, task, train, tokenizer, processor, steps, 8, 3e-3, 0, cpu, torch.float32):
    if record["lookup_step"] % 50 == 0:
        print(f"step {record['lookup_step']} loss {record['lookup_loss']:.3f} train acc {record['lookup_acc']:.3f} "
              f"held-out acc {held_out_acc():.3f} ({time.time() - t0:.0f}s)", flush=True)
