"""Hindsight Task Relabelling (Packer, Abbeel, Gonzalez 2021), rebuilt from the paper (no code was
published; every choice marked *ours* is a config key, see docs/htr.md).

Lazy relabelling of one task slot of the meta-batch:
1. draw one stored episode tau of the slot's task (from its RL buffer);
2. propose a hindsight task g' that tau solved: uniformly among the TRAIN tasks whose sparse reward
   tau earned at some step (``hindsight="train_tasks"``, default); ``hindsight="visited"``
   (HER-style, a documented non-default) takes the achieved state of a random step of tau instead;
   if tau earned no reward under any admissible task, the slot stays a plain PEARL slot;
3. SER (single-episode relabelling): context batch and RL batch are both drawn from tau alone
   (with replacement). EC (episode clustering): from the cluster of tau plus every episode of a
   random candidate pool (``ec_pool`` episodes of any train task) that also earns reward under g';
4. rewards of BOTH batches are recomputed under g' with the env's pure reward function (sparse
   for the context; the critic's reward kind for the RL batch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

RewardFn = Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]


def solved_tasks(next_obs: torch.Tensor, task_goals: torch.Tensor, reward_fn: RewardFn) -> torch.Tensor:
    """Indices of the tasks (goals [M, g]) under which an episode (next_obs [H, d]) earns sparse reward."""
    r = reward_fn(next_obs[:, None, :], task_goals[None, :, :], "sparse")     # [H, M]
    return (r > 0).any(0).nonzero().squeeze(-1)


def propose_goal(episode: dict[str, torch.Tensor], task_goals: torch.Tensor, reward_fn: RewardFn,
                 achieved: Callable[[torch.Tensor], torch.Tensor], mode: str,
                 generator: torch.Generator) -> torch.Tensor | None:
    """g' for ``episode`` (step 2 of the module docstring), or None when it solved no task."""
    if mode == "visited":
        t = int(torch.randint(len(episode["next_obs"]), (1,), generator=generator))
        return achieved(episode["next_obs"][t])
    hits = solved_tasks(episode["next_obs"], task_goals, reward_fn)
    if len(hits) == 0:
        return None
    return task_goals[hits[int(torch.randint(len(hits), (1,), generator=generator))]]


def draw(transitions: dict[str, torch.Tensor], n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``n`` transitions drawn uniformly with replacement."""
    size = len(next(iter(transitions.values())))
    idx = torch.randint(size, (n,), generator=generator)
    return {k: v[idx] for k, v in transitions.items()}


def cluster(episode: dict[str, torch.Tensor], pool: list[dict[str, torch.Tensor]], goal: torch.Tensor,
            reward_fn: RewardFn) -> dict[str, torch.Tensor]:
    """EC: ``episode`` plus the pool episodes that earn sparse reward under ``goal``, concatenated."""
    members = [episode] + [p for p in pool if bool((reward_fn(p["next_obs"], goal, "sparse") > 0).any())]
    return {k: torch.cat([m[k] for m in members]) for k in episode}


def with_rewards(batch: dict[str, torch.Tensor], goal: torch.Tensor, reward_fn: RewardFn,
                 kind: str) -> dict[str, torch.Tensor]:
    """Copy of ``batch`` whose ``reward`` is recomputed under ``goal`` (step 4)."""
    out = dict(batch)
    out["reward"] = reward_fn(batch["next_obs"], goal, kind).to(batch["obs"].dtype)
    return out
