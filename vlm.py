"""Build and feed a vision-language model (VLM): the pieces sft.py, grpo.py, rollout.py, eval.py and chat.py share
when a task shows images (`digits`, `cryptogram`, `pixel`).

- `build_tiny_vlm` / `build_image_processor`: the offline `--model tiny` for image tasks, a randomly initialised
  Qwen2.5-VL (vision tower + Qwen2 text model with 3-D mRoPE) made from config classes, sized like
  sft.SIZE_PRESETS, with sft's char tokenizer plus the model's image tokens (VISION_TOKENS) and a Qwen2-VL image
  processor built in code. An HF Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint loads through the Auto classes
  (AutoModelForImageTextToText, AutoTokenizer, AutoImageProcessor) and is fed the same way.
- `expand` / `pixel_inputs`: a task's `<image>` placeholder becomes `<|vision_start|>` + one `<|image_pad|>` per
  merged patch + `<|vision_end|>`, and the pixel inputs (pixel_values, image_grid_thw) are the Qwen2-VL image
  processor's, computed here in two steps: `patchify` (resize + patch order, kept in uint8: sft.py stores each
  example's) and `pixel_values` (rescale/normalize as one table lookup, on the device). The processor's own call
  spends 4-6 ms on a 240 px image in per-image Python and float64 passes, which left the GPU idle during image
  SFT; tests check the outputs are identical. The processor classes also want a video processor (torchvision),
  and training needs the text tokenized segment by segment (loss masks), so we do by hand what they do.
- `rope_positions`: 3-D mRoPE position ids, those of the model's own `get_rope_index` (text tokens advance all
  three components together; an image's tokens get (t, row, column) positions), vectorised over the batch. Every
  forward of a VLM gets them explicitly: the model's own fallback keeps `rope_deltas` state across calls, which a
  batched decode loop with env replies cannot use.
- `pack_vision_attention`: the vision tower attends over every image of a batch in one SDPA call per run of
  equal-size images (`packed_sdpa`) instead of HF's one call per image from Python (session 6: an image SFT step
  was launch-bound, 0.4 s at batch 128; 0.25-0.31 s with it). Same outputs (tests/test_vlm.py).
- `patch_labels`: what is drawn under each image token (merged patch), from a task's boxes (task.image_boxes):
  the targets of sft.py's vision warm-up.
- `forbid_vision_tokens`: the model never samples image tokens (an `<|image_pad|>` without pixels would break
  every later forward); generation and the GRPO log-prob pass apply the same mask, so log-probs agree.

Needs transformers >= 5.3 (Qwen2VLImageProcessorPil; the tests call `get_rope_index` with `mm_token_type_ids`).
"""
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGE = "<image>"   # the tasks' placeholder (vision_tasks.IMAGE), one per image
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

# name: vision tower (depth, hidden, heads, mlp width); the text model takes sft.SIZE_PRESETS[name]
VISION_PRESETS = {
    "tiny": (2, 64, 4, 128),      # ~0.45M in all: tests
    "cpu": (4, 128, 4, 256),      # ~1.9M in all: 2 CPU cores
    "small": (8, 256, 8, 1024),   # ~35M in all (~10M vision): a GPU
}


