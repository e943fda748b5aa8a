"""The cryptogram lookup alone, as sft.py --data rows: a random decoder table in cryptogram-text's format
("Jh Ze ...": coded capital, then its plain letter), then Q coded letters to decode. With Q = 1 the completion is
the plain letter; with Q > 1 it is "Jh Ze ..." for Q random distinct coded letters, as cryptogram's think section
writes them, but with nothing to copy: the coded letters are new draws (unpredictable, ln 26 = 3.26 nats each
at best, minus what exclusion gives), and only the plain letters can be learned, by the induction one token back.
No word prior either. Usage: python make_rows.py N SEED Q > rows.jsonl"""
import json
import sys

import numpy as np

n, seed, queries = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
for _ in range(n):
    plain = [chr(97 + j) for j in rng.permutation(26)]   # the decoder's rows in random order
    coded = [chr(65 + j) for j in rng.permutation(26)]
    asked = rng.choice(26, size=queries, replace=False)
    table = " ".join(c + p for c, p in zip(coded, plain))
    if queries == 1:
        prompt, completion = f"Decoder: {table}\nDecode: {coded[asked[0]]}\n", plain[asked[0]]
    else:
        prompt, completion = f"Decoder: {table}\nDecode:\n", " ".join(coded[q] + plain[q] for q in asked)
    print(json.dumps({"prompt": prompt, "completion": completion}))
