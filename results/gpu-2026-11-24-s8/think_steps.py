"""Where a cryptogram model goes wrong, from eval.py's episodes.jsonl: for each coded letter of each test message,
did the think section copy it ("J" of "J->h", session 8's step, or of "Jh", session 9's; in order) and did it look it up right (its own coded letter's plain
letter from the example's decoder, whether or not the copy was right)?
Usage: python results/gpu-2026-11-24-s8/think_steps.py <episodes.jsonl> [split, default test; seed 0 as eval.py]"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import vision_tasks as vt  # noqa: E402

rows = [json.loads(line) for line in open(sys.argv[1])]
split = sys.argv[2] if len(sys.argv) > 2 else "test"
# ids end in <split>-<seed>-<i>; both variants draw the same messages and ciphers for them
examples = {"-".join(e["id"].split("-")[-3:]): e for e in vt.TASKS["cryptogram"].examples(split, len(rows), seed=0)}
copied = looked_up = letters = 0
for row in rows:
    example = examples["-".join(row["id"].split("-")[-3:])]
    text = row["texts"][0]
    steps = [s for s in text[text.find("<think>") + 7:text.find("</think>")].split() if s != "_"]
    plain_of = dict(example["pairs"])
    for i, coded in enumerate(c for c in example["coded"].split() if c != "_"):
        letters += 1
        step = steps[i] if i < len(steps) else ""
        copied += step[:1] == coded
        written = step[3:] if step[1:3] == "->" else step[1:]   # the plain letter the model wrote
        looked_up += len(written) == 1 and plain_of.get(step[:1]) == written
print(f"{sys.argv[1]}: {len(rows)} episodes, {letters} coded letters: copied {copied / letters:.1%}, "
      f"looked up {looked_up / letters:.1%}")
