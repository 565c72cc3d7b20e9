"""Offline trajectories as Trajectory-Transformer token windows (BooT ``utils/dataset.py``).

1. Episodes end at ``terminals | timeouts``; steps after the last end are dropped.
2. At a true terminal the reward is *replaced* by ``termination_penalty`` (-100).
3. Reward-to-go excludes the current reward: ``R_t = sum_{k>t} gamma^(k-t-1) r_k`` (``R_T-1 = 0``).
4. ``x_t = [s_t, a_t, r_t, R_t]`` is discretised per dimension into ``n_bins`` equal-mass bins
   (edges at the percentiles ``linspace(0, 100, n_bins + 1)``); reconstruction is the bin midpoint.
5. Every episode is followed by ``seq_len - 1`` stop transitions (token ``n_bins``). A window is
   ``seq_len`` transitions starting at step ``i in [0, T-2]``; positions with step index > T are
   masked out of the loss (so the first stop transition is trained on, as in BooT).
6. ``X = tokens[:-1]``, ``Y = tokens[1:]``, ``mask`` shifted like ``Y``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rlkit.data import DatasetError, OfflineDataset


class QuantileDiscretizer:
    """Per-dimension equal-mass bins fitted on ``data`` [N, D] (float64)."""

    def __init__(self, data: np.ndarray | None = None, n_bins: int = 100,
                 edges: np.ndarray | None = None) -> None:
        if edges is None:
            if data is None or len(data) < 2:
                raise DatasetError("the discretizer needs at least 2 transitions to fit its bins")
            edges = np.percentile(np.asarray(data, np.float64), np.linspace(0, 100, n_bins + 1), axis=0).T
        self.edges = np.asarray(edges, np.float64)                      # [D, n_bins + 1]
        self.n_bins = self.edges.shape[1] - 1
        self.midpoints = (self.edges[:, :-1] + self.edges[:, 1:]) / 2   # [D, n_bins]

    @property
    def dim(self) -> int:
        return self.edges.shape[0]

    def discretize(self, x: np.ndarray, start: int = 0) -> np.ndarray:
        """Tokens of ``x`` [..., d] for dimensions ``start .. start+d-1``: ``digitize - 1``, clipped."""
        x = np.asarray(x, np.float64)
        out = np.empty(x.shape, dtype=np.int64)
        for k in range(x.shape[-1]):
            out[..., k] = np.digitize(x[..., k], self.edges[start + k]) - 1
        return np.clip(out, 0, self.n_bins - 1)

    def reconstruct(self, tokens: np.ndarray | torch.Tensor, start: int = 0) -> np.ndarray:
        """Bin midpoints of ``tokens`` [..., d] (stop tokens are clipped to the last bin)."""
        tokens = np.clip(np.asarray(tokens.cpu() if torch.is_tensor(tokens) else tokens), 0, self.n_bins - 1)
        d = tokens.shape[-1]
        return np.stack([self.midpoints[start + k][tokens[..., k]] for k in range(d)], axis=-1)

    def expectation(self, probs: torch.Tensor, dim: int) -> torch.Tensor:
        """``E[x_dim] = sum_b p_b * midpoint_b`` over the first ``n_bins`` entries of ``probs``
        (the stop token's mass is ignored, not renormalised, as in the official value_fn)."""
        mid = torch.as_tensor(self.midpoints[dim], dtype=probs.dtype, device=probs.device)
        return probs[..., :self.n_bins] @ mid

    def state_dict(self) -> dict[str, Any]:
        return {"edges": torch.as_tensor(self.edges)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> QuantileDiscretizer:
        return cls(edges=np.asarray(state["edges"]))


def reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``R_t = sum_{k>t} gamma^(k-t-1) r_k`` within one episode (the current reward excluded)."""
    out = np.zeros_like(rewards, dtype=np.float64)
    acc = 0.0
    for t in range(len(rewards) - 1, 0, -1):
        acc = rewards[t] + gamma * acc
        out[t - 1] = acc
    return out


def joined_transitions(ds: OfflineDataset, gamma: float, termination_penalty: float | None
                       ) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-episode ``[s, a, r, R]`` arrays (penalised rewards) and the raw episode returns."""
    ends = np.flatnonzero(ds.terminals | ds.timeouts) + 1
    if len(ends) == 0:
        raise DatasetError(f"{ds.source}: no episode ends (terminals | timeouts are all False); "
                           "mark the last step of every episode")
    obs = np.asarray(ds.observations, np.float64).reshape(len(ds), -1)
    act = np.asarray(ds.actions, np.float64).reshape(len(ds), -1)
    rew = np.asarray(ds.rewards, np.float64)
    penalised = rew.copy()
    if termination_penalty is not None:
        penalised[ds.terminals] = termination_penalty
    episodes, returns = [], []
    for s, e in zip(np.concatenate([[0], ends[:-1]]), ends, strict=True):
        r = penalised[s:e]
        episodes.append(np.concatenate([obs[s:e], act[s:e], r[:, None], reward_to_go(r, gamma)[:, None]], 1))
        returns.append(rew[s:e].sum())
    return episodes, np.asarray(returns)


@dataclass
class TrajectoryWindows:
    """Token windows over stop-padded episodes, packed flat: rows [sum(T_e + K - 1), D]."""

    tokens: torch.Tensor          # [rows, D] int64
    window_rows: torch.Tensor     # [M] first row of each window
    window_steps: torch.Tensor    # [M] its step index within the episode
    window_lengths: torch.Tensor  # [M] the episode's length T
    seq_len: int

    def __len__(self) -> int:
        return len(self.window_rows)

    @property
    def transition_dim(self) -> int:
        return self.tokens.shape[1]

    def batch(self, idx: torch.Tensor, device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(X, Y, mask) for windows ``idx``: each [B, K*D - 1]."""
        K, D = self.seq_len, self.transition_dim
        k = torch.arange(K)
        rows = self.window_rows[idx][:, None] + k                        # [B, K]
        seq = self.tokens[rows].reshape(len(idx), K * D)
        steps = self.window_steps[idx][:, None] + k
        mask = (steps <= self.window_lengths[idx][:, None]).repeat_interleave(D, dim=1)
        return seq[:, :-1].to(device), seq[:, 1:].to(device), mask[:, 1:].to(device)


def build_windows(episodes: list[np.ndarray], discretizer: QuantileDiscretizer, seq_len: int
                  ) -> TrajectoryWindows:
    """Discretise ``episodes`` and index every window start ``i in [0, T-2]``."""
    D = discretizer.dim
    if episodes[0].shape[1] != D:
        raise DatasetError(f"transitions have {episodes[0].shape[1]} dims but the discretizer "
                           f"was fitted on {D}; use data with the same observation/action sizes")
    blocks, rows, steps, lengths, offset = [], [], [], [], 0
    stop = np.full((seq_len - 1, D), discretizer.n_bins, dtype=np.int64)
    for ep in episodes:
        T = len(ep)
        blocks += [discretizer.discretize(ep), stop]
        starts = np.arange(max(T - 1, 0))
        rows.append(offset + starts)
        steps.append(starts)
        lengths.append(np.full(len(starts), T))
        offset += T + seq_len - 1
    if sum(len(r) for r in rows) == 0:
        raise DatasetError("every episode has a single step; no training window fits")
    cat = (lambda xs: torch.as_tensor(np.concatenate(xs)))
    return TrajectoryWindows(tokens=cat(blocks), window_rows=cat(rows), window_steps=cat(steps),
                             window_lengths=cat(lengths), seq_len=seq_len)


def trajectory_windows(ds: OfflineDataset, n_bins: int = 100, seq_len: int = 10, gamma: float = 0.99,
                       termination_penalty: float | None = -100.0,
                       discretizer: QuantileDiscretizer | None = None
                       ) -> tuple[TrajectoryWindows, QuantileDiscretizer]:
    """The BooT pipeline on one dataset; a held-out set passes the training ``discretizer``."""
    episodes, _ = joined_transitions(ds, gamma, termination_penalty)
    if discretizer is None:
        discretizer = QuantileDiscretizer(np.concatenate(episodes), n_bins)
    return build_windows(episodes, discretizer, seq_len), discretizer
