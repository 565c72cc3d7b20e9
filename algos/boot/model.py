"""The Trajectory Transformer sequence model (Janner et al. 2021, arXiv 2106.02039), as used by BooT.

A transition ``x_t = [s_t, a_t, r_t, R_t]`` of ``D = obs_dim + act_dim + 2`` discretised dimensions
becomes D tokens; a sequence is transitions laid end to end. Three differences from a plain GPT:

- **Per-dimension vocabularies.** Token ``v`` at within-transition index ``j`` is embedded at
  ``j * n_bins + v``, so every dimension owns ``n_bins`` embeddings; the stop token (``v = n_bins``,
  padding after an episode's end) maps to the single extra index ``n_bins * D``.
- **One output head per position.** The hidden state at position ``p`` goes through head
  ``p mod D`` (a ``C -> n_bins + 1`` map without bias), so head ``j`` specialises in predicting
  within-transition index ``(j + 1) mod D``.
- **Reward-to-go keys are masked.** No query attends to a key at a position with
  ``p mod D = D - 1``: the model never reads R tokens, which are placeholders at planning time.

Positions are counted from the first token of the input window, which must start a transition
(callers crop whole transitions).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.nn.gpt import GPT, GPTConfig


class TrajectoryGPT(GPT):
    """GPT over discretised transitions. ``block_size`` is in tokens (BooT: ``10 * D - 1``)."""

    def __init__(self, obs_dim: int, act_dim: int, n_bins: int = 100, block_size: int | None = None,
                 n_layer: int = 4, n_head: int = 4, n_embd: int = 128, dropout: float = 0.1,
                 fused_attention: bool = True) -> None:
        self.obs_dim, self.act_dim, self.n_bins = obs_dim, act_dim, n_bins
        self.transition_dim = D = obs_dim + act_dim + 2
        block_size = block_size or 10 * D - 1
        super().__init__(GPTConfig(vocab_size=n_bins * D + 1, block_size=block_size, n_layer=n_layer,
                                   n_head=n_head, n_embd=n_embd, dropout=dropout,
                                   fused_attention=fused_attention))
        del self.head
        self.stop_token = n_bins * D
        # D heads of shape [n_bins + 1, C]; nn.Linear's default init per head, as TT's EinLinear.
        self.heads = nn.Parameter(torch.empty(D, n_bins + 1, n_embd))
        for j in range(D):
            nn.init.kaiming_uniform_(self.heads.data[j], a=math.sqrt(5))

    def embed(self, idx: torch.Tensor, past: int) -> torch.Tensor:
        j = (past + torch.arange(idx.shape[1], device=idx.device)) % self.transition_dim
        offset = torch.where(idx == self.n_bins, self.stop_token, idx + j * self.n_bins)
        return self.tok_emb(offset)

    def key_keep(self, length: int, device: torch.device) -> torch.Tensor:
        return torch.arange(length, device=device) % self.transition_dim != self.transition_dim - 1

    def output(self, h: torch.Tensor, past: int) -> torch.Tensor:
        j = (past + torch.arange(h.shape[1], device=h.device)) % self.transition_dim
        return torch.einsum("btc,tvc->btv", h, self.heads[j])

    def token_weights(self, action_weight: float = 5.0, reward_weight: float = 1.0,
                      value_weight: float = 1.0) -> torch.Tensor:
        """Loss weight of each within-transition index: obs 1, action 5, reward 1, value 1 (TT)."""
        return torch.tensor([1.0] * self.obs_dim + [action_weight] * self.act_dim
                            + [reward_weight, value_weight])


def trajectory_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                    weights: torch.Tensor, offset: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """TT's loss: ``mean_{b,t} w_{(t+offset) mod D} * CE(logits_bt, y_bt) * mask_bt``.

    ``targets`` [B, T] are the inputs shifted by one, so target t has within-transition index
    ``(t + 1) mod D`` for windows starting a transition. Masked positions count in the denominator
    (as in the official code). Returns (loss, per-token weighted CE [B, T] before masking).
    """
    B, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none").view(B, T)
    w = weights.to(logits.device)[(torch.arange(T, device=logits.device) + offset) % len(weights)]
    weighted = ce * w
    return (weighted * mask).mean(), weighted
