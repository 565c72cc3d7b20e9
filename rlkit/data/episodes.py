"""Episode-indexed storage: whole episodes packed contiguously, with an episode table.

:meth:`EpisodeBuffer.sample_transitions` draws uniformly over stored steps (one ``index_select``
per batch) and says which episode and step each row is, so that algorithms relabel from the same
episode (C-learning's future goals, PEARL's per-task buffers in ``rlkit.algos.htr.buffer``).
When ``capacity`` is exceeded the oldest whole episodes are evicted (FIFO).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from rlkit.data.storage import FieldSpec, PackedTensor


class EpisodeBuffer:
    """Whole episodes of ``fields``."""

    def __init__(self, fields: FieldSpec, capacity: int, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.max_size = capacity
        self.storage = PackedTensor(dict(fields), min(capacity, 1024), device)
        self.starts: list[int] = []
        self.lengths: list[int] = []
        self.size = 0
        self.generator = torch.Generator().manual_seed(seed)
        self._table: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ writing
    def add_episode(self, episode: Mapping[str, Any]) -> int:
        """Append one episode (dict of [T, *shape]); returns its index in the table."""
        values = {k: torch.as_tensor(v) for k, v in episode.items()}
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
