"""The Hydra entry point, installed as the console script ``rlkit-run`` (``run.py`` in the
repository calls it). The configs ship inside the package as ``rlkit.conf``.

    rlkit-run algo=ppo env=cartpole seed=3             # or: python run.py algo=ppo ...
    python run.py -m algo=ppo env=cartpole seed=0,1,2 hydra/launcher=joblib
    python run.py ... resume=outputs/<date>/<run>      # continue a killed run

Invalid values fail with one line naming the key (exit code 2); unknown keys and group options
fail with Hydra's own message, which lists the choices.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlkit.checkpoint import CheckpointError
from rlkit.config import ConfigError
from rlkit.data.offline import DatasetError
from rlkit.runner import NonFiniteMetricError, run_experiment


@hydra.main(version_base="1.3", config_path="pkg://rlkit.conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    run_dir = cfg.resume or HydraConfig.get().runtime.output_dir
    try:
        summary = run_experiment(cfg, run_dir)
    except (ConfigError, CheckpointError, DatasetError, NonFiniteMetricError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print_summary(summary)
    return summary


def print_summary(summary: dict) -> None:
    """Print the final evaluation metrics as a two-column table."""
    rows = [("run_dir", summary["run_dir"]), ("steps", summary["steps"]),
            ("wall_time_s", f"{summary['wall_time_s']:.1f}"),
            ("best eval/return", f"{summary['best_eval_return']:.3f}")]
    rows += [(k, f"{v:.4g}") for k, v in sorted(summary["final"].items())]
    width = max(len(k) for k, _ in rows)
    print("-" * (width + 24))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("-" * (width + 24))