def build_tiny_vlm(tokenizer, size: str = "tiny"):
    """A randomly initialised Qwen2_5_VLForConditionalGeneration: text model sized by sft.SIZE_PRESETS[size] (head
    dim = hidden / heads there), vision tower by VISION_PRESETS[size]; the tokenizer must hold VISION_TOKENS."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from sft import SIZE_PRESETS
    if size not in SIZE_PRESETS:
        raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(SIZE_PRESETS)}")
    missing = [t for t in VISION_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        raise ValueError(f"tokenizer lacks the image tokens {missing}")
    hidden, layers, heads, kv_heads, head_dim, mlp = SIZE_PRESETS[size]
    depth, v_hidden, v_heads, v_mlp = VISION_PRESETS[size]
    ids = dict(zip(VISION_TOKENS, tokenizer.convert_tokens_to_ids(VISION_TOKENS)))
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, intermediate_size=mlp, max_position_embeddings=4096,
                         # mRoPE splits the head's rotary frequencies over (t, h, w) in Qwen's 2:3:3 proportions
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [head_dim // 8, 3 * head_dim // 16, 3 * head_dim // 16]},
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None),
        # full attention in every block: windowing (Qwen's 112 px windows) buys nothing on 100-250 px images
        vision_config=dict(depth=depth, hidden_size=v_hidden, num_heads=v_heads, intermediate_size=v_mlp,
                           out_hidden_size=hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                           fullatt_block_indexes=list(range(depth))),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return pack_vision_attention(model)


# "flash" in the name: HF's vision towers then hand the attention every image at once with their boundaries
# (cu_seqlens), as they do for flash-attention's varlen kernel, instead of calling it once per image from Python
PACKED_ATTENTION = "flash_packed_sdpa"


def packed_sdpa(module, query, key, value, attention_mask=None, dropout=0.0, scaling=None, is_causal=None,
                cu_seq_lens_q=None, **kwargs):
    """Vision-tower attention over images packed back to back: query/key/value (1, heads, tokens, D), image i's
    tokens cu_seq_lens_q[i]:cu_seq_lens_q[i + 1]; each image attends within itself. One SDPA call per run of
    equal-length images (a batch of one task's images is one run): at batch 128 the per-image calls were most of
    an SFT step's ~2,600 kernel launches. Returns (1, tokens, heads, D), as HF's attention functions do."""
    _, heads, tokens, dim = query.shape
    bounds = [0, tokens] if cu_seq_lens_q is None else cu_seq_lens_q.tolist()
    lengths = [b - a for a, b in zip(bounds, bounds[1:])]
    outs, start = [], 0
    for length, run in itertools.groupby(lengths):
        n = len(list(run))
        q, k, v = (t[0, :, start:start + n * length].unflatten(1, (n, length)).transpose(0, 1)
                   for t in (query, key, value))                                          # images, heads, length, D
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling, is_causal=bool(is_causal))
        outs.append(out.transpose(1, 2).reshape(n * length, heads, dim))
        start += n * length
    return torch.cat(outs)[None], None


def pack_vision_attention(model):
    """`model` (a VLM) with its vision tower's attention run by packed_sdpa (same outputs as SDPA image by image,
    tests/test_vlm.py). Returns the model."""
    from transformers import AttentionInterface
    AttentionInterface.register(PACKED_ATTENTION, packed_sdpa)
    base_model(model).set_attn_implementation({"vision_config": PACKED_ATTENTION})
    return model


def build_image_processor():
    """Qwen2-VL's image processor (PIL backend: no torchvision needed): images are resized to multiples of 28 px
    (patch 14 x merge 2), so a 100x100 digits canvas is 16 image tokens and a 224x224 cryptogram decoder 64."""
    from transformers import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2)


def vision_tower(model):
    """The vision tower (merger included) of a Qwen-VL-layout model (`model.model.visual`), PEFT-wrapped or not."""
    tower = getattr(base_model(model).model, "visual", None)
    if tower is None:
        raise ValueError(f"{type(base_model(model)).__name__} has no Qwen-VL vision tower at .model.visual "
                         "(needed by the vision warm-up and --freeze-vision; pass --freeze-vision 0 / --no-freeze-vision)")
    return tower


def is_vlm(model) -> bool:
    return getattr(model.config, "vision_config", None) is not None   # PeftModel forwards .config


def base_model(model):
    """The HF model under a PEFT wrapper (PEFT wraps layers in place, so calling it still runs the adapters)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def load_image_processor(path, model=None):
    """The image processor saved with a VLM checkpoint or HF VLM (None when `model` is a text model). Always the
    PIL backend, as sft.py's tiny model is trained with: with torchvision installed, Auto would pick the torchvision
    one, whose resizing gives slightly different pixels."""
    if model is not None and not is_vlm(model):
        return None
    from transformers import AutoImageProcessor
    return AutoImageProcessor.from_pretrained(path, backend="pil")


def task_has_images(task) -> bool:
    """Whether the task's episodes show images (digits, cryptogram, pixel; not their -text variants)."""
    if not hasattr(task, "demo_images"):
        return False
    return bool(task.reset(task.examples("train", 1)[0]).images())


def image_text(image_processor, image) -> str:
    """The text one image becomes: its image tokens, as many as the vision tower makes of it (merged patches)."""
    h, w = image.shape[:2]
    n = image_processor.get_number_of_image_patches(h, w, {}) // image_processor.merge_size ** 2
    return "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>"


def expand(text: str, images, image_processor) -> str:
    """text with its k-th `<image>` replaced by image_text of images[k]; the counts must agree."""
    parts = text.split(IMAGE)
    if len(parts) - 1 != len(images):
        raise ValueError(f"text has {len(parts) - 1} {IMAGE} placeholders but {len(images)} images were given")
    return parts[0] + "".join(image_text(image_processor, im) + part for im, part in zip(images, parts[1:]))


