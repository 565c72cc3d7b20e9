"""Every benchmark script runs with tiny arguments, every claim of benchmarks/claims/ runs end to
end through the runner (``--tiny``), and the claim analysis reads values and rules correctly."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import TINY_ALGO, TINY_RUNNER

from rlkit.analysis import check_rule, claim_table, curve_metrics, read_claim, reduce_metric

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = sorted(p.stem for p in (ROOT / "benchmarks" / "claims").glob("*.yaml"))
SPEED = {
    "baselines_speed": ["--repeats", "1", "--sac-updates", "5", "--ppo-rollouts", "1"],
    "boot_speed": ["--episodes", "1", "--train-steps", "1", "--cached-reps", "1", "--beam-width", "4",
                   "--horizon", "2", "--layers", "1", "--width", "16", "--states", "2"],
    "cplanning_speed": ["--nodes", "20", "--repeats", "1", "--train-episodes", "2"],
    "eppo_speed": ["--repeats", "1", "--rollouts", "1"],
    "htr_speed": ["--repeats", "1", "--updates", "1"],
    "ls3_speed": ["--repeats", "1", "--population", "16", "--particles", "2", "--states", "2",
                  "--vae-batch", "2"],
    "minigrid_view_speed": ["--steps", "20"],
    "rlqp_speed": ["--batch", "4", "--n", "5", "--iter-n", "10", "--episodes", "2"],
}


def test_every_benchmark_script_follows_the_naming_scheme_and_has_a_smoke_test():
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")} - {"timing"}
    assert scripts == set(SPEED) | {"claim"}, "benchmarks are <subject>_speed.py or claims/<name>.yaml"


@pytest.mark.parametrize("name", sorted(SPEED))
def test_speed_benchmark_runs_with_tiny_arguments(name):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *SPEED[name]], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "|" in out.stdout                               # a result table was printed


def test_boot_speed_checks_the_decisions_of_a_trained_run(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "run.py"), "algo=tt", "env=pendulum_mixed",
                          *TINY_ALGO["tt"], *TINY_RUNNER, f"hydra.run.dir={tmp_path}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "boot_speed.py"), "--run-dir",
                          str(tmp_path), "--states", "2", "--eval-episodes", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "of 2 start states in bf16" in out.stdout and "Evaluation return over 1 episodes" in out.stdout


@pytest.mark.parametrize("name", CLAIMS)
def test_claim_runs_end_to_end_with_tiny_overrides(name, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "claim.py"), name, "--tiny", "--seeds", "1",
                          "--workers", "1", "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    claim = yaml.safe_load((ROOT / "benchmarks" / "claims" / f"{name}.yaml").read_text())
    text = (tmp_path / name / "results.md").read_text()
    diagnostic = not claim["rules"]
    if diagnostic:
        assert "**No pass rule: a diagnostic experiment.**" in text and "Verdict" not in text
    else:
        assert "**Verdict: PASS**" in text or "**Verdict: FAIL**" in text
    assert f"benchmarks/claim.py {name} --tiny" in text                     # the exact command
    arms = claim.get("tiny_arms", claim["arms"])
    values = pd.read_json(tmp_path / name / "results.json")
    assert sorted(values["arm"].unique()) == sorted(arms)
    for metric, spec in claim["metrics"].items():
        if not spec.get("optional"):
            assert values[metric].notna().all(), metric
    saved = read_claim(tmp_path / name / "results.md")          # what the notebook plots
    assert saved["passed"] == ("**Verdict: PASS**" in text) and bool(saved["verdict"]) != diagnostic
    assert set(saved["curves"]["group"]) == set(arms) and "step" in saved["curves"]
    logged = [m for m in curve_metrics(claim["metrics"]) if m in saved["curves"]]
    assert logged or not curve_metrics(claim["metrics"])


def test_the_arms_the_smoke_test_skips_compose_into_valid_configs():
    """The smoke test runs a claim's ``tiny_arms`` only; the other arms' settings must still compose
    and pass the typed configs' checks (unknown keys, invalid values)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_class

    from rlkit.config import build_config
    from rlkit.runner import RunnerConfig, _container

    checked = 0
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        for name in CLAIMS:
            claim = yaml.safe_load((ROOT / "benchmarks" / "claims" / f"{name}.yaml").read_text())
            for arm in sorted(set(claim["arms"]) - set(claim.get("tiny_arms", claim["arms"]))):
                cfg = compose("config", overrides=[*claim.get("overrides", []), *claim["arms"][arm]],
                              return_hydra_config=True)
                HydraConfig.instance().set_config(cfg)          # resolves ${hydra:...} in the overrides
                algo = _container(cfg.algo)
                algo.pop("name")
                build_config(get_class(algo.pop("cls")).config_class, algo)
                build_config(RunnerConfig, _container(cfg.runner), prefix="runner")
                checked += 1
    assert checked >= 3


def test_claim_names_a_missing_shared_input_and_the_command_that_makes_it(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "claim.py"), "ls3_navigation_paper",
                          "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=os.environ | {"HOME": str(tmp_path)})
    assert out.returncode == 1 and not (tmp_path / "ls3_navigation_paper").exists()
    assert "needs ~/rlkit-runs/ls3_paper/stages/vae.pt, which does not exist; make it first:" in out.stderr
    assert "run.py experiment=ls3_navigation" in out.stderr and "Traceback" not in out.stderr


VALUES = pd.DataFrame({"arm": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "x": [1.0, 3.0, 2.0, 2.5],
                       "t": [10.0, math.inf, 20.0, math.inf]})


