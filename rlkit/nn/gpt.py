"""A causal transformer (GPT) with a KV cache for incremental decoding.

Pre-LayerNorm blocks: ``x = x + Attn(LN(x)); x = x + MLP(LN(x))`` with
``Attn = softmax(QK^T / sqrt(d) + causal_mask) V`` via ``F.scaled_dot_product_attention``.
With a :class:`KVCache`, each call appends the new keys/values of every layer, so decoding a
sequence token by token costs O(T) per token instead of O(T^2) and gives the same logits as a
full forward pass (tested).

Subclasses change three hooks and keep the cache: :meth:`GPT.embed` (token ids -> vectors, e.g.
per-dimension offsets), :meth:`GPT.key_keep` (key positions any query may attend to, on top of
the causal mask) and :meth:`GPT.output` (hidden states -> logits, e.g. one head per position).
``fused_attention=False`` runs the textbook ``softmax(QK^T/sqrt(d) + mask) V`` in plain ops, the
reference that benchmarks compare ``F.scaled_dot_product_attention`` against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.precision import output_layer


@dataclass
class GPTConfig:
    """Sizes of the model. ``block_size`` is the longest sequence (positions) it can see."""

    vocab_size: int = 100
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.1
    bias: bool = True
    fused_attention: bool = True


class KVCache:
    """Per-layer keys and values of the tokens decoded so far: each [B, n_head, T, head_dim].

    With ``capacity``, each layer's buffer is allocated once at ``[B, n_head, capacity, head_dim]``
    and new tokens are written in place (no copy of the whole cache per token); without it, every
    append concatenates.
    """

    def __init__(self, n_layer: int, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        self.lengths = [0] * n_layer

    @property
    def length(self) -> int:
        return self.lengths[0]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        old, new = self.lengths[layer], self.lengths[layer] + k.shape[2]
        keys, values = self.keys[layer], self.values[layer]
        if self.capacity is None:
            if keys is not None and values is not None:
                k, v = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)
            keys, values = k, v
        else:
            if new > self.capacity:
                raise ValueError(f"KV cache of capacity {self.capacity} cannot hold {new} tokens")
            if keys is None or values is None:
                shape = (k.shape[0], k.shape[1], self.capacity, k.shape[3])
                keys, values = k.new_empty(shape), v.new_empty(shape)
            keys[:, :, old:new] = k
            values[:, :, old:new] = v
        self.keys[layer], self.values[layer] = keys, values
        self.lengths[layer] = new
        return keys[:, :, :new], values[:, :, :new]

    def index_select(self, index: torch.Tensor) -> KVCache:
        """Reorder the batch (beam search keeps the cache rows of the surviving beams)."""
        out = KVCache(len(self.keys), self.capacity)
        out.keys = [None if k is None else k.index_select(0, index) for k in self.keys]
        out.values = [None if v is None else v.index_select(0, index) for v in self.values]
        out.lengths = list(self.lengths)
        return out


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head, self.dropout, self.fused = cfg.n_head, cfg.dropout, cfg.fused_attention
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int, past: int,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: [B, T, C] new tokens; ``past`` tokens are already in ``cache``; ``keep`` [past+T]
        marks the key positions that may be attended to (None: all)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.append(layer, k, v)
        drop = self.dropout if self.training else 0.0
        mask = None
        if past > 0 or keep is not None or not self.fused:
            # query i (absolute position past+i) sees keys 0..past+i
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            if keep is not None:
                mask = mask & keep[None, :]
        if not self.fused:
            assert mask is not None                     # always built on this path
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
            att = F.dropout(att.masked_fill(~mask, float("-inf")).softmax(-1), drop, self.training)
            y = att @ v
        elif mask is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias),
                                 nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int, past: int,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer, past, keep)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token + learned position embeddings -> blocks -> LayerNorm -> linear head over the vocab."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.block_size, cfg.n_embd))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # GPT-2 init: N(0, 0.02) weights, zero biases, unit LayerNorm.
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """idx: [B, T] token ids -> logits [B, T, vocab]. With ``cache``, idx are the new tokens."""
        past = 0 if cache is None else cache.length
        T = idx.shape[1]
        if past + T > self.cfg.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds block_size={self.cfg.block_size}")
        x = self.drop(self.embed(idx, past) + self.pos_emb[:, past:past + T])
        keep = self.key_keep(past + T, idx.device)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i, past, keep)
        return output_layer(self.output, self.ln_f(x), past)   # the logits in fp32 under bf16 autocast

    def embed(self, idx: torch.Tensor, past: int) -> torch.Tensor:
        """Token vectors of ``idx`` [B, T], whose first token sits at absolute position ``past``."""
        return self.tok_emb(idx)

    def key_keep(self, length: int, device: torch.device) -> torch.Tensor | None:
        """Bool [length]: key positions that may be attended to (None: every one)."""
        return None

    def output(self, h: torch.Tensor, past: int) -> torch.Tensor:
        """Logits from the final hidden states h [B, T, C] (first at position ``past``)."""
        return self.head(h)

    def new_cache(self, capacity: int | None = None) -> KVCache:
        """An empty cache; ``capacity`` (tokens) preallocates it for in-place appends."""
        return KVCache(self.cfg.n_layer, capacity)

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay matrices of Linear layers; not biases, LayerNorm or embeddings."""
        decay = [p for n, p in self.named_parameters() if p.dim() >= 2 and "emb" not in n]
        no_decay = [p for n, p in self.named_parameters() if p.dim() < 2 or "emb" in n]
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": no_decay, "weight_decay": 0.0}]
