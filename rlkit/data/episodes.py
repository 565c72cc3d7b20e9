"""Episode-indexed storage: whole episodes packed contiguously, with an episode table.

Views on it (all vectorised, one ``index_select`` per batch):
- :meth:`EpisodeBuffer.sample_transitions`: uniform over stored steps;
- :meth:`EpisodeBuffer.sample_windows`: length-K sequence windows with padding, masks, timesteps
  and returns-to-go, for sequence models; episodes may be appended during training (BooT);
- :meth:`EpisodeBuffer.sample_goals`: hindsight goals of a sampled step (``rlkit.data.relabel``).

Returns-to-go are stored per step at insertion: ``rtg_t = sum_{k>=t} gamma^(k-t) r_k`` within the
episode. When ``capacity`` is exceeded the oldest whole episodes are evicted (FIFO).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from rlkit.data.storage import FieldSpec, PackedTensor


def discounted_cumsum(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """rtg_t = r_t + gamma * rtg_{t+1}, over the first dimension."""
    out = torch.empty_like(rewards)
    acc = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        acc = rewards[t] + gamma * acc
        out[t] = acc
    return out


class EpisodeBuffer:
    """Whole episodes of ``fields`` (must include ``reward`` for returns-to-go)."""

    def __init__(self, fields: FieldSpec, capacity: int, gamma: float = 1.0,
                 device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.gamma = gamma
        spec = dict(fields)
        self.track_rtg = "reward" in spec
        if self.track_rtg:
            spec["rtg"] = ()
        self.max_size = capacity
        self.storage = PackedTensor(spec, min(capacity, 1024), device)
        self.starts: list[int] = []
        self.lengths: list[int] = []
        self.size = 0
        self.generator = torch.Generator().manual_seed(seed)
        self._table: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ writing
    def add_episode(self, episode: Mapping[str, Any]) -> int:
        """Append one episode (dict of [T, *shape]); returns its index in the table."""
        values = {k: torch.as_tensor(v) for k, v in episode.items()}
        if self.track_rtg:
            values["rtg"] = discounted_cumsum(values["reward"].float().reshape(-1), self.gamma)
        rows = self.storage.pack(values)
        T = rows.shape[0]
        if T == 0:
            raise ValueError("cannot add an empty episode")
        if self.max_size < T:
            raise ValueError(f"episode of {T} steps exceeds the buffer capacity {self.max_size}")
        while self.size + T > self.max_size:
            self._evict_oldest()
        if self.size + T > self.storage.capacity:
            self.storage.grow(min(self.max_size, max(2 * self.storage.capacity, self.size + T)))
        self.storage.data[self.size:self.size + T] = rows
        self.starts.append(self.size)
        self.lengths.append(T)
        self.size += T
        self._table = None
        return len(self.lengths) - 1

    def _evict_oldest(self) -> None:
        T = self.lengths.pop(0)
        self.starts.pop(0)
        data = self.storage.data
        data[: self.size - T] = data[T:self.size].clone()
        self.size -= T
        self.starts = [s - T for s in self.starts]
        self._table = None

    @property
    def num_episodes(self) -> int:
        return len(self.lengths)

    def table(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(starts [E], lengths [E], episode id of each row [N]) as tensors (cached)."""
        if self._table is None:
            starts = torch.tensor(self.starts, dtype=torch.long)
            lengths = torch.tensor(self.lengths, dtype=torch.long)
            row_ep = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
            self._table = (starts, lengths, row_ep)
        return self._table

    def episode(self, i: int) -> dict[str, torch.Tensor]:
        s, T = self.starts[i], self.lengths[i]
        return self.storage.unpack(self.storage.data[s:s + T])

    # ------------------------------------------------------------------ sampling
    def sample_rows(self, batch_size: int) -> torch.Tensor:
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty episode buffer")
        return torch.randint(0, self.size, (batch_size,), generator=self.generator)

    def sample_transitions(self, batch_size: int) -> dict[str, torch.Tensor]:
        """Uniform over stored steps; adds ``episode`` and ``t`` (step within the episode)."""
        rows = self.sample_rows(batch_size)
        starts, _, row_ep = self.table()
        batch = self.storage.read(rows)
        batch["episode"] = row_ep[rows]
        batch["t"] = rows - starts[batch["episode"]]
        return batch

    def sample_windows(self, batch_size: int, length: int) -> dict[str, torch.Tensor]:
        """Windows of ``length`` steps starting at a uniformly sampled step.

        Steps past the episode end are padding: zeros with ``mask`` 0. Returns the fields as
        [B, K, *shape] plus ``mask`` [B, K], ``timestep`` [B, K] (step within the episode) and,
        when rewards are stored, ``rtg`` [B, K].
        """
        rows = self.sample_rows(batch_size)
        starts, lengths, row_ep = self.table()
        ep = row_ep[rows]
        t0 = rows - starts[ep]
        offs = torch.arange(length)
        t = t0[:, None] + offs[None, :]                       # [B, K]
        mask = t < lengths[ep][:, None]
        idx = torch.where(mask, starts[ep][:, None] + t, rows[:, None])
        batch = self.storage.read(idx)
        m = mask.to(self.storage.data.dtype)
        for k, v in batch.items():
            batch[k] = v * m.view(*m.shape, *[1] * (v.dim() - 2))
        batch["mask"] = mask
        batch["timestep"] = torch.where(mask, t, torch.zeros_like(t))
        return batch

    def sample_goal_rows(self, episode: torch.Tensor, t: torch.Tensor, strategy: str) -> torch.Tensor:
        """Rows whose achieved goal becomes the hindsight goal of step ``t`` of ``episode``.

        ``future``: uniform over steps t..T-1 of the same episode; ``final``: step T-1;
        ``episode``: uniform over 0..T-1 (Andrychowicz et al. 2017, HER).
        """
        starts, lengths, _ = self.table()
        T = lengths[episode]
        u = torch.rand(t.shape, generator=self.generator)
        if strategy == "future":
            g = t + (u * (T - t)).long()
        elif strategy == "final":
            g = T - 1
        elif strategy == "episode":
            g = (u * T).long()
        else:
            raise ValueError(f"goal strategy {strategy!r} is unknown; use future, final or episode")
        return starts[episode] + torch.minimum(g, T - 1)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"data": self.storage.data[: self.size].clone(), "starts": list(self.starts),
                "lengths": list(self.lengths), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = state["data"].shape[0]
        if n > self.storage.capacity:
            self.storage.grow(n)
        self.storage.data[:n] = state["data"].to(self.storage.data.device)
        self.starts, self.lengths = list(state["starts"]), list(state["lengths"])
        self.size = n
        self.generator.set_state(state["generator"])
        self._table = None
