"""The Hydra entry point, installed as the console script ``rlkit-run`` (``run.py`` in the
repository calls it). The configs ship inside the package as ``rlkit.conf``.

    rlkit-run algo=ppo env=cartpole seed=3             # or: python run.py algo=ppo ...
    python run.py -m algo=ppo env=cartpole seed=0,1,2 hydra/launcher=joblib
    python run.py ... resume=outputs/<date>/<run>      # continue a killed run

Invalid values fail with one line naming the key (exit code 2); unknown keys and group options
fail with Hydra's own message, which lists the choices.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rlkit.checkpoint import CheckpointError
from rlkit.config import ConfigError
from rlkit.data.offline import DatasetError
from rlkit.runner import NonFiniteMetricError, run_experiment


def dirname(overrides: str, limit: int = 160) -> str:
    """A sweep job's folder name from its overrides (``algo.lr=0.001,runner.steps=50``): the whole
    overrides that fit in ``limit`` characters, then a hash of all of them; '/' becomes '-'."""
    name = overrides.replace("/", "-")
    if len(name) <= limit:
        return name
    kept = ""
    for item in name.split(","):
        if len(kept) + len(item) + 1 > limit - 9:
            break
        kept = f"{kept},{item}" if kept else item
    return f"{kept}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


OmegaConf.register_new_resolver("rlkit.dirname", dirname, replace=True)

#: Optional backends: the override that selects one, the module it needs, and its extra.
EXTRAS = {f"hydra/launcher={name}": ("hydra_plugins.hydra_submitit_launcher", "slurm")
          for name in ("slurm", "slurm_local", "local", "submitit_slurm", "submitit_local")} | {
    "logger=tensorboard": ("tensorboard", "tensorboard")}


def missing_extra(argv: list[str]) -> str | None:
    """The one-line error for an override whose optional backend is not installed, else None."""
    for arg in argv:
        if arg in EXTRAS and not _installed(EXTRAS[arg][0]):
            extra = EXTRAS[arg][1]
            return f"error: {arg} needs the {extra!r} extra: pip install 'rlkit-offmeta[{extra}]'"
    return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class JobFailed(Exception):
    """One job of a sweep failed with a user error. Raised instead of exiting, so that the launcher
    records it and the sweep's other jobs run and keep their results (Hydra reports the failed
    job's overrides and this line when the sweep ends)."""


def main() -> None:
    """``rlkit-run`` / ``run.py``: check optional backends, then run Hydra's entry point."""
    error = missing_extra(sys.argv[1:])
    if error:
        print(error, file=sys.stderr)
        sys.exit(2)
    hydra_main()


@hydra.main(version_base="1.3", config_path="pkg://rlkit.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> dict:
    run_dir = cfg.resume or HydraConfig.get().runtime.output_dir
    try:
        summary = run_experiment(cfg, run_dir)
    except (ConfigError, CheckpointError, DatasetError, NonFiniteMetricError) as err:
        print(f"error: {err}", file=sys.stderr)
        if isinstance(err, ConfigError):
            remove_unstarted_run_dir(Path(HydraConfig.get().runtime.output_dir))
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise JobFailed(str(err)) from None
        sys.exit(2)
    print_summary(summary)
    return summary


def remove_unstarted_run_dir(run_dir: Path) -> None:
    """A run that failed validation leaves no directory behind (Hydra creates it, with its
    ``.hydra/`` record, before the configuration is checked)."""
    if run_dir.is_dir() and not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.csv").exists():
        shutil.rmtree(run_dir, ignore_errors=True)


def print_summary(summary: dict) -> None:
    """Print the final evaluation metrics as a two-column table."""
    rows = [("run_dir", summary["run_dir"]), ("steps", summary["steps"]),
            ("wall_time_s", f"{summary['wall_time_s']:.1f}")]
    if math.isfinite(summary["best_eval_return"]):           # -inf: no evaluation ran
        rows.append(("best eval/return", f"{summary['best_eval_return']:.3f}"))
    rows += [(k, f"{v:.4g}") for k, v in sorted(summary["final"].items())]
    width = max(len(k) for k, _ in rows)
    print("-" * (width + 24))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("-" * (width + 24))
