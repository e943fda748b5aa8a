"""FAST action tokenizer (VM-1 / Pertsch et al. 2025, "FAST: Efficient Action Tokenization") for computer use,
plus synthetic and recorded computer-action data.

An action is one 50 Hz frame of D=29 channels: cursor x, y (pixels on a 1920x1080 screen), left button
(0/1) and the 26 letter keys a..z (0/1). A chunk is T=50 frames (1 s). Encoding a chunk:
normalise each channel to about [-1, 1] -> DCT-II (orthonormal) along time -> multiply by `scale` and
round -> flatten low frequency first (coefficient 0 of every channel, then coefficient 1, ...) -> one
symbol per integer -> BPE (`tokenizers`). Decoding runs the path backwards.

Differs from the reference FAST tokenizer in:
1) one symbol per coefficient value (Unicode private-use code points, no byte-level pre-tokenizer): the
   reference's byte-level BPE splits every code point >= U+0080 into two bytes, so its length depends on
   where the integer offset lands in Unicode;
2) `scale` may be a per-channel vector (`channel_scale()`: x, y 50, binary 5): 2.7 px cursor RMSE in x
   instead of 10 px at scale 10, for 77 instead of 71 tokens per chunk (bench/fast_bench.py, vocab 1024);
3) decoding never fails and never yields garbage: unknown ids are skipped and counted, a short or long
   stream is padded / truncated to T x D, outputs are clipped to the screen, binary channels thresholded,
   and channels whose coefficient 0 is missing hold `prev_action` instead of jumping to zeros;
4) a coefficient outside the range seen in `fit` is clamped to it (bounded error) instead of being dropped;
5) the trailing run of zero coefficients is not encoded (decode pads with zeros, as FAST's decode does):
   ~1 token shorter and ~1.4x faster BPE; the price is that a truncated stream cannot be told from a
   short one (decode still returns the right shape; `info["ok"]` flags unknown ids and over-long streams).
Measured against the reference algorithm at equal settings (scale 10, vocab 1024; bench/fast_bench.py): 4% fewer
tokens, the same reconstruction error, and a corrupted stream (1-3 dropped / inserted / swapped tokens) always
decodes, to about half the reference's error, where the reference's decode fails 83% of the time. Encode is ~9x
the reference's speed batched and ~2.5-2.8x single (11.0k vs 1.2k chunks/s batched on 2 shared cores): the BPE is
handed the zero runs already merged, which gives the same ids from ~5.6x fewer symbols (_build_encoder).

    tok = ActionTokenizer(scale=channel_scale()).fit(synthetic_chunks(2000, seed=0))
    ids = tok(chunk)                    # list[int]; a (B, T, D) batch gives list[list[int]]
    actions = tok.decode(ids)           # (T, D) float32 in pixels / 0-1
    text = tok.to_lm_tokens(ids)        # "<act_12><act_7>..." for a language model's added tokens
    tok.save("runs/fast"); tok = ActionTokenizer.load("runs/fast")

Also here: `generate_session` / `synthetic_chunks` (human-like synthetic sessions), `load_trajectory` (recorded
CSV / JSONL -> 50 Hz), `NaiveBinTokenizer` (the 256-bin baseline) and the tasks `TASKS = {"coords", "coords-box",
"coords-image", "actions"}` (README task protocol): click a UI element given a textual accessibility tree with each
element's clickable point (`coords`), with boxes only (`coords-box`: the midpoint is computed), or a rendered
224x168 screenshot (`coords-image`, 48 image tokens: the VLM path, `python sft.py --task coords-image` builds a tiny
Qwen2.5-VL), and emit a chunk of FAST tokens.

Benchmark: `python bench/fast_bench.py`. Tests: `python -m pytest -q tests/test_action_tokenizer.py`.
"""
import csv
import functools
import json
import os
import re

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tokenizers import Tokenizer, models, trainers

FPS = 50
T = 50                                   # frames per chunk (1 s)
SCREEN_W, SCREEN_H = 1920, 1080
KEYS = "abcdefghijklmnopqrstuvwxyz"
CHANNELS = ["x", "y", "click"] + [f"key_{k}" for k in KEYS]
D = len(CHANNELS)                        # 29
BINARY = np.arange(D) >= 2               # click + keys are 0/1 channels
VALID_LO = np.zeros(D)
VALID_HI = np.array([SCREEN_W - 1, SCREEN_H - 1] + [1] * (D - 2), dtype=np.float64)
SYMBOL_BASE = 0xE000                     # Unicode private-use area: 6,400 code points, never normalised away
SYMBOL_CAPACITY = 0xF8FF - 0xE000 + 1
ZERO_BLOCK_BASE = 0xF0000                # plane-15 private use: one symbol per length of merged zeros, encode-internal


# ---------------------------------------------------------------- codec pieces (pure numpy)

def dct_matrix(n):
    """Orthonormal DCT-II matrix C (n x n): coeffs = C @ signal, signal = C.T @ coeffs."""
    k = np.arange(n)[:, None]
    t = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (t + 0.5) * k / n)
    c[0] /= np.sqrt(2.0)
    return c


def channel_scale(xy=50.0, binary=5.0):
    """Per-channel scale vector: fine quantisation for the cursor, coarse for 0/1 channels (DESIGN.md)."""
    return np.where(BINARY, binary, xy).astype(np.float64)


def fit_bounds(chunks, q=(1.0, 99.0)):
    """Per-channel 1st/99th percentile bounds. A degenerate channel (e.g. a key pressed in <1% of frames
    has both percentiles at 0) falls back to its valid range, else normalising would divide by ~0."""
    flat = np.asarray(chunks, dtype=np.float64).reshape(-1, D)
    lo, hi = np.percentile(flat, q, axis=0)
    degenerate = (hi - lo) < 1e-3 * (VALID_HI - VALID_LO)
    return np.where(degenerate, VALID_LO, lo), np.where(degenerate, VALID_HI, hi)


def normalize(actions, lo, hi):
    return 2.0 * (actions - lo) / (hi - lo) - 1.0


def denormalize(x, lo, hi):
    return (x + 1.0) / 2.0 * (hi - lo) + lo


def clip_actions(actions):
    """Clip to the screen, threshold binary channels at 0.5; the last axis is the channel."""
    out = np.clip(actions, VALID_LO, VALID_HI)
    out[..., BINARY] = (out[..., BINARY] > 0.5)
    return out.astype(np.float32)


