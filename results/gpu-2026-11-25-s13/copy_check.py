"""Teacher-forced check of a pixel checkpoint on color_at demos that call GET_PROPERTIES: the share of all labelled
tokens and of the coordinate characters in the call that the model predicts right (argmax) given the demo so far.
Call D's model (its weights came back from the device; not kept in the repo, 7 MB): 95.3% of labelled tokens, 51.2%
of the characters of "(x, y)". Usage (repo root): PYTHONPATH=. python results/gpu-2026-11-25-s13/copy_check.py CHECKPOINT"""
import sys, torch, vlm, vision_tasks as vt
from rollout import load_policy
from sft import tokenize_sequence, collate
path = sys.argv[1]
model, tok = load_policy(path); model.eval()
proc = vlm.load_image_processor(path, model)
task = vt.PixelTask(direct_share=0.0)
exs = task.examples("test", 40, seed=0, families=["color_at"])
tot = hit = ctot = chit = 0
for ex in exs:
    [seq] = task.demo(ex)
    seq = list(seq) + [(tok.eos_token, True)]
    ims = task.demo_images(ex)
    ids, labels = tokenize_sequence(tok, seq, image_processor=proc, images=ims)
    patched = [vlm.patchify(proc, im) for im in ims]
    batch = collate([(ids, labels, patched)], tok.pad_token_id, "cpu", proc)
    with torch.no_grad():
        base = vlm.base_model(model)
        out = base(input_ids=batch[0], attention_mask=batch[1], position_ids=vlm.rope_positions(base, batch[0], batch[1], batch[3]), **batch[3])
    pred = out.logits[0, :-1].argmax(-1); tgt = batch[2][0, 1:]
    text = tok.convert_ids_to_tokens(ids)
    # positions of the first tool call's argument characters
    s = tok.decode(ids)
    k = s.index("<tool>GET_PROPERTIES(") + len("<tool>GET_PROPERTIES(")
    # map char offset -> token index (char tokenizer: decode of each token)
    pieces = [tok.decode([i]) for i in ids]; off = 0; tokidx = []
    for j, p in enumerate(pieces):
        tokidx += [j] * len(p)
    j0 = tokidx[k]; j1 = tokidx[s.index(")", k)]
    for j in range(j0, j1):
        ctot += 1; chit += int(pred[j - 1] == ids[j])
    m = tgt != -100
    tot += int(m.sum()); hit += int((pred[m] == tgt[m]).sum())
    if ex is exs[0]:
        print(repr(s[k-30:k+20]), "pred:", repr("".join(tok.decode([int(pred[j-1])]) for j in range(j0, j1))))
print(f"teacher-forced: all labelled {hit/tot:.3f}, coordinate chars {chit/ctot:.3f}")
