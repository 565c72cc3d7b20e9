"""What every algorithm shares beyond the runner's contract: saving and loading in one line each,
without Hydra, and the policy-only export that ``best.pt`` holds.

    agent.save("sac.pt")                  # the networks, the config, the env and the seed
    agent = SAC.load("sac.pt")            # rebuilt from them; acts at once
    agent = rlkit.load_run("outputs/...")  # from a run directory's best.pt (else last.pt)

The policy state is every ``torch.nn.Module`` the agent holds (its own attributes and one level
below, e.g. ``learner.actor``), found by walking the agent: replay buffers, optimizers and envs are
not modules, so they stay out. Files hold plain data only and load with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import importlib
from os import PathLike
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from rlkit.checkpoint import CheckpointError, load_checkpoint, plain, save_checkpoint
from rlkit.env_spec import EnvSpec
from rlkit.precision import PRECISIONS
from rlkit.seeding import TorchRNGStream

FORMAT = "rlkit-agent/1"


def _modules(obj: Any, prefix: str = "", depth: int = 2, seen: set[int] | None = None) -> dict[str, nn.Module]:
    """The networks an agent holds, by attribute path; a network reachable twice (a planner
    holding the agent's models) is listed once, under its first path."""
    seen = set() if seen is None else seen
    found: dict[str, nn.Module] = {}
    for name, value in vars(obj).items():
        if isinstance(value, nn.Module):
            if id(value) not in seen:
                seen.add(id(value))
                found[prefix + name] = value
        elif depth > 1 and hasattr(value, "__dict__") and type(value).__module__.startswith("rlkit."):
            found |= _modules(value, f"{prefix}{name}.", depth - 1, seen)
    return found


def _env_record(env: Any) -> dict[str, Any] | None:
    if isinstance(env, str):
        return {"id": env}
    if isinstance(env, EnvSpec):
        return plain(dataclasses.asdict(env))
    return None          # a factory: the loader must be given the env


class Agent:
    """Base class of the algorithms: ``save`` / ``load`` and the policy-only state."""

    config_class: type
    cfg: Any
    seed: int
    torch_stream: TorchRNGStream      # set by rlkit.seeding.own_torch_rng on __init__
    init_env: Any
    #: The ``precision`` settings the algorithm supports (rlkit.precision); the runner refuses others.
    precisions: tuple[str, ...] = PRECISIONS

    def train_step(self) -> dict[str, float]:
        """One unit of training (each algorithm says what), returning its metrics."""
        raise NotImplementedError

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """``eval/*`` metrics of ``episodes`` evaluation episodes (the same call, the same numbers)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (each algorithm says what)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        raise NotImplementedError

    def policy_state(self) -> dict[str, Any]:
        """The weights needed to act: the state of every network the agent holds."""
        return {"modules": {name: m.state_dict() for name, m in _modules(self).items()}}

    def load_policy_state(self, state: dict[str, Any]) -> None:
        """Load a :meth:`policy_state` into an agent built with the same configuration."""
        mine = _modules(self)
        missing = sorted(set(state["modules"]) ^ set(mine))
        if missing:
            raise CheckpointError(f"the saved policy does not fit this agent (networks {missing} differ); "
                                  "load it with the configuration it was saved with")
        for name, sd in state["modules"].items():
            mine[name].load_state_dict(sd)

    def save(self, path: str | Path) -> Path:
        """Write the policy, the config, the env and the seed to ``path`` (atomic, plain data)."""
        cls = type(self)
        return save_checkpoint({"format": FORMAT, "class": f"{cls.__module__}.{cls.__qualname__}",
                                "config": plain(dataclasses.asdict(self.cfg)), "seed": self.seed,
                                "env": _env_record(getattr(self, "init_env", None)),
                                "policy": self.policy_state()}, path)

    @classmethod
    def load(cls, path: str | Path, env: Any = None, device: str | torch.device = "cpu") -> Agent:
        """An agent rebuilt from a file written by :meth:`save` (``env`` replaces the saved one,
        and is needed when the agent was built from an env factory)."""
        state = load_checkpoint(path)
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not an agent file (written by agent.save); for a run "
                                  "directory use rlkit.load_run")
        saved: Any = _resolve(state["class"])
        if not issubclass(saved, cls):
            raise CheckpointError(f"{path} holds a {state['class']}, not a {cls.__name__}; load it with that "
                                  "class or with rlkit.agent.load_agent")
        if env is None:
            if state["env"] is None:
                raise CheckpointError(f"{path} was saved from an agent built on an env factory; pass env=")
            env = EnvSpec(**state["env"])
        agent = saved(saved.config_class(**state["config"]), env, device=device, seed=int(state["seed"]))
        agent.load_policy_state(state["policy"])
        return agent


def _resolve(path: str) -> type:
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise CheckpointError(f"{path} is not an rlkit algorithm")
    return cls


def load_agent(path: str | Path, env: Any = None, device: str | torch.device = "cpu") -> Agent:
    """Load a file written by ``agent.save`` whatever its algorithm."""
    return Agent.load(path, env, device)


def load_run(run_dir: str | PathLike[str], device: str | torch.device = "cpu",
             eval_kwargs: dict[str, Any] | None = None, checkpoint: str = "best") -> Agent:
    """The agent of a run directory: its configuration (``config.yaml``) with the policy of
    ``checkpoints/best.pt`` (the best evaluation), else (or with ``checkpoint="last"``) the full
    state of ``checkpoints/last.pt``. ``eval_kwargs`` override the env's evaluation kwargs (evaluate
    the policy on another split)."""
    import yaml

    from rlkit.env_spec import env_spec_from_config
    from rlkit.runner import build_algorithm

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint={checkpoint!r} must be best or last")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    env_cfg = dict(cfg["env"], eval_kwargs={**(cfg["env"].get("eval_kwargs") or {}), **(eval_kwargs or {})})
    env = env_spec_from_config(env_cfg)
    agent = cast(Agent, build_algorithm(cfg["algo"], env, torch.device(device), int(cfg["seed"])))
    best, last = run_dir / "checkpoints" / "best.pt", run_dir / "checkpoints" / "last.pt"
    if checkpoint == "best" and best.is_file() and "policy" in (state := load_checkpoint(best)):
        agent.load_policy_state(state["policy"])
    else:
        agent.load_state_dict(load_checkpoint(last)["algo"])
    return agent
