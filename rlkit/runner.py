"""The experiment loop: build -> train / evaluate / checkpoint / log -> summary.

The runner owns time, logging, checkpoints and the evaluation schedule; the algorithm owns its
networks, optimizers, buffers and environments (the contract in docs/architecture.md).
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from rlkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rlkit.config import ConfigError, build_config, check, flatten, resolve_device, set_threads
from rlkit.env_spec import EnvLike
from rlkit.logging import Logger, Progress, Tee
from rlkit.precision import PRECISIONS, autocast
from rlkit.seeding import rng_state, seed_everything, set_rng_state


class Algorithm(Protocol):
    """What the runner drives. ``train_step`` is one unit of progress, documented per algorithm."""

    def train_step(self) -> dict[str, float]: ...
    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]: ...
    def act(self, obs: Any, deterministic: bool = True) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class RunnerConfig:
    """Loop schedule, in units of ``train_step()`` calls. ``steps=None`` takes the algorithm's own
    schedule length (its ``total_steps``, e.g. BooT's epochs scaled by dataset size)."""

    steps: int | None = 1000
    eval_every: int = 100
    log_every: int = 10
    checkpoint_every: int = 100
    eval_episodes: int = 10

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            check((name == "steps" and value is None) or (value is not None and value > 0), name, value,
                  "must be > 0")
        check(self.eval_episodes >= 0, "eval_episodes", self.eval_episodes, "must be >= 0")


#: Counters are logged as their current value; every other training metric is averaged over the
#: steps since the previous row.
COUNTERS = ("train/env_steps", "train/grad_steps", "train/episodes")


class NonFiniteMetricError(RuntimeError):
    """A loss became NaN/inf; the last checkpoint is kept so the run can resume after a fix."""


def build_algorithm(algo_cfg: dict[str, Any], env: EnvLike, device: torch.device,
                    seed: int) -> Algorithm:
    """Instantiate ``algo_cfg['cls']`` with its typed config built from the remaining keys."""
    from hydra.utils import get_class

    values = dict(algo_cfg)
    cls: Any = get_class(values.pop("cls"))
    values.pop("name", None)
    config = build_config(cls.config_class, values)
    return cls(config, env, device=device, seed=seed)


class Runner:
    """Runs one experiment in ``run_dir``; resumes from ``run_dir/checkpoints/last.pt`` if present."""

    def __init__(self, algo: Algorithm, run_dir: str | Path, cfg: RunnerConfig,
                 logger: Logger, seed: int, config_yaml: str = "", precision: str = "fp32",
                 device: torch.device | str = "cpu") -> None:
        self.algo, self.cfg, self.logger, self.seed = algo, cfg, logger, seed
        self.precision, self.device = precision, torch.device(device)
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.config_yaml = config_yaml
        self.step = 0
        self.best = -math.inf
        self.wall_time = 0.0  # seconds spent in earlier (killed or finished) sessions
        self._t_start = time.perf_counter()
        self._sums: dict[str, float] = {}   # metric sums and counts since the last log row
        self._counts: dict[str, int] = {}
        self.last_eval: dict[str, float] = {}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "algo": self.algo.state_dict(), "rng": rng_state(),
                "runner": {"best": self.best, "wall_time": self.elapsed(), "sums": dict(self._sums),
                           "counts": dict(self._counts), "last_eval": dict(self.last_eval)},
                "config": self.config_yaml}

    def elapsed(self) -> float:
        """Wall time of the whole run so far, across resumes."""
        return self.wall_time + time.perf_counter() - self._t_start

    def save(self) -> None:
        save_checkpoint(self.state_dict(), self.ckpt_dir / "last.pt")

    def save_best(self) -> None:
        """``best.pt``: the policy only (``policy_state``, rlkit.agent.Agent), or the whole state of
        an algorithm that does not define one."""
        if hasattr(self.algo, "policy_state"):
            state = {"step": self.step, "policy": self.algo.policy_state()}
        else:
            state = {"step": self.step, "algo": self.algo.state_dict()}
        save_checkpoint(state, self.ckpt_dir / "best.pt")

    def try_resume(self) -> bool:
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            return False
        state = load_checkpoint(path)
        try:
            self.algo.load_state_dict(state["algo"])
        except KeyError as missing:
            raise CheckpointError(f"{path} lacks {missing} (written by an older rlkit): it cannot be resumed "
                                  "with this version; start a new run directory (or use the rlkit version "
                                  "that wrote it)") from None
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        r = state["runner"]
        self.best, self.wall_time = float(r["best"]), float(r["wall_time"])
        self._sums, self._counts = dict(r["sums"]), dict(r["counts"])
        self.last_eval = dict(r["last_eval"])
        self.logger.resume(self.step)
        return True

    # ------------------------------------------------------------------ loop
    def _accumulate(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            v = float(v)
            if not math.isfinite(v) and k.startswith("loss/"):
                raise NonFiniteMetricError(
                    f"{k} became {v} at step {self.step}; lower the learning rate or check the "
                    f"data, then resume from {self.ckpt_dir / 'last.pt'} (saved before this step)")
            if k in COUNTERS:
                self._sums[k], self._counts[k] = v, 1
            else:
                self._sums[k] = self._sums.get(k, 0.0) + v
                self._counts[k] = self._counts.get(k, 0) + 1

    def run(self) -> dict[str, float]:
        cfg = self.cfg
        assert cfg.steps is not None, "run_experiment resolves runner.steps=null before the loop"
        progress = Progress(cfg.steps, initial=self.step, unit=getattr(self.algo, "step_unit", "train_step"))
        self._t_start, step_start = time.perf_counter(), self.step
        try:
            while self.step < cfg.steps:
                with autocast(self.precision, self.device):
                    metrics = self.algo.train_step()
                self.step += 1
                self._accumulate(metrics)
                row: dict[str, float] = {}
                log_now = self.step % cfg.log_every == 0 or self.step == cfg.steps
                if log_now:
                    row.update({k: v / self._counts[k] for k, v in self._sums.items()})
                    self._sums, self._counts = {}, {}
                eval_now = self.step % cfg.eval_every == 0 or self.step == cfg.steps
                if cfg.eval_episodes and eval_now:
                    with autocast(self.precision, self.device):
                        self.last_eval = self.algo.evaluate(cfg.eval_episodes)
                    row.update(self.last_eval)
                    ret = self.last_eval.get("eval/return", -math.inf)
                    if ret > self.best:
                        self.best = ret
                        self.save_best()
                if log_now or row:
                    row["time/elapsed_s"] = self.elapsed()
                    row["time/steps_per_s"] = (self.step - step_start) / max(
                        time.perf_counter() - self._t_start, 1e-9)
                    self.logger.log(self.step, row)
                    progress.update(self.step, row)
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()
        finally:
            progress.close()
        self.wall_time = self.elapsed()
        self._t_start = time.perf_counter()
        return self.last_eval


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import gymnasium
    import numpy

    try:
        ours = version("rlkit-offmeta")
    except PackageNotFoundError:          # a checkout used without installing it
        ours = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__,
            "gymnasium": gymnasium.__version__, "numpy": numpy.__version__, "rlkit": ours}


