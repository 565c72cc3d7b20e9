"""run.py end to end: every algo/env pair with tiny overrides, config errors, sweeps."""

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, TINY_ALGO, TINY_RUNNER, compose, run_cli
from hydra.utils import get_class

from rlkit.runner import run_experiment

PAIRS = [("ppo", "cartpole"), ("ppo", "pendulum"), ("sac", "pendulum"), ("td3", "pendulum"),
         ("sac", "hopper"), ("rlqp", "qp_mixed"), ("eppo", "minigrid_doorkey"), ("eppo", "order_execution"),
         ("ppo", "minigrid_doorkey_grids"),
         ("eppo", "atari_pong"), ("pearl", "sparse_point_robot"), ("htr", "sparse_point_robot"),
         ("htr", "sparse_wheeled"), ("htr", "sparse_ant_goal"), ("cplanning", "point_maze"),
         ("clearning", "maze11x11"), ("cplanning", "pointmaze_umaze"), ("cplanning", "antmaze_umaze"),
         ("cplanning", "sawyer_push"), ("ls3", "ls3_navigation"), ("ls3", "ls3_reacher"),
         ("ls3", "ls3_push"), ("htr", "sparse_ml1_reach"), ("pearl", "sparse_ml1_push"),
         ("boot", "pendulum_mixed"), ("tt", "pendulum_mixed")]
# every D4RL env config, on a small fake file in the D4RL layout (tests the d4rl: path end to end)
PAIRS += [("boot", p.stem) for p in sorted((ROOT / "conf/env").glob("d4rl_*.yaml"))]
PAIR_OVERRIDES = {("htr", "sparse_wheeled"): ["env.kwargs.max_steps=10"],
                  ("htr", "sparse_ant_goal"): ["env.kwargs.max_steps=10"],
                  ("cplanning", "pointmaze_umaze"): ["env.kwargs.max_steps=20"],
                  ("htr", "sparse_ml1_reach"): ["env.kwargs.max_steps=10"],
                  ("pearl", "sparse_ml1_push"): ["env.kwargs.max_steps=10"],
                  ("cplanning", "antmaze_umaze"): ["env.kwargs.max_steps=20"],
                  ("cplanning", "sawyer_push"): ["env.kwargs.max_steps=20"],
                  ("eppo", "atari_pong"): ["algo.encoder=nature_cnn", "algo.hidden=[32]",
                                          "env.kwargs.max_episode_steps=100"]}


def _compose(overrides):
    return compose(overrides)


def _fake_d4rl(env: str, root: Path) -> None:
    """A 300-step random file named and shaped like the D4RL dataset of ``conf/env/<env>.yaml``."""
    import gymnasium as gym
    import numpy as np

    from rlkit.data import OfflineDataset

    spec = yaml.safe_load((ROOT / "conf/env" / f"{env}.yaml").read_text())
    name = spec["dataset"].split(":", 1)[1]
    family, _, rest = name.partition("-")
    e = gym.make(spec["id"])
    rng = np.random.default_rng(0)
    n, (od,), (ad,) = 300, e.observation_space.shape, e.action_space.shape
    tout = np.zeros(n, bool)
    tout[99::100] = True
    OfflineDataset(observations=rng.normal(size=(n, od)).astype(np.float32),
                   actions=rng.uniform(-1, 1, (n, ad)).astype(np.float32), rewards=rng.normal(size=n),
                   terminals=np.zeros(n, bool), timeouts=tout).to_hdf5(root / f"{family}_{rest}.hdf5")


@pytest.mark.parametrize(("algo", "env"), PAIRS)
def test_every_algo_env_pair_runs_and_writes_its_run_directory(algo, env, tmp_path, monkeypatch):
    if env == "atari_pong":
        pytest.importorskip("ale_py")
    if env.startswith("d4rl_"):
        monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "d4rl"))
        _fake_d4rl(env, tmp_path / "d4rl")
    extra = PAIR_OVERRIDES.get((algo, env), [])
    cfg = _compose([f"algo={algo}", f"env={env}", *TINY_RUNNER, *TINY_ALGO[algo], *extra])
    summary = run_experiment(cfg, tmp_path)
    for name in ("config.yaml", "metrics.csv", "summary.json", "checkpoints/last.pt",
                 "learning_curve.png"):
        assert (tmp_path / name).exists(), name
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 1 + 4
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["steps"] == 4 and "torch" in saved["versions"] and saved["git_commit"]
    assert "eval/return" in summary["final"]
    if env == "order_execution":
        assert "eval/pa_bps" in summary["final"]
    if algo == "rlqp":
        report = (tmp_path / "comparison.md").read_text()
        assert "| learned |" in report and "| best |" in report
        assert report.startswith("RLQP's learned rho policy vs OSQP's adaptive rho on ")
        assert (tmp_path / "comparison.png").stat().st_size > 1000
        numbers = json.loads((tmp_path / "comparison.json").read_text())
        assert set(numbers["test"]) == {"osqp", "fixed", "hand_rule", "learned", "best", "floor"}
        counts = {"classes", "at_3x", "sgm_below", "pooled_ratio", "over_floor"}
        assert set(numbers["test_counts"]["best"]) == counts
        assert "| class | osqp / best, mean |" in report
        assert (tmp_path / "policy.pt").exists() and (tmp_path / "policy_best.pt").exists()