def test_rules_compare_means_or_every_seed():
    assert check_rule("a.x >= b.x - 0.25", VALUES)[0]                     # 2.0 >= 2.25 - 0.25
    assert not check_rule("a.x >= b.x", VALUES)[0]
    assert not check_rule("a.x >= b.x per seed", VALUES)[0]               # seed 0: 1 < 2
    assert check_rule("b.x <= 1.25 * a.x + 0.5", VALUES)[0]               # 2.25 <= 3.0
    assert check_rule("a.x >= 2", VALUES)[0] and not check_rule("a.x > 2", VALUES)[0]
    assert check_rule("a.t <= 0.5 * b.t per seed", VALUES) == (True, "2 of 2 seeds")   # inf <= inf: never
    with pytest.raises(ValueError, match="no values for 'c.x'"):
        check_rule("c.x > a.x", VALUES)
    with pytest.raises(ValueError, match="is not"):
        check_rule("a.x is big", VALUES)


def test_claim_table_reports_means_intervals_and_any_groups():
    metrics = {"x": {"metric": "m"}}
    lines, passed = claim_table(VALUES, metrics, ["b.x > 2", {"any": [["a.x > 5"], ["a.x > 1"]]}])
    text = "\n".join(lines)
    assert passed and "| a | 2 | 2 [1, 3] |" in text and "**Verdict: PASS**" in text
    assert not claim_table(VALUES, metrics, [{"any": [["a.x > 5"], ["b.x > 5"]]}])[1]
    lines, passed = claim_table(VALUES, metrics, ["b.x > 2"], secondary=["a.x > 5"])
    assert passed and "- `a.x > 5`: fails" in "\n".join(lines)       # reported, not in the verdict


def test_metric_reductions(tmp_path):
    run = pd.DataFrame({"step": [1, 2, 3, 4], "m": [0.0, float("nan"), 0.5, 1.0], "n": [1.0, 2.0, 3.0, 4.0]})
    get = lambda **spec: reduce_metric(run, tmp_path, spec)
    assert get(metric="m") == 1.0 and get(metric="m", reduce="mean") == 0.5
    assert get(metric="m", reduce="first_step", above=0) == 3
    assert get(metric="m", reduce="first_step", above=2) == math.inf
    assert get(metric="n", reduce="last_mean", k=2) == 3.5
    assert get(metric="n", reduce="tail_mean", fraction=0.5) == 3.5
    assert math.isnan(get(metric="absent", optional=True))
    with pytest.raises(KeyError, match="was not logged"):
        get(metric="absent")
    val = pd.DataFrame({"step": [1, 2, 3], "m": [5.0, 3.0, 4.0], "v": [0.9, 0.2, 0.5]})
    assert reduce_metric(val, tmp_path, {"reduce": "at_best", "metric": "m", "by": "v"}) == 3.0
    assert reduce_metric(val, tmp_path, {"reduce": "at_best", "metric": "m", "by": "v", "mode": "max"}) == 5.0
    (tmp_path / "report.json").write_text('{"test": {"best": 12.5}}')
    assert get(file="report.json", key="test.best") == 12.5


def test_evaluate_reduction_scores_the_final_policy_on_another_split(tmp_path):
    """``{evaluate: {eval kwargs}}`` reloads the run's last policy with the env's evaluation kwargs
    overridden: the training grids of a grid-split MiniGrid run, for its generalisation gap."""
    from helpers import TINY_ALGO, TINY_RUNNER, run_cli

    from rlkit.agent import load_run

    out = run_cli("algo=ppo", "env=minigrid_doorkey_grids", "env.kwargs.train_grids=4", *TINY_RUNNER,
                  *TINY_ALGO["ppo"], f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    agent = load_run(tmp_path, eval_kwargs={"grid_set": "train"}, checkpoint="last")
    assert agent.loop.envs is not None
    run = pd.read_csv(tmp_path / "metrics.csv")
    value = reduce_metric(run, tmp_path, {"evaluate": {"grid_set": "train"}, "episodes": 3})
    assert math.isfinite(value)
    assert value == agent.evaluate(3)["eval/return"]                       # the run's evaluation seeds


def test_rlqp_classes_reports_ratios_against_the_floor(tmp_path):
    def cls(osqp, floor, best, hand):
        return {"osqp": {"mean": osqp, "sgm": osqp}, "floor": {"mean": floor, "sgm": floor},
                "best": {"mean": best, "sgm": best}, "hand_rule": {"mean": hand, "sgm": hand}}

    for seed, best in ((0, 100.0), (1, 300.0)):
        run = tmp_path / "release_ratio" / f"s{seed}"
        run.mkdir(parents=True)
        comparison = {"test_classes": {"control": cls(600.0, 75.0, best, 200.0)},
                      "larger_classes": {"lasso": cls(90.0, 75.0, 90.0, 90.0)}}
        (run / "comparison.json").write_text(json.dumps(comparison))
    out = subprocess.run([sys.executable, "-m", "rlkit.algos.rlqp.analyse", "classes", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # attainable 600 / 75 = 8; per-seed ratios 6 and 2, mean 4; one seed at 3x; hand rule 3x
    assert "| control | 600 | 75 | 8.00 | 4.00 (6.00, 2.00) | 3.00 | 600 / 200 | 1 of 2 |" in out.stdout
    assert "| lasso | 90 | 75 | 1.20 | 1.00 (1.00, 1.00) |" in out.stdout