def _as_batch(actions, name="actions"):
    """(T, D) or (B, T, D) -> ((B, T, D) float64, was_single); clear errors for anything else."""
    a = np.asarray(actions, dtype=np.float64)
    if a.ndim not in (2, 3) or a.shape[-1] != D:
        raise ValueError(f"{name} must have shape (T, {D}) or (B, T, {D}); got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return (a[None], True) if a.ndim == 2 else (a, False)


class ActionTokenizer:
    """FAST: DCT + scale/round + one-symbol-per-coefficient BPE. See the module docstring."""

    def __init__(self, scale=10.0, vocab_size=1024, chunk_len=T):
        self.scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (D,)).copy()
        if (self.scale <= 0).any():
            raise ValueError(f"scale must be positive, got {scale}")
        self.vocab_size = int(vocab_size)
        self.chunk_len = int(chunk_len)
        if self.chunk_len < 2:      # _strings relies on it (a zero run never reaches the end of a kept row)
            raise ValueError(f"chunk_len must be at least 2 frames, got {chunk_len}")
        self.dct = dct_matrix(self.chunk_len)
        self.lo = self.hi = None          # normalisation bounds, set by fit / load
        self.vmin = self.vmax = None      # range of coefficient integers with a symbol
        self.bpe = None

    # -- numeric path, batched: one (broadcast) matmul for the whole batch
    def _coeffs(self, actions):
        """(B, T, D) raw actions -> (B, T, D) rounded, scaled DCT coefficients (int64)."""
        # normalize() is affine per channel, x = g * a + o, and the DCT is linear with C @ 1 = sqrt(T) e_0, so
        # C @ x = g * (C @ a) + o * sqrt(T) on coefficient 0 only: one pass over the data instead of four.
        g = 2.0 / (self.hi - self.lo)
        o = -2.0 * self.lo / (self.hi - self.lo) - 1.0
        c = np.matmul(self.dct, actions)                                           # (T, T) @ (B, T, D)
        c *= g * self.scale
        c[:, 0] += o * np.sqrt(self.chunk_len) * self.scale
        return np.rint(c).astype(np.int64)

    def _normalized_from_coeffs(self, q):
        """(B, T, D) integer coefficients -> (B, T, D) normalised actions (before clipping)."""
        return np.matmul(self.dct.T, q / self.scale)

    def _strings(self, q, zero_blocks=True):
        """(B, T, D) ints -> B symbol strings, flattened low frequency first: row k of (T, D) is coefficient k
        of every channel, so a row-major flatten is exactly that order. The trailing run of zeros is cut
        (decode pads with zeros anyway); coefficient 0 of every channel is always kept. zero_blocks spells every
        other run of zeros as its zero blocks, the input of self._bpe_blocks (see _build_encoder); fit trains on
        plain symbols."""
        q = np.clip(q, self.vmin, self.vmax).reshape(q.shape[0], -1)              # (B, T*D)
        b, n = q.shape
        nonzero = q != 0
        last = n - np.argmax(nonzero[:, ::-1], axis=1)                             # 1 + last non-zero index
        keep = np.maximum(np.where(nonzero.any(axis=1), last, 0), D)
        if not zero_blocks:
            s = (SYMBOL_BASE - self.vmin + q).astype("<u4").tobytes().decode("utf-32-le")   # one vectorised string
            return [s[i * n:i * n + k] for i, k in enumerate(keep.tolist())]
        kept = np.arange(n) < keep[:, None]
        # +1 / -1 where a zero run of the kept part starts / ends (no run reaches a row's end, so none spans two
        # rows: a kept row ends non-zero, or at D < n)
        in_run = np.zeros(b * n + 2, dtype=np.int8)
        in_run[1:-1] = (~nonzero & kept).ravel()
        edge = in_run[1:] - in_run[:-1]
        item = np.flatnonzero((nonzero & kept).ravel() | (edge[:-1] == 1))       # kept non-zeros and run starts
        key = q.ravel()[item] - self.vmin                                          # a symbol's piece: its index
        run = in_run[item + 1] == 1
        key[run] = self._n_symbols + np.flatnonzero(edge == -1) - item[run]       # a run's: n_symbols + length
        for k in np.unique(key[self._piece_len[key] == 0]).tolist():              # run lengths not seen before
            self._add_run_piece(k - self._n_symbols)
        lens = self._piece_len[key]
        end = lens.cumsum()                                                        # output end of every item
        out = self._piece_codes[np.repeat(self._piece_start[key] - end + lens, lens) + np.arange(end[-1])]
        s = out.tobytes().decode("utf-32-le")
        bounds = [0] + end[np.searchsorted(item, np.arange(1, b + 1) * n) - 1].tolist()   # rows are never empty
        return [s[i:j] for i, j in zip(bounds[:-1], bounds[1:])]

    # -- fit / encode / decode
    def fit(self, chunks):
        """Fit normalisation bounds, the symbol alphabet and the BPE on training chunks (B, T, D)."""
        a, _ = _as_batch(chunks, "chunks")
        if a.shape[1] != self.chunk_len:
            raise ValueError(f"chunks have {a.shape[1]} frames, tokenizer expects chunk_len={self.chunk_len}")
        self.lo, self.hi = fit_bounds(a)
        q = self._coeffs(a)
        self.vmin, self.vmax = int(q.min()), int(q.max())
        n_symbols = self.vmax - self.vmin + 1
        if n_symbols > min(self.vocab_size, SYMBOL_CAPACITY):
            raise ValueError(f"the coefficients span {n_symbols} integer values at this scale but vocab_size is "
                             f"{self.vocab_size}: raise vocab_size or lower scale")
        alphabet = [chr(SYMBOL_BASE + i) for i in range(n_symbols)]
        # No pre-tokenizer: a whole chunk is one "word", so merges may span channels and coefficients.
        self.bpe = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, initial_alphabet=alphabet, show_progress=False)
        self.bpe.train_from_iterator(self._strings(q, zero_blocks=False), trainer)
        self._build_decode_table()
        self._build_encoder()
        return self

    def _build_decode_table(self):
        """id -> the coefficient integers its symbols stand for, as one flat array + start/length per id."""
        vocab = sorted(self.bpe.get_vocab().items(), key=lambda kv: kv[1])
        assert [i for _, i in vocab] == list(range(len(vocab))), "BPE ids are not contiguous"
        values = [np.array([ord(ch) - SYMBOL_BASE + self.vmin for ch in s], dtype=np.int64) for s, _ in vocab]
        self._tok_len = np.array([len(v) for v in values])
        self._tok_start = np.concatenate([[0], np.cumsum(self._tok_len)[:-1]])
        self._tok_values = np.concatenate(values)

    def _build_encoder(self):
        """The encode-side BPE: exactly self.bpe's ids, from strings whose zero runs come already merged. Most
        coefficients are 0 (the BPE input is ~5.6x shorter on the bench's test chunks) and BPE time grows with
        the number of symbols, so encode is several times faster.
        Why it is exact: let s be the rank of the first merge joining a block of zeros with anything else. Below s
        a merge joins two zero blocks or touches none; and when each token is made by one merge, ranked before
        every merge using it (checked; else nothing is pre-merged), no merge from s on can make a pair ranked
        below s. So the zero-block merges below s act inside each zero run alone, and BPE = (every run through
        them) then (all other merges, in rank order). The first part depends only on the run length
        (_add_run_piece runs a BPE of those merges); each block it yields is one symbol (_block_symbol) of the
        second BPE, whose vocab and other merges are self.bpe's, re-spelt. The tests compare the ids."""
        model = json.loads(self.bpe.to_str())["model"]
        vocab, merges = model["vocab"], [tuple(m) for m in model["merges"]]
        self._zero = chr(SYMBOL_BASE - self.vmin)
        zeros = lambda t: t == self._zero * len(t)
        made, ok = {t for t in vocab if len(t) == 1}, True
        for a, b in merges:
            ok &= a in made and b in made and a + b not in made
            made.add(a + b)
        s = next((r for r, (a, b) in enumerate(merges) if zeros(a) != zeros(b)), len(merges))
        pre = [(a, b) for a, b in merges[:s] if zeros(a)] if ok else []
        self._bpe_zeros = models.BPE(vocab={self._zero: 0, **{a + b: i + 1 for i, (a, b) in enumerate(pre)}},
                                     merges=pre)
        # What _strings writes per piece: symbol index i -> its symbol; n_symbols + N -> the blocks of a run of N
        # zeros (filled on first use by _add_run_piece: tabulating every N up front would add ~0.5 s to load).
        self._n_symbols = self.vmax - self.vmin + 1
        self._piece_len = np.zeros(self._n_symbols + self.chunk_len * D + 1, dtype=np.int64)
        self._piece_start = np.zeros_like(self._piece_len)
        self._piece_len[:self._n_symbols], self._piece_start[:self._n_symbols] = 1, np.arange(self._n_symbols)
        self._piece_codes = (SYMBOL_BASE + np.arange(self._n_symbols)).astype("<u4")
        spell = {t: t for t in vocab}
        spell.update({a + b: self._block_symbol(len(a + b)) for a, b in pre})
        pre_merged = set(pre)
        rest = [m for m in merges if m not in pre_merged]
        for a, b in rest:
            spell[a + b] = spell[a] + spell[b]
        # no word cache: it saves nothing on fresh chunks, and the bench re-encodes its chunks (so would time look-ups)
        self._bpe_blocks = Tokenizer(models.BPE(vocab={spell[t]: i for t, i in vocab.items()},
                                                merges=[(spell[a], spell[b]) for a, b in rest], cache_capacity=0))

    def _block_symbol(self, n_zeros):
        return self._zero if n_zeros == 1 else chr(ZERO_BLOCK_BASE + n_zeros)

    def _add_run_piece(self, n_zeros):
        """Tabulate the blocks a run of n_zeros zeros becomes under the pre-merged merges."""
        blocks = [ord(self._block_symbol(len(t.value))) for t in self._bpe_zeros.tokenize(self._zero * n_zeros)]
        k = self._n_symbols + n_zeros
        self._piece_len[k], self._piece_start[k] = len(blocks), len(self._piece_codes)
        self._piece_codes = np.concatenate([self._piece_codes, np.array(blocks, dtype="<u4")])

    def _check_fitted(self):
        if self.bpe is None:
            raise RuntimeError("ActionTokenizer is not fitted: call fit(chunks) or ActionTokenizer.load(dir)")

    def encode(self, actions):
        """(T, D) chunk -> list[int]; (B, T, D) batch -> list[list[int]]."""
        self._check_fitted()
        a, single = _as_batch(actions)
        if a.shape[1] != self.chunk_len:
            raise ValueError(f"actions have {a.shape[1]} frames, tokenizer expects chunk_len={self.chunk_len}")
        strings = self._strings(self._coeffs(a))
        if single:   # the bare BPE model skips the pipeline's per-byte alignment bookkeeping: ~2x faster
            return [t.id for t in self._bpe_blocks.model.tokenize(strings[0])]
        return [e.ids for e in self._bpe_blocks.encode_batch_fast(strings, add_special_tokens=False)]   # threads

    __call__ = encode

    def decode(self, tokens, prev_action=None, return_info=False):
        """Token ids (list[int]) -> (T, D) actions; a list of lists -> (B, T, D). Never raises on a malformed
        stream: unknown ids are skipped, the coefficients are padded with zeros or truncated to T*D, and a
        channel whose coefficient 0 is missing holds `prev_action` ((D,) or (B, D); else it decodes to the
        middle of its range, buttons released). return_info adds per stream "unknown" (ids skipped), "n_coeffs"
        (coefficients recovered) and "ok" (no unknown id, every coefficient 0 present, not over-long)."""
        self._check_fitted()
        single = len(tokens) == 0 or np.isscalar(tokens[0])
        streams = [tokens] if single else tokens
        q, info = self._coeffs_from_ids(streams)
        x = self._normalized_from_coeffs(q)                                         # (B, T, D)
        actions = denormalize(x, self.lo, self.hi)
        missing = np.arange(D)[None, :] >= info["n_coeffs"][:, None]                # (B, D) channel lacks coeff 0
        if prev_action is not None and np.shape(prev_action) not in ((D,), (len(streams), D)):
            raise ValueError(f"prev_action must have shape ({D},) or ({len(streams)}, {D}); got {np.shape(prev_action)}")
        if missing.any():
            hold = np.asarray(prev_action, dtype=np.float64) if prev_action is not None else (self.lo + self.hi) / 2
            hold = np.broadcast_to(hold, (len(streams), D))
            actions = np.where(missing[:, None, :], hold[:, None, :], actions)
        actions = clip_actions(actions)
        if single:
            actions, info = actions[0], {k: v[0] for k, v in info.items()}
        return (actions, info) if return_info else actions

    def _coeffs_from_ids(self, streams):
        """Vectorised id -> integer lookup over the whole batch, then pad/truncate each stream to T*D."""
        n, v = self.chunk_len * D, len(self._tok_len)
        b = len(streams)
        ids = np.concatenate([np.asarray(s, dtype=np.int64).ravel() for s in streams] + [np.zeros(0, np.int64)])
        owner = np.repeat(np.arange(b), [len(s) for s in streams])
        known = (ids >= 0) & (ids < v)
        unknown = np.bincount(owner[~known], minlength=b)
        ids, owner = ids[known], owner[known]
        lens = self._tok_len[ids]
        total = int(lens.sum())
        # position of every symbol in the flat value table: token start + offset inside the token
        within = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        vals = self._tok_values[np.repeat(self._tok_start[ids], lens) + within]
        val_owner = np.repeat(owner, lens)
        n_coeffs = np.bincount(val_owner, minlength=b)
        pos = np.arange(total) - np.repeat(np.cumsum(n_coeffs) - n_coeffs, n_coeffs)   # index inside its stream
        keep = pos < n
        q = np.zeros((b, n), dtype=np.int64)
        q[val_owner[keep], pos[keep]] = vals[keep]
        info = {"unknown": unknown, "n_coeffs": n_coeffs, "ok": (unknown == 0) & (n_coeffs >= D) & (n_coeffs <= n)}
        return q.reshape(b, self.chunk_len, D), info

    # -- language-model side: the policy emits these strings as added tokens
    def token_strings(self):
        """One added-token string per id, in id order: add them to an LM tokenizer as special tokens."""
        self._check_fitted()
        return [f"<act_{i}>" for i in range(self.bpe.get_vocab_size())]

    def to_lm_tokens(self, ids):
        return "".join(f"<act_{int(i)}>" for i in ids)

    def from_lm_text(self, text):
        """Ids of every <act_N> in text, in order; any other text is ignored."""
        return [int(m) for m in re.findall(r"<act_(\d+)>", text)]

    def __len__(self):
        self._check_fitted()
        return self.bpe.get_vocab_size()

    # -- persistence: JSON config + the tokenizers BPE file
    def save(self, path):
        self._check_fitted()
        os.makedirs(path, exist_ok=True)
        config = {"scale": self.scale.tolist(), "vocab_size": self.vocab_size, "chunk_len": self.chunk_len,
                  "lo": self.lo.tolist(), "hi": self.hi.tolist(), "vmin": self.vmin, "vmax": self.vmax,
                  "channels": CHANNELS, "symbol_base": SYMBOL_BASE}
        with open(os.path.join(path, "action_tokenizer.json"), "w") as f:
            json.dump(config, f, indent=1)
        self.bpe.save(os.path.join(path, "bpe.json"))
        return path

    @classmethod
    def load(cls, path):
        with open(os.path.join(path, "action_tokenizer.json")) as f:
            config = json.load(f)
        if config["channels"] != CHANNELS or config["symbol_base"] != SYMBOL_BASE:
            raise ValueError(f"{path} was saved for channels/symbols this version does not use")
        tok = cls(scale=config["scale"], vocab_size=config["vocab_size"], chunk_len=config["chunk_len"])
        tok.lo, tok.hi = np.array(config["lo"]), np.array(config["hi"])
        tok.vmin, tok.vmax = config["vmin"], config["vmax"]
        tok.bpe = Tokenizer.from_file(os.path.join(path, "bpe.json"))
        tok._build_decode_table()
        tok._build_encoder()
        return tok


