"""Hindsight relabelling at sample time with pure reward functions.

Goals (HER, Andrychowicz et al. 2017): a fraction ``relabel_prob`` of a transition batch gets its
``desired_goal`` replaced by an achieved goal from the same episode (strategy ``future``,
``final`` or ``episode``) and its reward recomputed as ``reward_fn(next_achieved_goal, goal)``.

Tasks (hindsight task relabelling, Packer et al. 2021): transitions get a new task ``psi`` and
their reward recomputed as ``reward_fn(obs, action, next_obs, psi)``. The reward functions are
pure (no env object), so relabelling works offline, online and on the GPU alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rlkit.data.episodes import EpisodeBuffer

GoalReward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
TaskReward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def sample_her(buffer: EpisodeBuffer, batch_size: int, reward_fn: GoalReward,
               strategy: str = "future", relabel_prob: float = 0.8) -> dict[str, torch.Tensor]:
    """Transitions with hindsight goals.

    The buffer stores ``next_achieved_goal`` and ``desired_goal`` per step; the returned batch has
    ``desired_goal`` relabelled for a ``relabel_prob`` fraction of rows, ``reward`` recomputed
    for all rows from the (possibly new) goal, and ``relabelled`` [B] bool.
    """
    batch = buffer.sample_transitions(batch_size)
    relabel = torch.rand(batch_size, generator=buffer.generator) < relabel_prob
    goal_rows = buffer.sample_goal_rows(batch["episode"], batch["t"], strategy)
    new_goals = buffer.storage.read(goal_rows)["next_achieved_goal"]
    mask = relabel.view(-1, *[1] * (new_goals.dim() - 1))
    batch["desired_goal"] = torch.where(mask, new_goals, batch["desired_goal"])
    batch["reward"] = reward_fn(batch["next_achieved_goal"], batch["desired_goal"]).to(batch["reward"])
    batch["relabelled"] = relabel
    return batch


def relabel_tasks(batch: dict[str, torch.Tensor], tasks: torch.Tensor,
                  reward_fn: TaskReward) -> dict[str, torch.Tensor]:
    """Copy of ``batch`` with task ``tasks`` [B, task_dim] and rewards recomputed under it."""
    out = dict(batch)
    out["task"] = tasks
    out["reward"] = reward_fn(batch["obs"], batch["action"], batch["next_obs"], tasks).to(batch["reward"])
    return out


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
