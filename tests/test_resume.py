"""Kill a real run with SIGKILL, start it again, and get the same metrics.csv (bit-exact on CPU)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, metrics_without_time, run_cli

CASES = {
    "ppo": ["algo=ppo", "env=cartpole", "runner.steps=30", "runner.eval_every=6",
            "runner.log_every=2", "runner.checkpoint_every=5", "runner.eval_episodes=2",
            "algo.num_steps=64"],
    "sac": ["algo=sac", "env=pendulum", "runner.steps=1200", "runner.eval_every=400",
            "runner.log_every=50", "runner.checkpoint_every=250", "runner.eval_episodes=1",
            "algo.learning_starts=100", "algo.hidden=[64,64]"],
    # BooT-repeat: the kill lands mid-epoch with a generated pool, LR counter and shuffled order
    "boot": ["algo=boot", "env=pendulum_mixed", "runner.steps=240", "runner.eval_every=120",
             "runner.log_every=10", "runner.checkpoint_every=50", "runner.eval_episodes=1",
             "algo.n_layer=1", "algo.n_head=2", "algo.n_embd=8", "algo.batch_size=64", "algo.n_bins=20",
             "algo.beam_width=4", "algo.horizon=2", "algo.eval_max_steps=3", "algo.generation_epoch_thresh=0.0",
             "algo.generation_num=2", "algo.generation_confidence_factor=0.25", "algo.bootstrap_type=repeat",
             "algo.generation_type=teacherforcing"],
}


def _start(args, run_dir):
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args,
                             f"hydra.run.dir={run_dir}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _kill_after_first_checkpoint(args, run_dir: Path) -> None:
    proc = _start(args, run_dir)
    ckpt = run_dir / "checkpoints" / "last.pt"
    deadline = time.time() + 240
    while not ckpt.exists():
        assert proc.poll() is None, f"run ended before its first checkpoint: {proc.stderr.read()}"
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.5)                      # let it run on past the checkpoint, then kill it hard
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("name", CASES)
def test_sigkill_then_rerun_reaches_the_same_metrics(name, tmp_path):
    args = CASES[name]
    ref = run_cli(*args, f"hydra.run.dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr[-2000:]
    _kill_after_first_checkpoint(args, tmp_path / "killed")
    partial = pd.read_csv(tmp_path / "killed" / "metrics.csv")
    steps = int(CASES[name][2].split("=")[1])
    assert partial["step"].max() < steps
    again = run_cli(*args, f"hydra.run.dir={tmp_path / 'killed'}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed from" in again.stdout
    pd.testing.assert_frame_equal(metrics_without_time(tmp_path / "killed"),
                                  metrics_without_time(tmp_path / "ref"), check_exact=True)


def test_resume_argument_continues_a_finished_run_dir(tmp_path):
    args = ["runner.steps=6", "runner.checkpoint_every=3", "runner.eval_every=3",
            "runner.eval_episodes=1", "algo.num_steps=16"]
    first = run_cli(*args, f"hydra.run.dir={tmp_path / 'a'}")
    assert first.returncode == 0
    more = run_cli(*[a.replace("steps=6", "steps=9") for a in args], f"resume={tmp_path / 'a'}",
                   f"hydra.run.dir={tmp_path / 'b'}")
    assert more.returncode == 0, more.stderr[-2000:]
    assert "at step 6" in more.stdout
    df = pd.read_csv(tmp_path / "a" / "metrics.csv")
    assert df["step"].tolist() == [3, 5, 6, 9]       # log_every=5, eval every 3, final step
