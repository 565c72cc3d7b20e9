"""Helpers shared by the baseline agents: evaluation episodes, polyak averaging, action scaling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """theta_target <- tau * theta + (1 - tau) * theta_target."""
    for tp, p in zip(target.parameters(), source.parameters(), strict=True):
        tp.lerp_(p, tau)


def act_batched(obs: Any, device: torch.device, policy: Callable[[torch.Tensor], np.ndarray],
                obs_ndim: int = 1) -> np.ndarray:
    """Run ``policy`` on obs as a [B, obs_dim] float tensor; a single observation (``obs_ndim``
    dimensions, e.g. 3 for images) in, one action out."""
    obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=device)
    single = obs_t.dim() == obs_ndim
    with torch.no_grad():
        a = policy(obs_t.reshape(1 if single else len(obs_t), -1))
    return a[0] if single else a


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al.'s parallel update)."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, x: torch.Tensor) -> None:
        b_mean, b_var, b_count = float(x.mean()), float(x.var(unbiased=False)), x.numel()
        delta, total = b_mean - self.mean, self.count + b_count
        self.mean += delta * b_count / total
        self.var = (self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total) / total
        self.count = total

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), float(state["count"])


class ActionScaler:
    """Maps a tanh-squashed action in [-1, 1] to the Box ``[low, high]`` of the env."""

    def __init__(self, space: gym.spaces.Box) -> None:
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"continuous-action agent needs a Box action space, got {space}")
        if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
            raise ValueError("action space bounds must be finite to squash actions with tanh")
        self.scale = (space.high - space.low) / 2.0
        self.bias = (space.high + space.low) / 2.0

    def to_env(self, a: np.ndarray) -> np.ndarray:
        return a * self.scale + self.bias


class Evaluator:
    """Runs evaluation episodes in a dedicated env: episode k of a call with ``seed`` resets with
    ``seed + k``, so evaluation never touches the training RNG streams and the same call returns
    the same numbers.

    Return and length always; ``eval/success`` when the env reports ``is_success`` or ``success``
    in its infos; the numbers an env puts in ``info["episode_metrics"]`` on an episode's last step
    are averaged into ``eval/<name>``.
    """

    def __init__(self, env_fn: Callable[[], gym.Env]) -> None:
        self.env = env_fn()

    def run(self, act: Callable[[np.ndarray], Any], episodes: int, seed: int) -> dict[str, float]:
        returns, lengths, successes = [], [], []
        extra: dict[str, list[float]] = {}
        for k in range(episodes):
            obs, _ = self.env.reset(seed=seed + k)
            done, ret, length, success = False, 0.0, 0, None
            while not done:
                obs, r, terminated, truncated, info = self.env.step(act(obs))
                ret, length = ret + float(r), length + 1
                flag = info.get("is_success", info.get("success"))
                if flag is not None:
                    success = max(success or 0.0, float(flag))
                done = terminated or truncated
            returns.append(ret)
            lengths.append(length)
            if success is not None:
                successes.append(success)
            for name, v in info.get("episode_metrics", {}).items():
                extra.setdefault(f"eval/{name}", []).append(float(v))
        out = {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
               "eval/length": float(np.mean(lengths))}
        if successes:
            out["eval/success"] = float(np.mean(successes))
        return out | {k: float(np.mean(v)) for k, v in extra.items()}


class EnvLoop:
    """A SAME_STEP vector env with its current observation, the running return and length of
    each sub-env's episode, and a dedicated evaluation env; all of it checkpointable."""

    def __init__(self, env: Any, num_envs: int, seed: int) -> None:
        from rlkit.env_spec import eval_env_factory, make_vector_env

        self.envs = make_vector_env(env, num_envs, seed)
        self.evaluator = Evaluator(eval_env_factory(env))
        self.obs, _ = self.envs.reset(seed=seed)
        self._ret = np.zeros(num_envs)
        self._len = np.zeros(num_envs, dtype=np.int64)

    def step(self, action: np.ndarray):
        """Step all sub-envs; returns (next_obs, reward, terminated, truncated, infos, finished)
        where ``finished`` lists (return, length) of the episodes that just ended. ``obs``
        becomes ``next_obs`` (the reset observation where an episode ended)."""
        next_obs, reward, term, trunc, infos = self.envs.step(action)
        self._ret += reward
        self._len += 1
        ended = term | trunc
        finished = [(float(self._ret[i]), int(self._len[i])) for i in np.flatnonzero(ended)]
        self._ret[ended], self._len[ended] = 0.0, 0
        self.obs = next_obs
        return next_obs, reward, term, trunc, infos, finished

    def state_dict(self) -> dict[str, Any]:
        from rlkit.env_state import env_state

        return {"obs": torch.as_tensor(self.obs), "ret": torch.as_tensor(self._ret),
                "len": torch.as_tensor(self._len), "envs": env_state(self.envs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from rlkit.env_state import load_env_state

        self.obs = state["obs"].numpy().copy()
        self._ret, self._len = state["ret"].numpy().copy(), state["len"].numpy().copy()
        load_env_state(self.envs, state["envs"])


def ensemble_q(net: nn.Module, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Q_j(s, a) of every ensemble member: [num_q, B]."""
    return net(torch.cat([obs, action], -1)).squeeze(-1)


def regress_critics(q: torch.Tensor, y: torch.Tensor, optim: torch.optim.Optimizer) -> dict[str, float]:
    """One step on L_Q = sum_j E[(Q_j(s, a) - y)^2]; q: [num_q, B], y: [B] (no gradient)."""
    loss = ((q - y) ** 2).mean(1).sum()
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    return {"loss/critic": loss.item(), "stats/q": q.mean().item()}
