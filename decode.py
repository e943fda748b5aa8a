"""A fast decoder for rollouts: the policy's weights copied into a plain static-shape decoder, a static KV
cache, and on CUDA one CUDA graph per decode step. rollout.generate uses it when given `engine=`.

Why: generation dominates GRPO time, and an eager decode step of a 0.6B model is ~600 small kernels launched one
by one from Python (LoRA adds ~1,000 more): at batch 64 the GPU mostly waits for the CPU. The engine
1) reads each projection's effective weight once per rollout phase: a plain Linear's own weight, and for
   anything wrapping one (PEFT LoRA, trainable-token rows) the linear map the module computes, W^T = f(I) - f(0),
   in the compute dtype; q/k/v and gate/up are concatenated (fewer, larger matmuls);
2) keeps K/V in preallocated (B, kv_heads, capacity, head_dim) tensors per layer, written in place (capacity
   grows if an env reply runs past it);
3) prefills each distinct prompt once and copies its K/V to the rows that share it (the G samples of a group);
4) on CUDA, captures the one-token decode step as a CUDA graph (tokens, positions and the write index live in
   fixed buffers) and replays it: one launch per step instead of hundreds;
5) attends over the filled cache columns only, rounded up to a multiple of `bucket` (one graph per bucket),
   instead of the whole preallocated capacity: at batch 64 the K/V reads outweigh the weights;
6) optionally (`compile=True`) runs each layer's decode step through torch.compile, which fuses the norms, the
   rotary embedding, the masked softmax and the SwiGLU into a few kernels (a graph still launches each kernel:
   ~45 per layer eager, the GPU idles between the small ones).
7) samples inside the step (`graph_sampling=True`, rollout.generate asks through `sample_in_step`):
   log_softmax(logits / T), a Gumbel-max draw (argmax(logits / T + Gumbel noise), the same distribution as
   torch.multinomial over softmax(logits / T)), the drawn token's log-prob and the stop check run in the captured
   graph (one torch.compile'd function with `compile`, reading the LM head's bf16 logits), so no (B, V) fp32
   logits are written out and read back by several separate kernels. The noise comes from the caller's generator (registered with each graph), so
   a seed gives the same tokens every time, though not the tokens rollout.sample_tokens' multinomial draws from it.
   top_p < 1 and generators on another device keep rollout.sample_tokens.
Log-probs can differ from the HF forward's in the last bits (other kernels, merged weights in bf16).

Supported: decoder-only models with the Llama layer layout (Llama, Qwen2, Qwen3 incl. its q/k norms; the
built-in tiny model), RoPE without length-dependent scaling, no sliding window; `unsupported(model)` says why
not otherwise, and callers then use the model's own forward. Tested against the HF forward in tests/test_decode.py.
"""
import time
import weakref

import torch
import torch.nn.functional as F

import vlm


def unsupported(model):
    """None if the engine can run `model`, else the reason it cannot."""
    base = vlm.base_model(model)
    config = base.config
    if vlm.is_vlm(base):
        return "a vision-language model"
    if config.model_type not in ("llama", "qwen2", "qwen3"):
        return f"model type {config.model_type!r} (supported: llama, qwen2, qwen3)"
    rope = getattr(base.model.rotary_emb, "rope_type", "default")
    if rope not in ("default", "linear", "llama3", "yarn"):
        return f"rope type {rope!r} (its frequencies depend on the sequence length)"
    if getattr(config, "use_sliding_window", False) or getattr(config, "sliding_window", None) and any(
            t == "sliding_attention" for t in getattr(config, "layer_types", None) or []):
        return "sliding-window attention"
    return None


