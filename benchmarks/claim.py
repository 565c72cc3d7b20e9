"""Run a claim experiment: one Hydra multirun per arm (seeds as a sweep, in parallel with the
joblib launcher), then read the run directories back into a table and the verdict of the pass rule
(``rlkit.analysis.claim_table``).

    .venv/bin/python benchmarks/claim.py eppo_minigrid                    # as specified, into results/
    .venv/bin/python benchmarks/claim.py eppo_minigrid --seeds 3 --workers 2
    .venv/bin/python benchmarks/claim.py eppo_minigrid --tiny --out-dir /tmp/claims   # smoke run
    .venv/bin/python benchmarks/claim.py eppo_minigrid --report-only      # tables from the finished runs

A claim is ``benchmarks/claims/<name>.yaml``: ``title``, ``description``, ``overrides`` (shared by
every arm), ``arms`` (arm -> its overrides), ``seeds``, ``metrics`` (column -> reduction of a logged
metric, see ``rlkit.analysis.reduce_metric``), ``rules`` (the pass rule, fixed before the runs; empty
for a diagnostic experiment), ``secondary_rules`` (optional, also fixed before the runs, reported
beside the verdict), ``results`` (where the table goes), ``curves`` (optional: the logged metrics
saved as curves beside the table in ``<name>_curves.csv``; default: those the metric columns reduce),
``tiny`` (overrides of the smoke test), ``tiny_arms`` (optional: the arms the smoke test runs; the
test checks the other arms' configs without running them) and ``requires`` (optional: file -> the
command that makes it, for inputs a claim shares across runs, such as a trained encoder; checked
before the arms run, not in the smoke test). Run directories live
under ``--out-dir/<name>/<arm>/s<seed>``; rerunning the same command resumes killed runs exactly.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "benchmarks" / "claims"


def load_claim(name: str) -> dict:
    path = CLAIMS / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CLAIMS.glob("*.yaml"))
        raise SystemExit(f"error: no claim {name!r} in {CLAIMS}; choose one of {known}")
    return yaml.safe_load(path.read_text())


def arm_command(claim: dict, arm: str, seeds: int, workers: int, sweep_dir: Path, tiny: bool) -> list[str]:
    """The multirun of one arm: shared overrides, the arm's overrides, every seed (in parallel on
    joblib's workers; a single seed or worker runs in the sweep's own process)."""
    extra = claim.get("tiny", []) if tiny else []
    parallel = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"] if min(seeds, workers) > 1 else []
    return [sys.executable, str(ROOT / "run.py"), "-m", *claim.get("overrides", []), *claim["arms"][arm],
            *extra, f"label={arm}", "seed=" + ",".join(map(str, range(seeds))), *parallel,
            f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=s${seed}"]


def rule_arms(rule: object) -> set[str]:
    """The arms a rule (a string, or an ``any`` / ``all`` group of them) refers to."""
    return set(re.findall(r"([A-Za-z_][\w-]*)\.[A-Za-z_]", json.dumps(rule)))


def rule_on(rule: str | dict, arms: set[str]) -> str | dict | None:
    """The part of a rule that the smoke test can check on ``arms``: the rule if it refers to them
    only, an ``any`` rule's groups that do, else None."""
    if isinstance(rule, dict):
        groups = [group for group in rule["any"] if rule_arms(group) <= arms]
        return {"any": groups} if groups else None
    return rule if rule_arms(rule) <= arms else None


def run_claim(name: str, seeds: int | None, workers: int, out_dir: Path, tiny: bool,
              results: Path | None, report_only: bool = False) -> tuple[Path, bool]:
    from rlkit.analysis import claim_curves, claim_table, claim_values, curve_metrics

    claim = load_claim(name)
    per_arm = {} if seeds else claim.get("arm_seeds", {})     # an arm may run fewer seeds (an ablation)
    seeds = seeds or int(claim["seeds"])
    for path, command in ({} if tiny or report_only else claim.get("requires", {})).items():
        if not Path(path).expanduser().exists():
            raise SystemExit(f"error: claim {name!r} needs {path}, which does not exist; "
                             f"make it first: {command}")
    start = time.time()
    dirs = {}
    arms = claim.get("tiny_arms", claim["arms"]) if tiny else claim["arms"]
    for arm in arms:
        dirs[arm] = out_dir / name / arm
        if report_only:
            continue
        cmd = arm_command(claim, arm, int(per_arm.get(arm, seeds)), workers, dirs[arm], tiny)
        print("$", shlex.join(cmd[1:]), flush=True)
        done = subprocess.run(cmd, cwd=ROOT)
        if done.returncode:
            raise SystemExit(f"error: arm {arm!r} failed (exit {done.returncode}); rerun the same command "
                             "to resume its runs")
    values = claim_values(dirs, claim["metrics"])
    rules, secondary = claim["rules"], claim.get("secondary_rules", [])
    if tiny:                                   # the smoke test checks the rules on the arms it ran
        rules, secondary = ([r for r in (rule_on(rule, set(arms)) for rule in group) if r is not None]
                            for group in (rules, secondary))
    table, passed = claim_table(values, claim["metrics"], rules, secondary)
    path = results or (out_dir / name / "results.md" if tiny else ROOT / claim["results"])
    command = shlex.join([".venv/bin/python", "benchmarks/claim.py", *sys.argv[1:]])
    counts = f"{seeds} seeds per arm" + "".join(f", {n} for {arm}" for arm, n in per_arm.items())
    provenance = (f"Command: `{command}` ({counts}, {(time.time() - start) / 60:.1f} min of "
                  f"wall time in this invocation; run directories under `{out_dir / name}`). Mean [95% "
                  "bootstrap interval] over seeds.")
    if report_only and path.is_file():      # keep the line of the invocation that ran the runs
        ran = [line for line in path.read_text().splitlines() if line.startswith("Command: ")][:1]
        provenance = " ".join([*ran, f"Table rebuilt from the same run directories by `{command}`."])
    shared = " ".join(claim.get("overrides", []))
    text = "\n".join([f"# {claim['title']}", "", claim["description"].strip(), "", provenance, "",
                      f"Arms (overrides of `run.py`; shared by all: `{shared}`):", "",
                      *[f"- {arm}: `{' '.join(o) or '(none)'}`" for arm, o in claim["arms"].items()], "",
                      *table]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(values.to_dict(orient="records"), indent=1))
    curves = claim_curves(dirs, claim.get("curves") or curve_metrics(claim["metrics"]))
    curves.to_csv(path.with_name(f"{path.stem}_curves.csv"), index=False, float_format="%.6g")
    print(text)
    return path, passed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="a claim of benchmarks/claims/ (file name without .yaml)")
    p.add_argument("--seeds", type=int, default=None, help="default: the claim's own")
    p.add_argument("--workers", type=int, default=2, help="runs in parallel (joblib launcher)")
    p.add_argument("--out-dir", type=Path, default=Path.home() / "rlkit-runs" / "claims",
                   help="where the run directories go (keep it outside /tmp for runs that span sessions)")
    p.add_argument("--results", type=Path, default=None, help="default: the claim's results file")
    p.add_argument("--tiny", action="store_true", help="the claim's tiny overrides (smoke test)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: rebuild the table, the values and the curves from the run directories")
    args = p.parse_args(argv)
    run_claim(args.name, args.seeds, args.workers, args.out_dir.expanduser().resolve(), args.tiny, args.results,
              args.report_only)


if __name__ == "__main__":
    main()