def patchify(image_processor, image):
    """(patches, grid_thw) of one HxWx3 uint8 image: the processor's resize (PIL, to multiples of patch x merge
    px) and patch order (merge x merge blocks, row-major, as the vision tower reads them), kept in uint8, before
    rescale/normalize: patches (n, C, P, P) uint8, one byte a value, so sft.py keeps every example's (a 224x224
    cryptogram decoder is 150 KB, 1.2 MB as float pixel values), and grid_thw (1, rows, cols) int64."""
    from transformers import Qwen2VLImageProcessorPil
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    if not (isinstance(image_processor, Qwen2VLImageProcessorPil) and image_processor.do_resize):
        raise TypeError(f"need a resizing Qwen2VLImageProcessorPil (load_image_processor), got {image_processor!r}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"images must be HxWx3 uint8 arrays, got {image.dtype} {image.shape}")
    p, m, size = image_processor.patch_size, image_processor.merge_size, image_processor.size
    h, w = smart_resize(*image.shape[:2], factor=p * m, min_pixels=size["shortest_edge"],
                        max_pixels=size["longest_edge"])
    image = np.asarray(Image.fromarray(image).resize((w, h), image_processor.resample))
    patches = image.reshape(h // p // m, m, p, w // p // m, m, p, 3).transpose(0, 3, 1, 4, 6, 2, 5)  # gh gw mh mw C P P
    return torch.from_numpy(patches.reshape(-1, 3, p, p)), torch.tensor([1, h // p, w // p])


def pixel_values(image_processor, patched, device=None):
    """{pixel_values (patches, C*T*P*P) float32, image_grid_thw (images, 3)} from patchify outputs, made on
    `device` (only the uint8 patches travel). Identical to the processor's own: rescale and normalize act on each
    byte alone, so they are a lookup in a table that its own rescale/normalize made of the 256 values per channel,
    and the T temporal copies of a still image are a broadcast. None for no images."""
    if not len(patched):
        return None
    table = np.arange(256, dtype=np.uint8)[None, None].repeat(3, 0)   # C, 1, 256: a channels-first "image"
    if image_processor.do_rescale:
        table = image_processor.rescale(table, image_processor.rescale_factor)
    if image_processor.do_normalize:
        table = image_processor.normalize(table, image_processor.image_mean, image_processor.image_std)
    table = torch.from_numpy(np.asarray(table, np.float32).reshape(-1)).to(device)
    patches = torch.cat([x for x, _ in patched]).to(device)   # n, C, P, P
    offset = torch.arange(3, device=patches.device, dtype=torch.int32)[:, None, None] * 256
    values = table.index_select(0, (patches.int() + offset).flatten()).view(len(patches), 3, 1, *patches.shape[2:])
    T = image_processor.temporal_patch_size
    return {"pixel_values": values.expand(-1, -1, T, -1, -1).reshape(len(patches), -1),
            "image_grid_thw": torch.stack([g for _, g in patched]).to(device)}


def pixel_inputs(image_processor, images, device=None):
    """{pixel_values (patches, C*T*P*P), image_grid_thw (images, 3)} for HxWx3 uint8 images, or None for none:
    what the image processor gives (tests/test_vlm.py checks), without its per-image Python and float64 passes."""
    return pixel_values(image_processor, [patchify(image_processor, im) for im in images], device)


def encode(tokenizer, image_processor, text, images, device=None):
    """(token ids, pixel inputs or None) of a text whose `<image>` placeholders stand for images, in order."""
    return (tokenizer.encode(expand(text, images, image_processor), add_special_tokens=False),
            pixel_inputs(image_processor, images, device))


def cat_pixels(pixels, device=None):
    """Concatenate pixel inputs (dicts or None) in order: the model scatters image features into the image tokens
    of the batch row by row, left to right, so rows' images are concatenated in row order."""
    pixels = [p for p in pixels if p is not None]
    if not pixels:
        return None
    return {k: torch.cat([p[k] for p in pixels]).to(device) for k in ("pixel_values", "image_grid_thw")}


def rope_positions(model, input_ids, attention, pixels):
    """3-D mRoPE position ids (3, B, L) for a (padded) batch, equal to the model's own `get_rope_index` with image
    tokens marked (the same for Qwen2-VL, Qwen2.5-VL and Qwen3-VL images; tests/test_vlm.py checks): pads
    (attention 0) are squeezed out of each row and get 0; text tokens advance (t, h, w) together; the tokens of an
    image whose merged grid is (T, H, W) starting at position s get (s + frame, s + row, s + column) and the text
    after it starts at s + max(H, W). Vectorised: get_rope_index loops over rows and images in Python (on a GPU
    with a host sync per row and per image)."""
    config = base_model(model).config
    merge = config.vision_config.spatial_merge_size
    B, L = input_ids.shape
    valid = torch.ones_like(input_ids, dtype=torch.bool) if attention is None else attention.bool()
    order = torch.sort((~valid).int(), dim=1, stable=True).indices   # each row's real tokens first, in order
    valid = valid.gather(1, order)
    image = (input_ids.gather(1, order) == config.image_token_id) & valid
    edge = torch.zeros_like(image[:, :1])
    start = image & ~torch.cat([edge, image[:, :-1]], 1)   # first token of an image
    end = image & ~torch.cat([image[:, 1:], edge], 1)      # last token of an image
    # no pixels, no image to look up (image tokens without pixels would break the vision tower anyway)
    grid = pixels["image_grid_thw"].to(input_ids.device) if pixels else input_ids.new_tensor([[1, merge, merge]])
    # the image a token belongs to: images are numbered row by row, left to right (the model's scatter order)
    thw = grid[(start.flatten().cumsum(0) - 1).clamp(min=0).view(B, L)]   # B, L, 3
    h, w = thw[..., 1] // merge, thw[..., 2] // merge
    step = torch.where(end, torch.maximum(h, w), (valid & ~image).long())   # an image moves on at its last token
    s = step.cumsum(1) - step                                                 # position where each token starts
    j = torch.arange(L, device=input_ids.device).expand(B, L)
    k = j - torch.where(start, j, 0).cummax(1).values                         # index inside its image
    positions = torch.stack([s + image * (k // (h * w)), s + image * (k // w % h), s + image * (k % w)]) * valid
    return torch.zeros_like(positions).scatter_(2, order.expand(3, B, L), positions)


def patch_labels(boxes, image_hw, grid_hw, min_cover=0.5, centres_only=False):
    """The class under each merged patch (one image token) of an image: (rows * cols,) int64, row-major as the
    vision tower outputs them (the processor orders patches by merged block). boxes: (x1, y1, x2, y2, class) in the
    image's pixels, x2/y2 exclusive, class > 0 (0 = background); image_hw: the image's (H, W); grid_hw: its merged
    grid (rows, cols) = image_grid_thw[1:] // merge_size. The processor stretches the whole image onto the grid,
    so patch (r, c) sees the cell [c W/cols, (c+1) W/cols) x [r H/rows, (r+1) H/rows) of the original image.
    A patch gets the class of the box covering most of its cell if that is >= min_cover of it, and every box
    also claims the patch its centre falls in, so a glyph smaller than a cell (a 3x5 px label) is never lost.
    centres_only: a box claims only the patch of its centre (one token per object: the LM can count objects by
    reading the tokens in order; tasks set it with `label_centres`)."""
    (H, W), (rows, cols) = image_hw, grid_hw
    if not len(boxes):
        return np.zeros(rows * cols, np.int64)
    b = np.asarray(boxes, np.float64)                                                  # n, 5
    ys, xs = np.arange(rows + 1) * H / rows, np.arange(cols + 1) * W / cols             # cell edges
    over_y = (np.minimum(b[:, 3:4], ys[1:]) - np.maximum(b[:, 1:2], ys[:-1])).clip(0)   # n, rows
    over_x = (np.minimum(b[:, 2:3], xs[1:]) - np.maximum(b[:, 0:1], xs[:-1])).clip(0)   # n, cols
    cover = over_y[:, :, None] * over_x[:, None, :] / (H / rows * W / cols)            # n, rows, cols
    if centres_only:
        cover[:] = 0
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    n = np.nonzero((cx >= 0) & (cx < W) & (cy >= 0) & (cy < H))[0]                       # boxes still in view
    cover[n, (cy[n] * rows / H).astype(int), (cx[n] * cols / W).astype(int)] += 1
    cover = cover.reshape(len(b), -1)
    return np.where(cover.max(0) >= min_cover, b[cover.argmax(0), 4], 0).astype(np.int64)


def vision_token_ids(model) -> list[int]:
    """The image/video placeholder and vision-frame token ids of a VLM (none for a text model): tokens the model
    never writes, so never sampled and never a loss target."""
    base = base_model(model)
    if not is_vlm(base):
        return []
    ids = [getattr(base.config, k, None) for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                                    "vision_end_token_id")]
    return [i for i in ids if i is not None]


def forbid_vision_tokens(logits, model):
    """Logits (..., V) with the image/video/vision-frame tokens pushed to -1e9 (finite, so 0 * log p stays 0)."""
    logits = logits.clone()
    logits[..., vision_token_ids(model)] = -1e9
    return logits
