"""Sweeps through a live Slurm scheduler (``hydra/launcher=slurm_local``): a 2 x 2 sweep that the
analysis reads back, a job requeued mid-run that resumes exactly, and a failing job that is
reported without hiding the others. Start a cluster with ``tools/slurm_local.sh start``; without
one these tests are skipped, unless ``RLKIT_REQUIRE_SLURM=1`` (CI) makes that a failure."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, metrics_without_time, run_cli

pytestmark = pytest.mark.xdist_group("slurm")
LOCAL_CONF = Path(os.environ.get("RLKIT_SLURM_DIR", Path.home() / ".cache" / "rlkit-slurm")) / "slurm.conf"
TINY = ["algo=ppo", "env=cartpole", "algo.num_steps=16", "runner.eval_episodes=1",
        "logger.wandb.mode=disabled"]


def _scheduler_env() -> dict[str, str] | None:
    """The environment that reaches a running scheduler (SLURM_CONF of tools/slurm_local.sh if
    the user has not set one), or None."""
    env = dict(os.environ, PATH=os.environ["PATH"] + ":/usr/sbin")
    if "SLURM_CONF" not in env and LOCAL_CONF.is_file():
        env["SLURM_CONF"] = str(LOCAL_CONF)
    if not shutil.which("sinfo", path=env["PATH"]):
        return None
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=30)
    states = out.stdout.split()
    return env if out.returncode == 0 and any(s in ("idle", "mix", "alloc") for s in states) else None


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    env = _scheduler_env()
    if env is None:
        reason = "no Slurm scheduler reachable (start one: tools/slurm_local.sh start)"
        if os.environ.get("RLKIT_REQUIRE_SLURM") == "1":
            pytest.fail(f"RLKIT_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    return env


def sweep(env: dict[str, str], sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_cli("-m", "hydra/launcher=slurm_local", f"hydra.sweep.dir={sweep_dir}", *TINY, *overrides,
                   timeout=240, env=env)


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.glob("*/config.yaml"))


def test_a_two_by_two_sweep_runs_on_slurm_and_the_analysis_reads_it(slurm_env, tmp_path):
    from rlkit.analysis import load_runs

    out = sweep(slurm_env, tmp_path, "runner.steps=4", "runner.eval_every=2", "seed=0,1",
                "algo.lr=0.001,0.0003")
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(run_dirs(tmp_path)) == 4 and all((d / "summary.json").is_file() for d in run_dirs(tmp_path))
    runs = load_runs(tmp_path)
    assert runs.groupby("group")["seed"].nunique().to_dict() == {"algo.lr=0.0003": 2, "algo.lr=0.001": 2}


def _progress(sweep: Path) -> tuple[str, int, int] | None:
    """(Slurm job id, last logged step, times the run resumed) of the sweep's one run, once it has
    a checkpoint and submitit has made its job folder."""
    ckpts = list(sweep.glob("*/checkpoints/last.pt"))
    ids = [p.name for p in (sweep / ".submitit").glob("[0-9]*")]
    if not ckpts or not ids:
        return None
    run = ckpts[0].parents[1]
    try:
        step = int(pd.read_csv(run / "metrics.csv")["step"].max())
    except (OSError, ValueError, pd.errors.ParserError):     # being written
        return None
    return ids[0], step, (run / "run.log").read_text().count("resumed from")


def test_a_job_requeued_then_preempted_resumes_exactly(slurm_env, tmp_path):
    """One job is interrupted twice: after its first checkpoint by ``scontrol requeue`` (Slurm kills
    it and runs it again from the start), and after it has resumed and passed a later checkpoint by
    the preemption signal (``scancel --signal=USR2``, what Slurm sends ahead of a preemption or time
    limit), on which submitit requeues it. The run directory does not depend on the job id, so the
    runner resumes from its last checkpoint both times: the metrics equal an uninterrupted run's,
    and the sweep holds one run."""
    long = ["runner.steps=150", "runner.eval_every=50", "runner.log_every=10", "runner.checkpoint_every=10",
            "algo.num_steps=128", "seed=0"]
    reference = tmp_path / "reference"                                 # the same run, uninterrupted, meanwhile
    uninterrupted = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *TINY, *long,
                                      f"hydra.run.dir={reference}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "-m", "hydra/launcher=slurm_local",
                             f"hydra.sweep.dir={sweep}", *TINY, *long],
                            cwd=ROOT, env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    interrupts = [["scontrol", "requeue"], ["scancel", "--signal=USR2"]]
    deadline, first_step = time.time() + 240, 0
    while interrupts and time.time() < deadline:
        now = _progress(sweep)
        sent = 2 - len(interrupts)
        if now is not None and now[2] == sent and (sent == 0 or now[1] >= first_step + 20):
            job, step, _ = now
            assert step < 150, "the run finished before it could be interrupted"
            subprocess.run([*interrupts.pop(0), job], env=slurm_env, check=True, timeout=30)
            first_step = first_step or step
        time.sleep(0.2)
    assert not interrupts, f"{len(interrupts)} interruption(s) not sent in 240 s"
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]
    (run_dir,) = run_dirs(sweep)
    assert (run_dir / "run.log").read_text().count("resumed from") == 2
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read()[-2000:]
    pd.testing.assert_frame_equal(metrics_without_time(run_dir), metrics_without_time(reference))


def test_a_failing_job_is_reported_and_the_others_keep_their_results(slurm_env, tmp_path):
    out = sweep(slurm_env, tmp_path, "runner.steps=2", "runner.eval_every=2", "algo.lr=abc,0.001")
    assert out.returncode != 0
    assert "algo.lr: expected float, got 'abc'" in out.stdout + out.stderr
    (ok,) = run_dirs(tmp_path)
    assert "algo.lr=0.001" in ok.name and (ok / "summary.json").is_file()
