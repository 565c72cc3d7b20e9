"""PEARL's per-task replay: one :class:`rlkit.data.EpisodeBuffer` per task, sampled per task for
the RL batch and for the encoder's context (Rakelly et al. 2019, official ``MultiTaskReplayBuffer``)."""

from __future__ import annotations

import torch

from rlkit.data import EpisodeBuffer


class MultiTaskBuffer:
    """One :class:`EpisodeBuffer` per task, with RL and context batches for meta-RL (PEARL).

    ``sample(task_ids, B)`` gives [n, B, ...] transitions per task; ``sample_context(task_ids, C)``
    gives the [n, C, ...] transitions the task encoder infers ``z`` from.
    """

    def __init__(self, num_tasks: int, fields: dict[str, tuple[int, ...]],
                 capacity_per_task: int, device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.buffers = [EpisodeBuffer(fields, capacity_per_task, device=device, seed=seed + i)
                        for i in range(num_tasks)]

    def add_episode(self, task_id: int, episode: dict[str, torch.Tensor]) -> None:
        self.buffers[task_id].add_episode(episode)

    def sample(self, task_ids: list[int], batch_size: int) -> dict[str, torch.Tensor]:
        batches = [self.buffers[i].sample_transitions(batch_size) for i in task_ids]
        return {k: torch.stack([b[k] for b in batches]) for k in batches[0]}

    sample_context = sample

    def clear(self, task_id: int) -> None:
        """Empty one task's buffer (PEARL clears the encoder buffer before fresh collection)."""
        buf = self.buffers[task_id]
        buf.starts, buf.lengths, buf.size, buf._table = [], [], 0, None

    def state_dict(self) -> dict:
        return {"buffers": [b.state_dict() for b in self.buffers]}

    def load_state_dict(self, state: dict) -> None:
        for b, s in zip(self.buffers, state["buffers"], strict=True):
            b.load_state_dict(s)