class NaiveBinTokenizer:
    """Baseline: every frame x channel becomes one of 256 uniform bins over the normalised [-1, 1]."""

    def __init__(self, bins=256):
        self.bins = bins

    def fit(self, chunks):
        a, _ = _as_batch(chunks, "chunks")
        self.lo, self.hi = fit_bounds(a)
        return self

    def encode(self, actions):
        a, single = _as_batch(actions)
        x = normalize(a, self.lo, self.hi)
        ids = np.clip(np.floor((x + 1) / 2 * self.bins), 0, self.bins - 1).astype(np.int64).reshape(len(a), -1)
        return ids[0].tolist() if single else ids.tolist()

    __call__ = encode

    def decode(self, tokens, chunk_len=T):
        ids = np.asarray(tokens, dtype=np.float64)
        x = (ids.reshape(-1, chunk_len, D) + 0.5) / self.bins * 2 - 1
        out = clip_actions(denormalize(x, self.lo, self.hi))
        return out[0] if ids.ndim == 1 else out


# ---------------------------------------------------------------- synthetic computer-use data

WORDS = ("the and file save open edit view help name date send mail text find word line page copy paste "
         "search report table data query index status update delete create project folder window").split()


def _min_jerk(n):
    """n samples of the minimum-jerk position profile s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5 on (0, 1]."""
    tau = np.arange(1, n + 1) / n
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def _move(rng, start, target, width, slow=1.0, correct=True):
    """Cursor path start -> target: Fitts-law duration (a=100 ms, b=150 ms/bit), cubic Bezier path bowed
    sideways, minimum-jerk speed profile, ~1 px tremor, and sometimes a landing error + corrective submove."""
    dist = np.linalg.norm(target - start)
    if dist < 1:
        return np.zeros((0, 2))
    duration = slow * (0.10 + 0.15 * np.log2(dist / width + 1)) * rng.uniform(0.85, 1.15)
    n = max(2, int(round(duration * FPS)))
    miss = correct and rng.random() < 0.4                   # 40% land off target, then one exact correction
    aim = target + rng.normal(0, width / 3, 2) if miss else target
    d = aim - start
    perp = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-9)
    p1 = start + 0.3 * d + perp * rng.normal(0, 0.08 * dist)
    p2 = start + 0.7 * d + perp * rng.normal(0, 0.05 * dist)
    s = _min_jerk(n)[:, None]
    path = (1 - s)**3 * start + 3 * (1 - s)**2 * s * p1 + 3 * (1 - s) * s**2 * p2 + s**3 * aim
    tremor = np.cumsum(rng.normal(0, 0.5, (n, 2)), axis=0) * 0.3 * np.sin(np.pi * np.arange(1, n + 1) / n)[:, None]
    path = path + tremor
    path[-1] = aim
    if miss:
        path = np.concatenate([path, _move(rng, aim, target, width, slow, correct=False)])
    return path


