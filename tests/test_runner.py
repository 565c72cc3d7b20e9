"""Runner behaviour that needs no real algorithm: NaN losses, log rows, checkpoints."""

import math

import pandas as pd
import pytest

from rlkit.checkpoint import CheckpointError, load_checkpoint
from rlkit.logging import Logger
from rlkit.runner import NonFiniteMetricError, Runner, RunnerConfig


class Counter:
    """A stand-in algorithm whose loss turns NaN at ``nan_at``."""

    def __init__(self, nan_at: int | None = None) -> None:
        self.t, self.nan_at = 0, nan_at

    def train_step(self):
        self.t += 1
        return {"loss/x": math.nan if self.t == self.nan_at else float(self.t)}

    def evaluate(self, episodes):
        return {"eval/return": float(self.t)}

    def act(self, obs, deterministic=True):
        return 0

    def state_dict(self):
        return {"t": self.t}

    def load_state_dict(self, state):
        self.t = state["t"]


def test_nan_loss_stops_with_the_metric_name_and_keeps_the_last_checkpoint(tmp_path):
    cfg = RunnerConfig(steps=10, eval_every=5, log_every=2, checkpoint_every=4, eval_episodes=1)
    runner = Runner(Counter(nan_at=7), tmp_path, cfg, Logger(tmp_path), seed=0)
    with pytest.raises(NonFiniteMetricError, match=r"loss/x became nan at step 7.*last\.pt"):
        runner.run()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 4


def test_log_rows_average_training_metrics_and_add_evaluations(tmp_path):
    cfg = RunnerConfig(steps=6, eval_every=3, log_every=2, checkpoint_every=6, eval_episodes=1)
    Runner(Counter(), tmp_path, cfg, Logger(tmp_path), seed=0).run()
    df = pd.read_csv(tmp_path / "metrics.csv")
    assert df["step"].tolist() == [2, 3, 4, 6]
    assert df["loss/x"].tolist()[:1] == [1.5]              # mean of steps 1 and 2
    assert df.loc[df["step"] == 3, "eval/return"].item() == 3.0
    assert (tmp_path / "checkpoints" / "best.pt").exists()


class CounterWithANewField(Counter):
    """The same algorithm in a later version whose state gained a key."""

    def load_state_dict(self, state):
        self.t, self.u = state["t"], state["u"]


def test_a_checkpoint_from_an_older_version_is_refused_in_one_line(tmp_path):
    cfg = RunnerConfig(steps=4, eval_every=2, log_every=2, checkpoint_every=2, eval_episodes=1)
    Runner(Counter(), tmp_path, cfg, Logger(tmp_path), seed=0).run()
    later = Runner(CounterWithANewField(), tmp_path, cfg, Logger(tmp_path), seed=0)
    with pytest.raises(CheckpointError, match=r"last\.pt lacks 'u' \(written by an older rlkit\).*new run"):
        later.try_resume()


def test_threads_follow_the_slurm_allocation_unless_given(monkeypatch):
    import torch

    from rlkit.config import ConfigError, set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
        assert set_threads(None) == 2 == torch.get_num_threads()
        assert set_threads(1) == 1 == torch.get_num_threads()
        monkeypatch.delenv("SLURM_CPUS_PER_TASK")
        assert set_threads(None) == 1
        with pytest.raises(ConfigError, match="threads=0 must be >= 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)