@torch.no_grad()
def _linear(module, dtype, n_in=None):
    """(weight (out, in), bias or None) of the linear map `module` computes, in `dtype`; n_in: its input width
    (default: the module's in_features, or its base layer's)."""
    if type(module) is torch.nn.Linear:
        return module.weight.to(dtype), None if module.bias is None else module.bias.to(dtype)
    # a wrapper (LoRA, trainable tokens ...): read the map off the module itself, as the training forward runs it
    n_in = n_in or (module.in_features if hasattr(module, "in_features") else module.base_layer.in_features)
    device = next(module.parameters()).device
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        bias = module(torch.zeros(1, n_in, device=device, dtype=dtype))[0]
        weight = (module(torch.eye(n_in, device=device, dtype=dtype)) - bias).T.contiguous()
    return weight.to(dtype), None if not bias.any() else bias.to(dtype)


def _cat_linears(modules, dtype):
    parts = [_linear(m, dtype) for m in modules]
    weight = torch.cat([w for w, _ in parts]) if len(parts) > 1 else parts[0][0]
    if all(b is None for _, b in parts):
        return weight, None
    return weight, torch.cat([b if b is not None else w.new_zeros(w.shape[0]) for w, b in parts])


def _rms(x, weight, eps):
    """RMSNorm as HF computes it: in fp32, cast back, then the weight."""
    xf = x.float()
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _rotate(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


def _attend(q, K, V, mask, n_kv, attention):
    """Grouped-query attention. attention="sdpa": F.scaled_dot_product_attention with enable_gqa; "manual":
    written out, each K/V head read once for the query heads it serves (HF's order: query head h uses K/V head
    h // group). q (B, H, T, D); mask (B, 1, T, columns) bool. bench/decode_bench.py compares."""
    if attention == "sdpa":
        return F.scaled_dot_product_attention(q, K, V, attn_mask=mask, enable_gqa=True)
    B, H, T, D = q.shape
    group = H // n_kv
    scores = (q.reshape(B, n_kv, group * T, D) @ K.transpose(-1, -2)).float() * D ** -0.5
    scores = scores.masked_fill(~mask.repeat(1, 1, group, 1), float("-inf"))
    return (scores.softmax(-1).to(V.dtype) @ V).view(B, H, T, D)


def _layer_qkv(h, ln1, qkv_w, qkv_b, q_norm, k_norm, cos, sin, eps, n_heads, n_kv, head_dim):
    """A layer's input norm, q/k/v projection, q/k norms and rotary: q (B, H, T, D), k, v (B, kv, T, D)."""
    B, T, _ = h.shape
    q_size, kv_size = n_heads * head_dim, n_kv * head_dim
    qkv = F.linear(_rms(h, ln1, eps), qkv_w, qkv_b)
    q = qkv[..., :q_size].view(B, T, n_heads, head_dim)
    k = qkv[..., q_size:q_size + kv_size].view(B, T, n_kv, head_dim)
    v = qkv[..., q_size + kv_size:].view(B, T, n_kv, head_dim)
    if q_norm is not None:
        q, k = _rms(q, q_norm, eps), _rms(k, k_norm, eps)
    return _rotate(q, cos, sin).transpose(1, 2), _rotate(k, cos, sin).transpose(1, 2), v.transpose(1, 2)


def _sample(logits, temperature, noise, stop_ids):
    """The next token of each row from its logits (B, V) (any float dtype; read as fp32), rollout.sample_tokens'
    policy without nucleus. noise None: greedy (argmax, log-probs at T = 1); else noise (B, V) uniform in [0, 1) and
    the token is argmax(logits / T - log(-log(noise))), Gumbel-max: a draw from softmax(logits / T) (noise on
    multinomial's 2^-24 grid: a token below ~1e-7 of the mass is drawn a little less). temperature: a 0-d tensor
    (a float would be baked into the compiled code). Returns tokens (B,), their log_softmax(logits / T) and whether
    each is in stop_ids."""
    logits = logits.float()
    if noise is None:
        logprobs = torch.log_softmax(logits, -1)
        tokens = logits.argmax(-1)
    else:
        logprobs = torch.log_softmax(logits / temperature, -1)
        tokens = (logprobs - (-noise.log()).log()).argmax(-1)
    return tokens, logprobs.gather(-1, tokens[:, None])[:, 0], (tokens[:, None] == stop_ids).any(-1)


def _layer_qkv_write(h, ln1, qkv_w, qkv_b, q_norm, k_norm, cos, sin, eps, n_heads, n_kv, head_dim, K, V, slots):
    """_layer_qkv, then k and v written into the cache columns `slots` of K, V in place (compiled: fused with the
    rotary kernel, no separate index_copy_ launches); returns q."""
    q, k, v = _layer_qkv(h, ln1, qkv_w, qkv_b, q_norm, k_norm, cos, sin, eps, n_heads, n_kv, head_dim)
    K.index_copy_(2, slots, k)
    V.index_copy_(2, slots, v)
    return q


def _layer_out(h, q, K, V, mask, o_w, o_b, ln2, gate_up_w, gate_up_b, down_w, down_b, eps, n_kv, attention):
    """Attention over the cache columns K, V (B, kv, columns, D), the output projection and the SwiGLU MLP, with
    both residuals: the layer's output hidden states (B, T, hidden)."""
    B, T, _ = h.shape
    o = _attend(q, K, V, mask, n_kv, attention)
    h = h + F.linear(o.transpose(1, 2).reshape(B, T, -1), o_w, o_b)
    gate, up = F.linear(_rms(h, ln2, eps), gate_up_w, gate_up_b).chunk(2, -1)
    return h + F.linear(F.silu(gate) * up, down_w, down_b)


_COMPILED = {}
_SIDE_STREAM = {}  # device -> the one stream every graph is warmed up and captured on
_HOLDING_GRAPHS = weakref.WeakSet()  # engines with captured graphs (their kernels use the cuBLAS workspaces)


def _side_stream(device):
    """The process's stream for graph warm-ups and captures. One, not one per capture: cuBLAS keeps a 32 MiB
    workspace per stream it has run on until the process ends, so a fresh stream per capture leaked 0.125 GiB per
    rollout (call I); and the capture on the warm-up's stream needs no second workspace."""
    if device not in _SIDE_STREAM:
        _SIDE_STREAM[device] = torch.cuda.Stream(device)
    return _SIDE_STREAM[device]


def _compiled(fn):
    """torch.compile(fn), made once per process (dynamo caches on the code: every engine reuses the kernels)."""
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn, dynamic=None)
    return _COMPILED[fn]