def generate_session(seconds, seed=0):
    """A synthetic 50 Hz session (frames, D) of a person using a 1920x1080 screen: pointing (+ clicks,
    double clicks), drags, typing bursts and idle periods. Deterministic per seed; cursor in integer pixels."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * FPS))
    frames, total = [], 0
    pos = rng.uniform([0, 0], [SCREEN_W - 1, SCREEN_H - 1])

    def emit(xy, click=0, keys=None):
        """Append frames with cursor path xy (k, 2), a click level and a (k, 26) key array."""
        nonlocal total
        k = len(xy)
        total += k
        f = np.zeros((k, D))
        f[:, :2] = xy
        f[:, 2] = click
        if keys is not None:
            f[:, 3:] = keys
        frames.append(f)

    def hold(k, click=0):
        emit(np.repeat(pos[None], k, axis=0), click)

    while total < n:
        kind = rng.choice(["point_click", "point", "drag", "type", "idle"], p=[0.4, 0.2, 0.1, 0.12, 0.18])
        if kind in ("point_click", "point", "drag"):
            width = rng.uniform(16, 120)                     # target size in pixels
            target = rng.uniform([width / 2, width / 2], [SCREEN_W - width / 2, SCREEN_H - width / 2])
            if kind == "drag":
                hold(int(rng.integers(2, 6)), click=1)     # press before moving
            path = np.clip(_move(rng, pos, target, width, slow=1.3 if kind == "drag" else 1.0),
                           0, [SCREEN_W - 1, SCREEN_H - 1])
            emit(path, click=1 if kind == "drag" else 0)
            pos = path[-1] if len(path) else pos
            if kind == "drag":
                hold(int(rng.integers(2, 6)), click=1)
            hold(int(rng.integers(2, 12)))                   # reaction time before the click
            if kind == "point_click":
                for _ in range(2 if rng.random() < 0.15 else 1):  # 15% double clicks
                    hold(int(rng.integers(3, 8)), click=1)        # button held 60-140 ms
                    hold(int(rng.integers(4, 8)))
        elif kind == "type":
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4))))
            onsets, t = [], 0
            for ch in text:
                if ch == " ":
                    t += int(rng.integers(6, 15))            # word gap: the space bar is not a channel
                    continue
                onsets.append((t, KEYS.index(ch), int(rng.integers(4, 8))))   # key held 80-140 ms
                t += int(rng.integers(5, 12))                # next key 100-220 ms later (rollover possible)
            keys = np.zeros((t + 8, 26))
            for start, key, dur in onsets:
                keys[start:start + dur, key] = 1
            emit(np.repeat(pos[None], len(keys), axis=0), keys=keys)
        else:
            hold(int(rng.integers(10, 100)))
    out = np.concatenate(frames)[:n]
    out[:, :2] = np.rint(out[:, :2])                         # a real mouse reports integer pixels
    return out.astype(np.float32)


def chunk_actions(actions, chunk_len=T):
    """(frames, D) -> (frames // chunk_len, chunk_len, D); an incomplete tail is dropped."""
    m = len(actions) // chunk_len
    return np.asarray(actions[:m * chunk_len]).reshape(m, chunk_len, D)


def synthetic_chunks(n, seed=0):
    """n consecutive 1-s chunks of one synthetic session (chunk edges cut through motions, as in real use)."""
    return chunk_actions(generate_session(n * T / FPS, seed))


def chunk_kind(chunk):
    """'typing' | 'click' | 'move' | 'idle' for a (T, D) chunk (used to report token counts per kind)."""
    if chunk[:, 3:].any():
        return "typing"
    if chunk[:, 2].any():
        return "click"
    return "move" if np.ptp(chunk[:, :2], axis=0).max() > 0 else "idle"


# ---------------------------------------------------------------- recorded trajectories

def _parse_row(row, where):
    """One record {time, x, y, buttons, keys} -> (t, frame (D,)) with errors naming file:line."""
    missing = [k for k in ("time", "x", "y", "buttons", "keys") if k not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    try:
        t, x, y = float(row["time"]), float(row["x"]), float(row["y"])
        buttons = int(row["buttons"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: time, x, y must be numbers and buttons an integer bitmask; got "
                         f"time={row['time']!r} x={row['x']!r} y={row['y']!r} buttons={row['buttons']!r}") from None
    if not all(np.isfinite([t, x, y])):
        raise ValueError(f"{where}: time, x, y must be finite")
    if not (0 <= x <= SCREEN_W - 1 and 0 <= y <= SCREEN_H - 1):
        raise ValueError(f"{where}: cursor ({x}, {y}) is off the {SCREEN_W}x{SCREEN_H} screen")
    if buttons < 0:
        raise ValueError(f"{where}: buttons must be a non-negative bitmask, got {buttons}")
    keys = row["keys"] if row["keys"] is not None else ""
    keys = "".join(keys) if isinstance(keys, list) else str(keys)
    bad = sorted(set(keys) - set(KEYS))
    if bad:
        raise ValueError(f"{where}: keys may only hold the letters a-z, got {bad}")
    frame = np.zeros(D)
    frame[:3] = x, y, buttons & 1                            # click channel = left button (bit 0)
    for k in keys:
        frame[3 + KEYS.index(k)] = 1
    return t, frame


def load_trajectory(path):
    """Read a recorded trajectory (.csv with header time,x,y,buttons,keys or .jsonl with those fields; time in
    seconds, strictly increasing; keys a string of held letters like "ab") and resample it to 50 Hz:
    cursor linearly interpolated, buttons and keys held from the last event. Returns (frames, D)."""
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            records = [(f"{path}:{i + 2}", row) for i, row in enumerate(csv.DictReader(f))]
    elif path.endswith(".jsonl"):
        records = []
        with open(path) as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{i}: invalid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
                records.append((f"{path}:{i}", row))
    else:
        raise ValueError(f"{path}: unsupported trajectory format (use .csv or .jsonl)")
    if len(records) < 2:
        raise ValueError(f"{path}: need at least 2 records, found {len(records)}")
    times, frames = [], []
    for where, row in records:
        t, frame = _parse_row(row, where)
        if times and t <= times[-1]:
            raise ValueError(f"{where}: time {t} is not after the previous record's {times[-1]}")
        times.append(t)
        frames.append(frame)
    times, frames = np.array(times), np.array(frames)
    grid = np.arange(times[0], times[-1] + 1e-9, 1.0 / FPS)
    out = np.empty((len(grid), D), dtype=np.float32)
    out[:, 0] = np.interp(grid, times, frames[:, 0])
    out[:, 1] = np.interp(grid, times, frames[:, 1])
    last = np.searchsorted(times, grid + 1e-9, side="right") - 1   # most recent event at or before each tick
    out[:, 2:] = frames[last, 2:]
    return out


# ---------------------------------------------------------------- tasks (README task protocol)
# All are one-turn "reprompt" tasks. Splits never overlap: labels (coords) and words (actions) are
# partitioned by split, and every example's generator is seeded by (task, split, seed, index).

SPLITS = ("train", "val", "test")


def _split_of(i):
    """Deterministic 3:1:1 partition of a word list by index."""
    return "test" if i % 5 == 0 else "val" if i % 5 == 1 else "train"


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


UI_LABELS = ("Save Open Close Print Export Import Undo Redo Cut Copy Paste Delete Rename Share Upload Download "
             "Search Filter Sort Refresh Settings Help About Login Logout Submit Cancel Apply Reset Next Back "
             "Home Profile Inbox Send Reply Forward Archive Trash Calendar Contacts Notes Music Photos Videos "
             "Files Folder Zoom Crop Rotate Bold Italic Underline Font Color Insert Table Chart Image Link Comment "
             "Review Merge Split Lock Unlock Pin Star Flag Mute Play Pause Stop Record Edit View Window Tools "
             "Account Billing Support Feedback Update Install Remove Connect").split()
ROLES = ("button", "field", "icon")
ROLE_SIZE = {"button": ((70, 160), (28, 40)), "field": ((160, 420), (28, 36)), "icon": ((24, 48), (24, 48))}
COORDS_FAMILIES = {"button": "easy", "field": "medium", "icon": "hard"}   # icons are small targets
POINT_RE = re.compile(r"^\s*<point>\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*</point>\s*$")

# coords-image: screenshots of 224x168 px, multiples of the Qwen2-VL image processor's 28 px (patch 14 x merge 2),
# so it never resizes them (pixel coordinates stay exact) and a screenshot is 8 x 6 = 48 image tokens.
SHOT_W, SHOT_H = 224, 168
IMAGE = "<image>"   # vlm.IMAGE: the stage scripts replace it with the screenshot's image tokens
UI_THEMES = {   # button fills come with their text colour
    "light": {"background": (243, 244, 246), "text": (25, 25, 25), "field": (255, 255, 255), "border": (150, 150, 155),
              "hint": (105, 105, 110), "radius": 3,
              "buttons": [((37, 99, 235), (255, 255, 255)), ((22, 163, 74), (255, 255, 255)), ((220, 220, 225), (20, 20, 20))]},
    "dark": {"background": (30, 31, 34), "text": (232, 232, 232), "field": (45, 46, 50), "border": (120, 120, 125),
             "hint": (175, 175, 175), "radius": 3,
             "buttons": [((59, 130, 246), (255, 255, 255)), ((34, 197, 94), (10, 10, 10)), ((70, 72, 78), (240, 240, 240))]},
    "classic": {"background": (212, 208, 200), "text": (0, 0, 0), "field": (255, 255, 255), "border": (64, 64, 64),
                "hint": (90, 90, 90), "radius": 0,
                "buttons": [((192, 192, 192), (0, 0, 0)), ((0, 0, 128), (255, 255, 255))]},
}
ICON_COLOURS = [(239, 68, 68), (245, 158, 11), (16, 185, 129), (59, 130, 246), (139, 92, 246), (236, 72, 153)]
ICON_SHAPES = ("square", "circle", "diamond")


@functools.lru_cache(maxsize=None)
def _ui_font(size):
    """DejaVu Sans (shipped with matplotlib, so every machine renders the same pixels) at `size` px."""
    import matplotlib
    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)


def _text_size(text, size):
    """(width, height, left) of text's line in the UI font: width from the ink's or pen's leftmost point (`left`,
    <= 0: a "T" overhangs the pen by 1 px) to the rightmost, height ascender + descender."""
    font = _ui_font(size)
    ascent, descent = font.getmetrics()
    ink_left, _, ink_right, _ = font.getbbox(text) if text else (0, 0, 0, 0)
    left = min(ink_left, 0)
    return max(int(np.ceil(font.getlength(text))), ink_right) - left, ascent + descent, left


def _box_distance(x, y, box):
    """Distance in pixels from (x, y) to the box [x0, y0, x1, y1]; 0 inside."""
    x0, y0, x1, y1 = box
    return float(np.hypot(max(x0 - x, 0, x - x1), max(y0 - y, 0, y - y1)))


def clickable_point(box):
    """The point a click on an element goes to: its box's centre (integer pixels)."""
    x0, y0, x1, y1 = box
    return (x0 + x1) // 2, (y0 + y1) // 2


class CoordsEpisode:
    def __init__(self, task, example):
        self.task, self.example, self.completion, self.done = task, example, None, False

    def observation(self):
        ex, task = self.example, self.task
        if task.image:
            lines = [f'<screen width="{task.width}" height="{task.height}">{IMAGE}</screen>']
        else:
            lines = [f'<screen width="{SCREEN_W}" height="{SCREEN_H}">']
            lines += [f'{e["role"]} "{e["label"]}" [{", ".join(str(v) for v in e["box"])}]'
                      + (" point ({}, {})".format(*clickable_point(e["box"])) if task.point else "") for e in ex["elements"]]
            lines += ["</screen>"]
        return "\n".join(lines + [f"<instruction>{ex['instruction']}</instruction>", ""])

    def images(self):
        return [self.task.render(self.example)] if self.task.image else []

    def step(self, completion):
        if self.done:
            raise RuntimeError("step() after the episode ended")
        self.completion, self.done = completion, True
        return "", True

    def _point(self):
        m = POINT_RE.match(self.completion or "")
        return (float(m.group(1)), float(m.group(2))) if m else None

    def reward(self):
        """0.9 x location + 0.1 x format. location: 1 inside the target box, else 0.5 * exp(-distance / decay),
        decay = 100 px on the 1920 px screen, scaled with the screen width (11.7 px on a 224 px screenshot);
        unparseable answers score 0 overall."""
        p = self._point()
        if p is None:
            return 0.0, {"success": 0.0, "location": 0.0, "format": 0.0, "distance_px": -1.0}
        d = _box_distance(*p, self.example["target"])
        location = 1.0 if d == 0 else 0.5 * float(np.exp(-d / (100 * self.task.width / SCREEN_W)))
        return 0.9 * location + 0.1, {"success": float(d == 0), "location": location, "format": 1.0, "distance_px": d}

    def answer(self):
        p = self._point()
        return None if p is None else f"{p[0]:g}, {p[1]:g}"

    def info(self):
        return {"completion": self.completion, "target": self.example["target"], "point": self._point()}

    def close(self):
        pass


class CoordsTask:
    """Click a UI element named in an instruction; answer <point>x, y</point> in the screen's pixels.
    `coords` shows a 1920x1080 screen as a textual accessibility tree (role "label" [x0, y0, x1, y1] and each
    element's clickable point, as UI Automation reports one: finding the element is the task); `coords-box`
    the same tree without the points (the answer needs the box's midpoint computed from four-digit numbers:
    a 25M char model from scratch learned 0.7% of it in 720 SFT steps on the GPU);
    `coords-image` (image=True) a rendered 224x168 screenshot of 3-6 buttons, fields (label as placeholder) and
    icons (glyph, caption below) in one of UI_THEMES, with font size, paddings and colours drawn per example.
    A box [x0, y0, x1, y1] is inclusive: all an element draws (label included) lies in it, and the reward counts
    every pixel of it as a hit."""
    style = "reprompt"
    special_tokens = ["<point>", "</point>"]
    stop_tokens = ["</point>"]
    max_turns = 1
    max_new_tokens = 24
    labels = {s: [w for i, w in enumerate(UI_LABELS) if _split_of(i) == s] for s in SPLITS}

    def __init__(self, image=False, point=False):
        self.image, self.point = image, point
        self.name = "coords-image" if image else "coords" if point else "coords-box"
        self.width, self.height = (SHOT_W, SHOT_H) if image else (SCREEN_W, SCREEN_H)

    def _size(self, rng, role, label, style):
        """(w, h) of an element's box, in pixels; a screenshot's boxes fit their drawn label."""
        if not self.image:
            (w_lo, w_hi), (h_lo, h_hi) = ROLE_SIZE[role]
            return int(rng.integers(w_lo, w_hi + 1)), int(rng.integers(h_lo, h_hi + 1))
        size = style["font_size"]
        tw, th, _ = _text_size(label, size)
        if role == "button":
            return tw + 2 * int(rng.integers(4, 11)), th + int(rng.integers(3, 9))
        if role == "field":
            return max(tw + 10, int(rng.integers(70, 121))), th + int(rng.integers(3, 7))
        glyph = int(rng.integers(12, 19))                    # icon: glyph, 2 px, caption one size smaller
        cw, ch, _ = _text_size(label, size - 1)
        return max(glyph, cw), glyph + 2 + ch

    def examples(self, split, n, seed=0):
        _check_split(split)
        w_screen, h_screen = self.width, self.height
        n_lo, n_hi, gap, edge = (3, 7, 4, 2) if self.image else (4, 12, 8, 0)
        out = []
        for i in range(n):
            rng = np.random.default_rng([int(self.image), SPLITS.index(split), seed, i])   # one stream per variant
            style = None
            if self.image:
                theme = str(rng.choice(list(UI_THEMES)))
                style = {"theme": theme, "font_size": int(rng.integers(9, 12))}
            role = ROLES[i % len(ROLES)]
            n_elements = int(rng.integers(n_lo, n_hi))
            labels = rng.choice(self.labels[split], size=n_elements, replace=False).tolist()
            elements, boxes = [], []
            for j, label in enumerate(labels):
                r = role if j == 0 else ROLES[int(rng.integers(len(ROLES)))]
                for _ in range(100):   # rejection-sample a non-overlapping box (`gap` px margin); the target comes
                                       # first, so it is always placed
                    w, h = self._size(rng, r, label, style)
                    x0, y0 = int(rng.integers(edge, w_screen - w - edge)), int(rng.integers(edge, h_screen - h - edge))
                    box = [x0, y0, x0 + w, y0 + h]
                    if all(box[0] > b[2] + gap or box[2] < b[0] - gap or box[1] > b[3] + gap or box[3] < b[1] - gap
                           for b in boxes):
                        break
                else:
                    continue
                boxes.append(box)
                element = {"role": r, "label": label, "box": box}
                if self.image:   # what to draw it with
                    if r == "button":
                        element["colours"] = int(rng.integers(len(UI_THEMES[theme]["buttons"])))
                    elif r == "icon":
                        element["shape"] = str(rng.choice(ICON_SHAPES))
                        element["colour"] = int(rng.integers(len(ICON_COLOURS)))
                        element["glyph"] = h - 2 - _text_size(label, style["font_size"] - 1)[1]
                elements.append(element)
            target = elements[0]
            order = rng.permutation(len(elements))
            example = {"id": f"{self.name}-{split}-{seed}-{i}", "family": role, "difficulty": COORDS_FAMILIES[role],
                       "split": split, "elements": [elements[k] for k in order], "target": target["box"],
                       "instruction": f"Click the {target['label']} {role}."}
            if self.image:
                example["style"] = style
            out.append(example)
        return out

    def render(self, example):
        """The example's screenshot, HxWx3 uint8 (deterministic)."""
        theme, size = UI_THEMES[example["style"]["theme"]], example["style"]["font_size"]
        img = Image.new("RGB", (self.width, self.height), theme["background"])
        draw = ImageDraw.Draw(img)
        for e in example["elements"]:
            x0, y0, x1, y1 = e["box"]
            if e["role"] == "button":
                fill, ink = theme["buttons"][e["colours"]]
                draw.rounded_rectangle(e["box"], radius=theme["radius"], fill=fill)
                draw.text(((x0 + x1) // 2, (y0 + y1 + 1) // 2), e["label"], fill=ink, font=_ui_font(size), anchor="mm")
            elif e["role"] == "field":   # an empty text box whose placeholder is its label
                draw.rectangle(e["box"], fill=theme["field"], outline=theme["border"])
                draw.text((x0 + 5, (y0 + y1 + 1) // 2), e["label"], fill=theme["hint"], font=_ui_font(size), anchor="lm")
            else:
                g, cx = e["glyph"], (x0 + x1) // 2
                glyph = [cx - g // 2, y0, cx - g // 2 + g - 1, y0 + g - 1]
                cw, _, left = _text_size(e["label"], size - 1)
                caption = x0 + (x1 - x0 - cw) // 2 - left   # left-aligned (a centred anchor could round out of the box)
                colour = ICON_COLOURS[e["colour"]]
                if e["shape"] == "square":
                    draw.rounded_rectangle(glyph, radius=3, fill=colour)
                elif e["shape"] == "circle":
                    draw.ellipse(glyph, fill=colour)
                else:
                    m = (glyph[1] + glyph[3]) // 2
                    draw.polygon([(cx, glyph[1]), (glyph[2], m), (cx, glyph[3]), (glyph[0], m)], fill=colour)
                draw.text((caption, y0 + g + 2), e["label"], fill=theme["text"], font=_ui_font(size - 1), anchor="lt")
        return np.asarray(img)

    def reset(self, example):
        return CoordsEpisode(self, example)

    def demo_images(self, example):
        """The images of the demo in the order of its `<image>` placeholders (none for the text variant)."""
        return self.reset(example).images()

    box_classes = ["background", "button", "field", "icon"]

    def image_boxes(self, example):
        """Per image of `reset(example).images()` (the screenshot; none for `coords`): each element's box made
        exclusive (x2, y2 = x1 + 1, y1 + 1), class = its role's index in box_classes. For sft.py's vision warm-up."""
        if not self.image:
            return []
        return [[(x0, y0, x1 + 1, y1 + 1, self.box_classes.index(e["role"]))
                 for e in example["elements"] for x0, y0, x1, y1 in [e["box"]]]]

    def demo(self, example):
        answer = "<point>{}, {}</point>".format(*clickable_point(example["target"]))
        episode = self.reset(example)
        observation = episode.observation()
        episode.step(answer)
        if episode.reward()[1]["success"] != 1.0:
            raise AssertionError(f"demo of {example['id']} misses the target: {answer} vs {example['target']}")
        return [[(observation, False), (answer, True)]]


TYPE_WORDS = ("hello world open save file edit view help name date send mail text find word line page copy "
              "paste query index table data menu exit close print undo redo zoom crop font bold link sort list "
              "note tab yes cancel apply next back home star").split()
ACTION_FAMILIES = {"move_click": "easy", "drag": "medium", "type": "medium"}


def _onsets(chunk, channel):
    return np.flatnonzero(np.diff(np.concatenate([[0], chunk[:, channel] > 0.5]).astype(int)) == 1)


def _typed(chunk):
    """The letters whose key goes down in the chunk, in onset order."""
    events = sorted((t, k) for k in range(26) for t in _onsets(chunk, 3 + k))
    return "".join(KEYS[k] for _, k in events)


def _similarity(a, b):
    """1 - Levenshtein(a, b) / max(len): 1 for equal strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1.0 - prev[-1] / max(len(a), len(b), 1)


def _path_efficiency(xy):
    """Straight-line distance / path length of a cursor path: 1 for a straight, jitter-free movement."""
    length = np.linalg.norm(np.diff(xy, axis=0), axis=1).sum()
    straight = np.linalg.norm(xy[-1] - xy[0])
    return 1.0 if length < 5 else float(straight / length)


class ActionsEpisode:
    def __init__(self, task, example):
        self.task, self.example, self.completion, self.chunk, self.done = task, example, None, None, False

    def observation(self):
        ex = self.example
        return (f'<screen width="{SCREEN_W}" height="{SCREEN_H}">\n<cursor>{ex["start"][0]}, {ex["start"][1]}'
                f"</cursor>\n<instruction>{ex['instruction']}</instruction>\n")

    def step(self, completion):
        if self.done:
            raise RuntimeError("step() after the episode ended")
        self.completion, self.done = completion, True
        tok = self.task.tokenizer
        ids = tok.from_lm_text(completion)
        prev = np.zeros(D)
        prev[:2] = self.example["start"]
        self.chunk, self.decode_info = tok.decode(ids, prev_action=prev, return_info=True)
        self.n_ids = len(ids)
        return "", True

    def reward(self):
        """0.1 x format + 0.9 x a family score in [0, 1] (see _score); 0 when no action token was emitted."""
        text = (self.completion or "").strip()
        well_formed = re.fullmatch(r"<actions>(<act_\d+>)+</actions>", text) is not None
        if self.chunk is None or self.n_ids == 0:
            return 0.0, {"success": 0.0, "format": 0.0, "score": 0.0}
        fmt = float(well_formed and bool(self.decode_info["ok"]))
        score, parts = self._score(self.chunk)
        return 0.1 * fmt + 0.9 * score, {"format": fmt, "score": score, **parts}

    def _score(self, a):
        ex, xy, click = self.example, a[:, :2], a[:, 2] > 0.5
        start, goal = np.array(ex["start"], float), np.array(ex["goal"], float)
        if ex["family"] == "type":
            sim = _similarity(_typed(a), ex["text"])
            still = float(np.ptp(xy, axis=0).max() == 0 and not click.any())
            return 0.8 * sim + 0.2 * still, {"success": float(sim == 1 and still == 1), "typed": sim, "still": still}
        presses = _onsets(a, 2)
        smooth = _path_efficiency(xy)
        if ex["family"] == "move_click":
            # one press, at the goal, released again before the chunk ends
            at = xy[presses[0]] if len(presses) else xy[-1]
            err = float(np.linalg.norm(at - goal))
            click_ok = float(len(presses) == 1 and not click[-1] and err <= 10)
            endpoint = float(np.exp(-err / 30))
            score = 0.5 * endpoint + 0.3 * click_ok + 0.2 * smooth
            return score, {"success": float(click_ok == 1), "endpoint": endpoint, "click": click_ok,
                           "smooth": smooth, "endpoint_px": err}
        # drag: press near the start, hold while moving, release at the goal
        releases = np.flatnonzero(np.diff(click.astype(int)) == -1) + 1
        grab = float(len(presses) == 1 and np.linalg.norm(xy[presses[0]] - start) <= 10) if len(presses) else 0.0
        drop_at = xy[releases[-1]] if len(releases) else xy[-1]
        err = float(np.linalg.norm(drop_at - goal))
        held = float(len(presses) == 1 and len(releases) == 1 and releases[0] > presses[0])
        endpoint = float(np.exp(-err / 30))
        score = 0.25 * grab + 0.35 * endpoint + 0.2 * held + 0.2 * smooth
        return score, {"success": float(grab == 1 and held == 1 and err <= 10), "grab": grab, "endpoint": endpoint,
                       "held": held, "smooth": smooth, "endpoint_px": err}

    def answer(self):
        return self.completion

    def info(self):
        return {"completion": self.completion, "n_action_tokens": self.n_ids,
                "unknown_ids": int(self.decode_info["unknown"]) if self.chunk is not None else 0,
                "typed": _typed(self.chunk) if self.chunk is not None else ""}

    def close(self):
        pass


class ActionsTask:
    """Emit one 1-s chunk of computer actions as FAST tokens: "move to (x, y) and click", "drag the item at
    A onto B", "type 'hello'". The env decodes the tokens (holding the start state on a failed decode)."""
    name = "actions"
    style = "reprompt"
    vocab_size = 1024
    special_tokens = ["<actions>", "</actions>"] + [f"<act_{i}>" for i in range(vocab_size)]
    stop_tokens = ["</actions>"]
    max_turns = 1
    max_new_tokens = 320
    words = {s: [w for i, w in enumerate(TYPE_WORDS) if _split_of(i) == s] for s in SPLITS}

    def __init__(self):
        self._tokenizer = None

    @property
    def tokenizer(self):
        """Fitted on first use (a few seconds) on 1,000 synthetic chunks with the per-channel scale; fixed
        seed, so every process builds the same tokenizer."""
        if self._tokenizer is None:
            self._tokenizer = ActionTokenizer(scale=channel_scale(), vocab_size=self.vocab_size).fit(
                synthetic_chunks(1000, seed=0))
        return self._tokenizer

    def examples(self, split, n, seed=0):
        _check_split(split)
        out = []
        for i in range(n):
            rng = np.random.default_rng([1, SPLITS.index(split), seed, i])       # 1: this task's stream
            family = list(ACTION_FAMILIES)[i % len(ACTION_FAMILIES)]
            start = rng.integers([40, 40], [SCREEN_W - 40, SCREEN_H - 40])
            goal = start.copy()
            while np.linalg.norm(goal - start) < 100:
                goal = rng.integers([40, 40], [SCREEN_W - 40, SCREEN_H - 40])
            ex = {"id": f"actions-{split}-{seed}-{i}", "family": family, "difficulty": ACTION_FAMILIES[family],
                  "split": split, "start": start.tolist(), "goal": goal.tolist(), "text": ""}
            if family == "move_click":
                ex["instruction"] = f"Move to ({goal[0]}, {goal[1]}) and click."
            elif family == "drag":
                ex["instruction"] = f"Drag the item under the cursor onto ({goal[0]}, {goal[1]})."
            else:
                ex["goal"] = ex["start"]
                ex["text"] = str(rng.choice(self.words[split]))
                ex["instruction"] = f"Type '{ex['text']}'."
            ex["seed"] = int(rng.integers(2**31))
            out.append(ex)
        return out

    def reset(self, example):
        return ActionsEpisode(self, example)

    def expert_chunk(self, example):
        """A human-like (T, D) chunk that does what the instruction says (minimum-jerk moves, 80 ms clicks)."""
        rng = np.random.default_rng(example["seed"])
        start, goal = np.array(example["start"], float), np.array(example["goal"], float)
        a = np.zeros((T, D))
        a[:, :2] = start
        if example["family"] == "type":
            for j, ch in enumerate(example["text"]):
                a[2 + 8 * j:2 + 8 * j + 5, 3 + KEYS.index(ch)] = 1       # 100 ms hold, 160 ms apart
            return a
        t0 = 4 if example["family"] == "drag" else 1
        n = min(30, max(10, int(round(FPS * (0.1 + 0.15 * np.log2(np.linalg.norm(goal - start) / 40 + 1))))))
        s = _min_jerk(n)[:, None]
        a[t0:t0 + n, :2] = start + s * (goal - start)
        a[t0 + n:, :2] = goal
        a[:, :2] = np.rint(a[:, :2])
        if example["family"] == "drag":
            a[1:t0 + n + 3, 2] = 1                      # press, move, release 60 ms after arriving
        else:
            press = t0 + n + int(rng.integers(2, 5))
            a[press:press + 4, 2] = 1                    # 80 ms click
        return a

    def demo(self, example):
        ids = self.tokenizer.encode(self.expert_chunk(example))
        answer = f"<actions>{self.tokenizer.to_lm_tokens(ids)}</actions>"
        episode = self.reset(example)
        observation = episode.observation()
        episode.step(answer)
        total, parts = episode.reward()
        if parts["success"] != 1.0:
            raise AssertionError(f"demo of {example['id']} ({example['family']}) fails: {parts}")
        return [[(observation, False), (answer, True)]]


TASKS = {"coords": CoordsTask(point=True), "coords-box": CoordsTask(), "coords-image": CoordsTask(image=True),
         "actions": ActionsTask()}
