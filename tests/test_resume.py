"""Kill a real run with SIGKILL at a random moment after its first checkpoint, start it again, and
get the same metrics.csv (bit-exact on CPU), for every algorithm. A new algorithm adds one line
to CASES."""

import random
import signal
import subprocess
import sys

import pandas as pd
import pytest
from helpers import ROOT, TINY_ALGO, metrics_without_time, run_cli

RUN = ["runner.steps=12", "runner.eval_every=4", "runner.log_every=2", "runner.checkpoint_every=3",
       "runner.eval_episodes=1"]
# One line per algorithm: its tiny settings (every algorithm of conf/algo must appear).
CASES = {
    "ppo": ["algo=ppo", "env=cartpole", *TINY_ALGO["ppo"]],
    "eppo": ["algo=eppo", "env=cartpole", *TINY_ALGO["eppo"]],
    "sac": ["algo=sac", "env=pendulum", *TINY_ALGO["sac"]],
    "td3": ["algo=td3", "env=pendulum", *TINY_ALGO["td3"]],
    "rlqp": ["algo=rlqp", "env=qp_mixed", *TINY_ALGO["rlqp"]],
    "pearl": ["algo=pearl", "env=sparse_point_robot", *TINY_ALGO["pearl"]],
    "htr": ["algo=htr", "env=sparse_point_robot", *TINY_ALGO["htr"]],
    "ls3": ["algo=ls3", "env=ls3_navigation", *TINY_ALGO["ls3"]],
    "boot": ["algo=boot", "env=pendulum_mixed", *TINY_ALGO["boot"], "algo.bootstrap_type=repeat",
             "algo.generation_type=teacherforcing"],
    "tt": ["algo=tt", "env=pendulum_mixed", *TINY_ALGO["tt"]],
    "cplanning": ["algo=cplanning", "env=maze11x11", *TINY_ALGO["cplanning"]],
    "clearning": ["algo=clearning", "env=point_maze", *TINY_ALGO["clearning"]],
}


def test_every_algorithm_has_a_resume_case():
    assert set(CASES) == {p.stem for p in (ROOT / "conf" / "algo").glob("*.yaml")}


@pytest.mark.parametrize("name", CASES)
def test_sigkill_at_a_random_moment_then_rerun_reaches_the_same_metrics(name, tmp_path):
    """The killed run dies at a random train_step / evaluate call after its first checkpoint,
    before or after the call; rerunning the same command finishes with the same metrics.csv."""
    args = [*CASES[name], *RUN]
    rng = random.Random(name)                 # a different, reproducible moment per algorithm
    kill_at, before = rng.randint(1, 8), rng.randint(0, 1)
    ref = run_cli(*args, f"hydra.run.dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr[-2000:]
    killed = subprocess.run([sys.executable, str(ROOT / "tests" / "kill_driver.py"), str(kill_at), str(before),
                             *args, f"hydra.run.dir={tmp_path / 'killed'}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp_path / "killed" / "checkpoints" / "last.pt").exists()
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