def write_summary(run_dir: Path, runner: Runner, device: torch.device) -> dict[str, Any]:
    summary = {"final": runner.last_eval, "best_eval_return": runner.best, "steps": runner.step,
               "wall_time_s": runner.wall_time, "device": str(device), "versions": versions(),
               "git_commit": _git_commit()}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def plot_learning_curve(run_dir: Path, metric: str = "eval/return", title: str = "") -> Path | None:
    """Write ``<run_dir>/learning_curve.png`` of ``metric`` against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.read_csv(run_dir / "metrics.csv")
    if metric not in df:
        return None
    df = df.dropna(subset=[metric])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(df["step"], df[metric], marker="o", ms=3)
    ax.set_xlabel("train_step")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = run_dir / "learning_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


#: What may change when a run directory is resumed: the run's length, what is logged, and the
#: precision (checkpoints hold fp32 weights and optimizer states whatever the precision).
RESUMABLE_CHANGES = ("runner.steps", "runner.log_every", "runner.checkpoint_every", "logger.", "resume",
                     "precision")


def check_same_run(run_dir: Path, config_yaml: str) -> None:
    """Refuse to resume a run directory whose checkpoint was written with another configuration
    (anything but :data:`RESUMABLE_CHANGES`): one line naming the keys that differ."""
    import yaml

    saved = run_dir / "config.yaml"
    if not (run_dir / "checkpoints" / "last.pt").exists() or not saved.exists():
        return
    old, new = flatten(yaml.safe_load(saved.read_text())), flatten(yaml.safe_load(config_yaml))
    changed = sorted(k for k in old.keys() | new.keys()
                     if old.get(k) != new.get(k) and not k.startswith(RESUMABLE_CHANGES))
    if old.get("precision", "fp32") != new.get("precision", "fp32"):
        print(f"note: {run_dir} was trained with precision={old.get('precision', 'fp32')}; it continues with "
              f"precision={new.get('precision', 'fp32')} (weights and optimizer states are fp32 either way)",
              flush=True)
    if changed:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise ConfigError(f"{run_dir} holds a run with another configuration ({shown}{more}); resume it with "
                          "its own settings (only runner.steps, logging and checkpoint intervals may change), "
                          "or start a new run in another directory (hydra.run.dir=..., no resume=)")


def run_experiment(cfg: Any, run_dir: str | Path) -> dict[str, Any]:
    """Build everything from a composed Hydra config and run it in ``run_dir``.

    Raises :class:`ConfigError` (one line, no traceback in ``run.py``) for invalid values.
    Everything printed meanwhile is also written to ``<run_dir>/run.log``, and so is the error
    that ends a run.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Tee(out, run_dir / "run.log"), Tee(err, run_dir / "run.log")
    try:
        return _run_experiment(cfg, run_dir)
    except Exception as exc:
        sys.stderr.file.write(f"error: {exc}\n")
        raise
    finally:
        for tee in (sys.stdout, sys.stderr):
            tee.close()
        sys.stdout, sys.stderr = out, err


