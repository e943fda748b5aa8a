"""Before/after: host-side cost of one SFT micro-batch (batch 32), piece by piece, ms. argv: tasks, device."""
import sys, time
sys.path.insert(0, "/work/main"); sys.path.insert(1, "/tmp/vlmprof")
import torch, sft, vlm, sft_old, vlm_old
from rollout import get_task
sft_old.vlm = vlm_old
torch.set_num_threads(2)
B, REPS = 32, 10
dev = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)


def t(fn, reps=REPS):
    fn(); sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        out = fn()
    sync()
    return (time.perf_counter() - t0) / reps * 1000, out


for name in sys.argv[1].split(","):
    task = get_task(name)
    tok = sft.build_char_tokenizer(list(task.special_tokens) + vlm.VISION_TOKENS)
    proc = vlm.build_image_processor()
    seqs = sft.task_sequences(task, "train", B, 0, tok.eos_token, images=True)[:B]
    old = [(*sft_old.tokenize_sequence(tok, s, False, proc, ims), ims) for s, ims in seqs]
    new = [(*sft.tokenize_sequence(tok, s, False, proc, ims), [vlm.patchify(proc, im) for im in ims]) for s, ims in seqs]
    images = [im for _, ims in seqs for im in ims]
    model = vlm.build_tiny_vlm(tok, "small").to(dev)
    r = {}
    r["once: render 32 examples"] = [t(lambda: [task.demo_images(e) for e in task.examples("train", B, 0)], 3)[0]] * 2
    r["once: tokenize 32 examples"] = [t(lambda: [sft_old.tokenize_sequence(tok, s, False, proc, ims) for s, ims in seqs], 3)[0]] * 2
    r["once: patchify 32 examples' images"] = [0.0, t(lambda: [vlm.patchify(proc, im) for im in images], 3)[0]]
    r["collate: ids/labels"] = [t(lambda: sft_old.collate([d[:2] for d in old], tok.pad_token_id, dev))[0],
                                t(lambda: sft.collate([d[:2] for d in new], tok.pad_token_id, dev))[0]]
    r["collate: pixels"] = [t(lambda: vlm_old.pixel_inputs(proc, images, dev))[0],
                            t(lambda: vlm.pixel_values(proc, [p for d in new for p in d[2]], dev))[0]]
    ids, att, lab, px = sft.collate(new, tok.pad_token_id, dev, proc)
    _, _, _, px_old = sft_old.collate(old, tok.pad_token_id, dev, proc)
    assert torch.equal(px["pixel_values"], px_old["pixel_values"])
    r["rope_positions"] = [t(lambda: vlm_old.rope_positions(model, ids, att, px))[0],
                           t(lambda: vlm.rope_positions(model, ids, att, px))[0]]
    assert torch.equal(vlm_old.rope_positions(model, ids, att, px), vlm.rope_positions(model, ids, att, px))
    r["= per step (collate + rope)"] = [sum(v[k] for n, v in r.items() if not n.startswith("once")) for k in (0, 1)]

    def step():
        loss = sft.sequence_loss_sum(model, ids, att, lab, px)
        loss.backward()
        model.zero_grad(set_to_none=True)
    if dev.type == "cuda" or "fwd" in sys.argv:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            r["model fwd+bwd (new rope inside)"] = [t(step, 5 if dev.type == "cuda" else 1)[0]] * 2
    print(f"\n{name} on {dev}: batch {B}, {len(images)} images {images[0].shape}, seq len {ids.shape[1]}, "
          f"pixel_values {tuple(px['pixel_values'].shape)}")
    print(f"  {'piece':<38}{'before':>9}{'after':>9}")
    for k, (a, b) in r.items():
        print(f"  {k:<38}{a:9.1f}{b:9.1f}")