def _device(device):
    """torch.device with its index filled in ("cuda" -> "cuda:<current>"), so two spellings compare equal."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class DecodeEngine:
    """Static-KV decoder over a snapshot of `model`'s weights (take a new one after an optimizer step; close() the
    old one before a training pass).
    prefill(input_ids, attention, capacity) -> last-position logits (B, V); step(tokens (B,)) -> logits (B, V); after
    sample_in_step(...) returned True, both return (tokens, log-probs, stop) of the next token instead.
    bucket: decode steps attend over the filled columns rounded up to a multiple of this (0 = the whole capacity);
    compile: run the decode step's layers (and the sampling) through torch.compile;
    graph_sampling: let sample_in_step say yes (False: callers always get logits and sample themselves);
    fuse_kv_writes: with compile, write each layer's new K/V columns inside its compiled q/k/v function (the K write
    fuses with the rotary kernel, V's is one small kernel: 0.13 ms less kernel time a step and forward 0.12-0.17 ms
    faster on an H100, but the loop with buckets of 64 was +0.28, +0.06 and -0.09 ms/token in three calls of session
    11, so it stays off)."""

    def __init__(self, model, dtype=None, cuda_graph=True, attention="sdpa", bucket=64, compile=False,
                 graph_sampling=True, fuse_kv_writes=False):
        reason = unsupported(model)
        if reason:
            raise ValueError(f"the decode engine does not support {reason}; use the model's own forward")
        base = vlm.base_model(model)
        config, decoder = base.config, base.get_decoder()
        param = next(model.parameters())
        self.device = param.device
        self.dtype = dtype or param.dtype
        self.cuda_graph = cuda_graph and self.device.type == "cuda"
        if attention not in ("manual", "sdpa"):
            raise ValueError(f"attention must be manual or sdpa, got {attention!r}")
        self.attention, self.bucket = attention, bucket
        self.layer_qkv, self.layer_out = (_compiled(_layer_qkv), _compiled(_layer_out)) if compile else (_layer_qkv, _layer_out)
        self.sample = _compiled(_sample) if compile else _sample
        self.layer_qkv_write = _compiled(_layer_qkv_write) if compile and fuse_kv_writes else None
        self.graph_sampling, self.sampler = graph_sampling, None
        self.eps = config.rms_norm_eps
        self.n_heads, self.n_kv = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        with torch.no_grad():
            emb = base.get_input_embeddings()
            self.embed = emb.weight.to(self.dtype) if type(emb) is torch.nn.Embedding else \
                emb(torch.arange(config.vocab_size, device=self.device)).to(self.dtype)
            head = base.get_output_embeddings()
            tied = type(head) is torch.nn.Linear and type(emb) is torch.nn.Embedding and head.weight is emb.weight
            self.head = self.embed if tied else _linear(head, self.dtype, config.hidden_size)[0]
            self.layers = []
            for layer in decoder.layers:
                attn, mlp = layer.self_attn, layer.mlp
                self.layers.append({
                    "ln1": layer.input_layernorm.weight.to(self.dtype), "ln2": layer.post_attention_layernorm.weight.to(self.dtype),
                    "qkv": _cat_linears([attn.q_proj, attn.k_proj, attn.v_proj], self.dtype),
                    "o": _linear(attn.o_proj, self.dtype),
                    "gate_up": _cat_linears([mlp.gate_proj, mlp.up_proj], self.dtype),
                    "down": _linear(mlp.down_proj, self.dtype),
                    "q_norm": attn.q_norm.weight.to(self.dtype) if hasattr(attn, "q_norm") else None,
                    "k_norm": attn.k_norm.weight.to(self.dtype) if hasattr(attn, "k_norm") else None})
            self.final_norm = decoder.norm.weight.to(self.dtype)
            rotary = decoder.rotary_emb
            self.inv_freq, self.rope_scale = rotary.inv_freq.float().to(self.device), float(rotary.attention_scaling)
        self.graphs = {}  # columns -> (CUDA graph, its output buffers: logits, or (tokens, log-probs, stop))
        self.graph_pool = None
        self.capture_seconds = 0.0  # host time spent warming up and capturing graphs (bench/decode_bench.py)

    # -- the decoder --------------------------------------------------------------------------------------

    def _rope(self, positions):
        """cos, sin of shape (B, T, 1, head_dim) for integer positions (B, T), as HF computes them (fp32, scaled)."""
        freqs = positions.float()[..., None] * self.inv_freq
        emb = torch.cat([freqs, freqs], -1)[:, :, None]
        return (emb.cos() * self.rope_scale).to(self.dtype), (emb.sin() * self.rope_scale).to(self.dtype)

    def _forward(self, ids, positions, slots, mask, caches, columns=None, compiled=False):
        """ids, positions (B, T); slots (T,) cache columns to write; mask (B, 1, T, columns) bool; caches: per
        layer (K, V) of (B, kv_heads, capacity, head_dim), attended over their first `columns` (default: all).
        compiled: the layers through torch.compile (decode steps). Returns the last position's hidden states (B, hidden)."""
        layer_qkv, layer_out = (self.layer_qkv, self.layer_out) if compiled else (_layer_qkv, _layer_out)
        h = self.embed[ids]
        cos, sin = self._rope(positions)
        for w, (K, V) in zip(self.layers, caches):
            qkv_args = (h, w["ln1"], *w["qkv"], w["q_norm"], w["k_norm"], cos, sin, self.eps, self.n_heads, self.n_kv,
                        self.head_dim)
            if compiled and self.layer_qkv_write is not None:
                q = self.layer_qkv_write(*qkv_args, K, V, slots)
            else:
                q, k, v = layer_qkv(*qkv_args)
                K.index_copy_(2, slots, k)
                V.index_copy_(2, slots, v)
            h = layer_out(h, q, K[:, :, :columns], V[:, :, :columns], mask, *w["o"], w["ln2"], *w["gate_up"],
                          *w["down"], self.eps, self.n_kv, self.attention)
        return h[:, -1]

    def _head(self, h, rows=None):
        """Last hidden states (N, hidden), then rows (B,) of them if given -> logits (B, V) in fp32, or (tokens,
        log-probs, stop) when sampling. The final norm and the LM head run eagerly, on the same rows, either way, so
        both paths read the same logits (session 11 calls 2-3: with the norm compiled, then with the prefill's head
        on all 64 rows instead of the 8 distinct prompts, bf16 greedy rows of a random-init 0.6B model parted from
        the after-step path, 39/64 and 43/64 identical; with this version 44/64, session 12 call G: README)."""
        logits = F.linear(_rms(h, self.final_norm, self.eps), self.head)
        logits = logits if rows is None else logits[rows]
        if self.sampler is None:
            return logits.float()
        temperature, generator, stop_ids = self.sampler
        noise = None if temperature is None else torch.rand(logits.shape, device=self.device, generator=generator)
        return self.sample(logits, temperature, noise, stop_ids)

    def sample_in_step(self, temperature, top_p, generator, stop_ids):
        """From the next prefill on, prefill() and step() return (tokens (B,), their log-probs, stop (B,) bool), the next
        token sampled as rollout.sample_tokens(logits, temperature, top_p, generator) would (Gumbel-max instead of
        multinomial: same distribution, other draws) and whether it is in stop_ids (a tensor), computed inside the
        step's CUDA graph. Returns whether it will: not when graph_sampling is off, for top_p < 1, or a generator on
        another device (then they return logits, as before)."""
        self.sampler, self.graphs, self.graph_pool = None, {}, None
        if not self.graph_sampling or top_p < 1.0:
            return False
        if temperature > 0 and generator is not None and _device(generator.device) != _device(self.device):
            return False
        temperature = torch.tensor(float(temperature), device=self.device) if temperature > 0 else None
        self.sampler = (temperature, generator if temperature is not None else None, stop_ids.to(self.device))
        return True

    # -- prefill and decode ---------------------------------------------------------------------------------

    @torch.no_grad()
    @torch.autocast("cuda", enabled=False)  # every tensor is already in self.dtype (grpo.py calls under autocast)
    @torch.autocast("cpu", enabled=False)
    def prefill(self, input_ids, attention, capacity):
        """Run left-padded prompts (B, L) into a fresh cache of `capacity` columns; returns logits (B, V) (or, after
        sample_in_step, the first sampled tokens: see there).
        Identical rows are computed once."""
        B, L = input_ids.shape
        capacity = max(capacity, L + 1)
        rows, inverse = torch.unique(torch.cat([input_ids, attention.to(input_ids.dtype)], 1), dim=0, return_inverse=True)
        ids, att = rows[:, :L], rows[:, L:].bool()
        positions = (att.long().cumsum(-1) - 1).clamp(min=0)
        causal = torch.ones(L, L, dtype=torch.bool, device=self.device).tril()
        # a key is seen if it is real and not in the future; a pad query sees itself (no all-masked row: no NaN)
        mask = (causal & att[:, None, :]) | torch.eye(L, dtype=torch.bool, device=self.device)
        unique_caches = [(torch.zeros(len(rows), self.n_kv, L, self.head_dim, dtype=self.dtype, device=self.device),
                          torch.zeros(len(rows), self.n_kv, L, self.head_dim, dtype=self.dtype, device=self.device))
                         for _ in self.layers]
        last = self._forward(ids, positions, torch.arange(L, device=self.device), mask[:, None], unique_caches)
        self.caches = []
        for K, V in unique_caches:
            full_k = torch.zeros(B, self.n_kv, capacity, self.head_dim, dtype=self.dtype, device=self.device)
            full_v = torch.zeros_like(full_k)
            full_k[:, :, :L], full_v[:, :, :L] = K[inverse], V[inverse]
            self.caches.append((full_k, full_v))
        del unique_caches
        self.valid = torch.zeros(B, capacity, dtype=torch.bool, device=self.device)
        self.valid[:, :L] = attention.bool()
        self.tokens = torch.zeros(B, dtype=torch.long, device=self.device)
        self.positions = positions[inverse][:, -1] + 1
        self.slot = torch.tensor([L], device=self.device)  # the cache column the next token is written to
        self.length, self.graphs, self.graph_pool = L, {}, None  # a pool dies with its graphs: never reuse its handle
        return self._head(last, inverse)

    def _columns(self):
        """Cache columns the next step attends over: the filled ones rounded up to a bucket (static per graph)."""
        capacity = self.valid.shape[1]
        if not self.bucket:
            return capacity
        return min(capacity, -(-(self.length + 1) // self.bucket) * self.bucket)

    def _decode(self, columns):
        self.valid.index_fill_(1, self.slot, True)
        return self._head(self._forward(self.tokens[:, None], self.positions[:, None], self.slot,
                                        self.valid[:, None, None, :columns], self.caches, columns, compiled=True))

    def close(self):
        """Free what the engine holds before a training pass: graphs, KV cache, weights snapshot; and, when no other
        engine holds graphs, cuBLAS's workspaces (32 MiB per stream and thread that ran a matmul: the capture
        stream's would sit idle through the training pass; the training's own are made again at its next matmul).
        The engine is unusable after this."""
        self.graphs, self.graph_pool, self.caches, self.layers, self.sampler = {}, None, [], [], None
        self.embed = self.head = self.valid = None
        _HOLDING_GRAPHS.discard(self)
        if self.cuda_graph and not _HOLDING_GRAPHS:
            torch.cuda.synchronize(self.device)
            torch._C._cuda_clearCublasWorkspaces()

    @property
    def full(self):
        """Every cache column is filled: the next step grows the cache (and captures its graphs again)."""
        return self.length >= self.valid.shape[1]

    def _grow(self):
        """Double the cache's columns (an env reply ran past them); the graphs are captured again."""
        extra = self.valid.shape[1]
        pad = lambda t: torch.cat([t, t.new_zeros(*t.shape[:2], extra, *t.shape[3:])], 2)
        self.caches = [(pad(K), pad(V)) for K, V in self.caches]
        self.valid = torch.cat([self.valid, torch.zeros_like(self.valid)], 1)
        self.graphs, self.graph_pool = {}, None

    @torch.no_grad()
    @torch.autocast("cuda", enabled=False)
    @torch.autocast("cpu", enabled=False)
    def step(self, tokens):
        """Feed one token per row (B,) at each row's next position; returns logits (B, V), or (tokens, log-probs, stop)
        after sample_in_step. On CUDA the returned tensors are the graph's output buffers: use them before the next step."""
        if self.full:
            self._grow()
        self.tokens.copy_(tokens)
        columns = self._columns()
        if not self.cuda_graph:
            out = self._decode(columns)
        else:
            if columns not in self.graphs:
                # warm up on a side stream (allocator, cuBLAS handles, torch.compile), then capture; the warm-up's
                # writes to the cache column `slot` are overwritten by the replay below, and that column is due to
                # be valid. The graphs share one memory pool: they never run at the same time.
                started = time.perf_counter()
                stream = _side_stream(self.device)
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    self._decode(columns)
                torch.cuda.current_stream().wait_stream(stream)
                self.graph_pool = self.graph_pool or torch.cuda.graph_pool_handle()
                graph = torch.cuda.CUDAGraph()
                if self.sampler is not None and self.sampler[1] is not None:  # the default generator registers itself
                    graph.register_generator_state(self.sampler[1])
                with torch.cuda.graph(graph, pool=self.graph_pool, stream=stream):
                    self.graphs[columns] = (graph, self._decode(columns))
                self.capture_seconds += time.perf_counter() - started
                _HOLDING_GRAPHS.add(self)
            graph, out = self.graphs[columns]
            graph.replay()
        self.positions += 1
        self.slot += 1
        self.length += 1
        return out