def _container(node: Any) -> dict[str, Any]:
    """A resolved config node as a plain dict."""
    from omegaconf import OmegaConf

    value = OmegaConf.to_container(node, resolve=True)
    assert isinstance(value, dict)
    return {str(k): v for k, v in value.items()}


def _run_experiment(cfg: Any, run_dir: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from rlkit.env_spec import env_spec_from_config

    runner_cfg = build_config(RunnerConfig, _container(cfg.runner), prefix="runner")
    set_threads(None if cfg.threads is None else int(cfg.threads))
    device = resolve_device(str(cfg.device))
    precision = str(cfg.get("precision", "fp32"))
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision} is not one of {', '.join(PRECISIONS)}")
    seed = int(cfg.seed)
    if seed < 0:
        raise ConfigError(f"seed={seed} must be >= 0")
    seed_everything(seed)
    env = env_spec_from_config(_container(cfg.env))
    try:
        algo = build_algorithm(_container(cfg.algo), env, device, seed)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"algo={cfg.algo.get('name', '?')}: {err}") from err
    supported = getattr(algo, "precisions", PRECISIONS)
    if precision not in supported:
        raise ConfigError(f"precision={precision}: algo={cfg.algo.name} supports {', '.join(supported)} only "
                          f"({type(algo).__name__}.precisions); use precision={supported[0]}")
    if runner_cfg.steps is None:
        if not hasattr(algo, "total_steps"):
            raise ConfigError(f"runner.steps=null needs an algorithm with its own schedule; set runner.steps "
                              f"for algo={cfg.algo.name}")
        runner_cfg.steps = int(algo.total_steps)
        print(f"runner.steps=null -> {runner_cfg.steps} steps (algo.total_steps)", flush=True)
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    check_same_run(run_dir, config_yaml)
    (run_dir / "config.yaml").write_text(config_yaml)
    logger = Logger(run_dir, wandb_cfg=_container(cfg.logger.wandb), tensorboard=bool(cfg.logger.tensorboard),
                    config=_container(cfg))
    if hasattr(algo, "set_run_dir"):    # optional: algorithms with resumable stages of their own (LS3)
        algo.set_run_dir(run_dir)
    runner = Runner(algo, run_dir, runner_cfg, logger, seed, config_yaml, precision, device)
    resumed = runner.try_resume()
    if resumed:
        print(f"resumed from {run_dir / 'checkpoints' / 'last.pt'} at step {runner.step}", flush=True)
    try:
        runner.run()
    finally:
        logger.close()
    if hasattr(algo, "write_report"):   # optional: algorithm-specific tables and exports
        algo.write_report(run_dir)
    summary = write_summary(run_dir, runner, device)
    plot_learning_curve(run_dir, title=f"{cfg.algo.name} on {cfg.env.id}, seed {seed}")
    summary["run_dir"] = str(run_dir)
    summary["config"] = asdict(runner_cfg)
    return summary
