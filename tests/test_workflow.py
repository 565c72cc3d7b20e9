"""The research workflow as a new user meets it: one-line errors for bad overrides that leave no
run directory, resume that refuses a changed configuration, counters logged as counts, optional
backends that name their extra."""

import pandas as pd
from helpers import TINY_ALGO, TINY_RUNNER, run_cli

PPO = ["algo=ppo", "env=cartpole", *TINY_ALGO["ppo"]]


def _one_line_error(out, text: str) -> None:
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == text


def test_type_errors_name_the_key_and_the_expected_type_and_leave_no_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    _one_line_error(run_cli(*PPO, "algo.lr=abc", f"hydra.run.dir={run_dir}"),
                    "error: algo.lr: expected float, got 'abc'")
    assert not run_dir.exists()
    _one_line_error(run_cli(*PPO, "algo.hidden=64", f"hydra.run.dir={run_dir}"),
                    "error: algo.hidden: expected tuple[int, ...], got 64")
    assert not run_dir.exists()


def test_a_misspelt_key_suggests_the_closest_one(tmp_path):
    out = run_cli(*PPO, "+algo.lrr=1e-3", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "algo.lrr (did you mean algo.lr?)" in out.stderr
    assert not (tmp_path / "run").exists()


def test_resuming_with_another_configuration_is_refused_naming_the_keys(tmp_path):
    run_dir = tmp_path / "run"
    assert run_cli(*PPO, *TINY_RUNNER, f"hydra.run.dir={run_dir}").returncode == 0
    before = (run_dir / "metrics.csv").read_text()
    out = run_cli(*PPO, *TINY_RUNNER, "algo.lr=1e-3", f"hydra.run.dir={run_dir}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "algo.lr: 0.00025 -> 0.001" in out.stderr and "start a new run" in out.stderr
    assert (run_dir / "metrics.csv").read_text() == before
    assert "0.00025" in (run_dir / "config.yaml").read_text()
    longer = [a.replace("runner.steps=4", "runner.steps=6") for a in TINY_RUNNER]
    out = run_cli(*PPO, *longer, f"hydra.run.dir={run_dir}")     # a longer run is the same run
    assert out.returncode == 0 and "resumed from" in out.stdout


def test_counters_are_logged_as_their_current_value(tmp_path):
    args = ["runner.steps=10", "runner.log_every=5", "runner.eval_every=10", "runner.eval_episodes=1"]
    out = run_cli(*PPO, *args, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    df = pd.read_csv(tmp_path / "metrics.csv").set_index("step")
    per_step = 2 * 8                                       # num_envs x num_steps of TINY_ALGO["ppo"]
    assert df.loc[5, "train/env_steps"] == 5 * per_step and df.loc[10, "train/env_steps"] == 10 * per_step
    assert df.loc[10, "train/grad_steps"] == 10 * 2 * 1    # minibatches x epochs per update
    assert "eval/success" not in df                        # CartPole has no notion of success


def test_optional_backends_name_their_extra(monkeypatch):
    """The dev install has every extra, so the check is run with the modules reported missing."""
    from rlkit import cli

    monkeypatch.setattr(cli, "_installed", lambda module: False)
    for launcher in ("slurm", "slurm_local", "local"):
        assert cli.missing_extra(["-m", f"hydra/launcher={launcher}", "seed=0"]) == (
            f"error: hydra/launcher={launcher} needs the 'slurm' extra: pip install 'rlkit-offmeta[slurm]'")
    assert cli.missing_extra(["logger=tensorboard"]).endswith("pip install 'rlkit-offmeta[tensorboard]'")
    assert cli.missing_extra(["algo=ppo"]) is None


def test_tensorboard_logger_writes_event_files(tmp_path):
    out = run_cli(*PPO, *TINY_RUNNER, "logger=tensorboard", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_best_checkpoint_holds_the_policy_only_and_load_run_returns_the_agent(tmp_path):
    import numpy as np
    import torch

    import rlkit
    from rlkit.checkpoint import load_checkpoint

    args = ["algo=sac", "env=pendulum", "runner.steps=600", "runner.eval_every=300", "runner.log_every=100",
            "runner.checkpoint_every=300", "runner.eval_episodes=1", "algo.learning_starts=100",
            "algo.hidden=[32,32]", "algo.buffer_size=100000"]
    out = run_cli(*args, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    best, last = tmp_path / "checkpoints" / "best.pt", tmp_path / "checkpoints" / "last.pt"
    assert best.stat().st_size < 100_000 < last.stat().st_size          # no replay buffer in best.pt
    assert set(load_checkpoint(best)) == {"step", "policy"}
    agent = rlkit.load_run(tmp_path)
    obs = np.zeros(3, np.float32)
    saved_actor = load_checkpoint(best)["policy"]["modules"]["learner.actor"]
    assert all(torch.equal(v, saved_actor[k]) for k, v in agent.learner.actor.state_dict().items())
    assert agent.act(obs).shape == (1,)
    saved = agent.save(tmp_path / "sac.pt")
    assert type(agent).load(saved).act(obs) == agent.act(obs)


def test_progress_without_a_terminal_shows_unit_rate_and_eta_and_run_log_keeps_it(tmp_path):
    out = run_cli(*PPO, "runner.steps=6", "runner.log_every=3", "runner.eval_every=6", "runner.eval_episodes=1",
                  f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("[train] 3/6"))
    assert "train_step/s" in line and "ETA" in line and "train/env_steps=48" in line
    log = (tmp_path / "run.log").read_text()
    assert "[train] 6/6 train_step" in log and "eval/return" in log


def test_long_stages_report_progress():
    from rlkit.logging import Progress

    lines = []
    import builtins

    printed, builtins.print = builtins.print, lambda *a, **k: lines.append(" ".join(map(str, a)))
    try:
        p = Progress(100, desc="ls3 pretrain", unit="update", every_s=0.0)
        for i in range(1, 101, 50):
            p.update(i)
    finally:
        builtins.print = printed
    assert lines and lines[0].startswith("[ls3 pretrain] 1/100 update (") and "ETA" in lines[0]


def test_the_summary_leaves_out_the_best_return_when_no_evaluation_ran(capsys):
    from rlkit.cli import print_summary

    base = {"run_dir": "r", "steps": 3, "wall_time_s": 1.0, "final": {}}
    print_summary(base | {"best_eval_return": float("-inf")})
    assert "best eval/return" not in capsys.readouterr().out
    print_summary(base | {"best_eval_return": -2.5, "final": {"eval/return": -3.0}})
    out = capsys.readouterr().out
    assert "best eval/return  -2.500" in out and "eval/return" in out