def test_pairs_cover_every_algo_and_env_config():
    algos = {p.stem for p in (ROOT / "conf/algo").glob("*.yaml")}
    envs = {p.stem for p in (ROOT / "conf/env").glob("*.yaml")}
    assert algos == {a for a, _ in PAIRS} == set(TINY_ALGO)
    assert envs == {e for _, e in PAIRS}


@pytest.mark.parametrize("path", sorted((ROOT / "conf/algo").glob("*.yaml")), ids=lambda p: p.stem)
def test_algo_yaml_mirrors_its_config_dataclass(path):
    raw = yaml.safe_load(path.read_text())
    cls = get_class(raw.pop("cls"))
    raw.pop("name")
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    assert set(raw) == fields


def test_invalid_value_fails_with_one_line_naming_the_key():
    out = run_cli("device=tpu", "runner.steps=1")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: device='tpu' is unknown")
    out = run_cli("runner.steps=-3")
    assert out.returncode == 2 and "runner.steps=-3 is invalid" in out.stderr
    out = run_cli("algo.num_envs=0")
    assert out.returncode == 2 and "algo.num_envs=0 is invalid" in out.stderr


def test_unknown_group_option_and_key_fail_with_hydras_message():
    out = run_cli("algo=nope")
    assert out.returncode != 0 and "Could not find 'algo/nope'" in out.stderr
    assert "ppo" in out.stderr and "sac" in out.stderr          # the choices are listed
    out = run_cli("algo.lrr=1")
    assert out.returncode != 0 and "lrr" in out.stderr and "not in struct" in out.stderr
    out = run_cli("+algo.lrr=1", "runner.steps=1")
    assert out.returncode == 2 and "unknown key(s) algo.lrr" in out.stderr


def test_multirun_sweep_with_joblib_launcher(tmp_path):
    out = run_cli("-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                  f"hydra.sweep.dir={tmp_path}", *TINY_RUNNER, *TINY_ALGO["ppo"])
    assert out.returncode == 0, out.stderr[-2000:]
    runs = sorted(p.parent for p in Path(tmp_path).glob("*/metrics.csv"))
    assert len(runs) == 2
    assert [json.loads((r / "summary.json").read_text())["steps"] for r in runs] == [4, 4]


def test_sweep_over_the_relabelling_probability(tmp_path):
    out = run_cli("-m", "algo=htr", "env=sparse_point_robot", "algo.relabel_prob=0,0.5",
                  f"hydra.sweep.dir={tmp_path}", *TINY_RUNNER, *TINY_ALGO["htr"])
    assert out.returncode == 0, out.stderr[-2000:]
    configs = sorted(yaml.safe_load((p.parent / "config.yaml").read_text())["algo"]["relabel_prob"]
                     for p in Path(tmp_path).glob("*/metrics.csv"))
    assert configs == [0.0, 0.5]


def test_wandb_logger_runs_offline_into_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = _compose(["logger=wandb", *TINY_RUNNER[:-1], *TINY_ALGO["ppo"]])
    assert cfg.logger.wandb.mode == "offline"
    run_experiment(cfg, tmp_path)
    assert list((tmp_path / "wandb").glob("offline-run-*")), "wandb wrote no offline run"
    run_id = (tmp_path / "wandb_run_id").read_text()
    assert list((tmp_path / "wandb").glob(f"offline-run-*-{run_id}"))
    cfg.runner.steps = 6                                 # resumed (a longer run): the same wandb run
    run_experiment(cfg, tmp_path)
    assert (tmp_path / "wandb_run_id").read_text() == run_id
    assert {p.name.rsplit("-", 1)[-1] for p in (tmp_path / "wandb").glob("offline-run-*")} == {run_id}


@pytest.mark.parametrize("path", sorted((ROOT / "conf/experiment").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_experiment_preset_composes_into_valid_configs(path):
    from omegaconf import OmegaConf

    from rlkit.config import build_config
    from rlkit.runner import RunnerConfig

    cfg = _compose([f"experiment={path.stem}"])
    build_config(RunnerConfig, OmegaConf.to_container(cfg.runner), prefix="runner")
    algo = OmegaConf.to_container(cfg.algo, resolve=True)
    cls = get_class(algo.pop("cls"))
    algo.pop("name")
    build_config(cls.config_class, algo)


def test_make_run_is_the_rlqp_demo_against_osqp():
    """`make run` runs experiment=default: RLQP on the mixed QP classes on CPU, a few minutes."""
    assert "run.py experiment=default" in (ROOT / "Makefile").read_text()
    cfg = _compose(["experiment=default"])
    assert (cfg.algo.name, cfg.env.name, cfg.device) == ("rlqp", "qp_mixed", "cpu")
    assert cfg.runner.steps <= 200
