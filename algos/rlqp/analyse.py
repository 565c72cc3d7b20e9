"""Claim analysis of finished RLQP runs (command line):

    python -m rlkit.algos.rlqp.analyse classes ~/rlkit-runs/claims/rlqp --out results/rlqp/claim_classes.md
    python -m rlkit.algos.rlqp.analyse maros-meszaros RUN_DIR [RUN_DIR ...] --mm-dir DIR --out FILE

``classes``: per problem class, each arm's ratio to OSQP's mean iterations beside the class's
*attainable ratio* (OSQP's mean over the floor's; the floor: the first K = 50 iterations run at
OSQP's default rho, so a problem OSQP has not solved by then needs at least 75: no rho policy can be
more than attainable times faster than OSQP on the class), from the ``comparison.json`` of every
``<arm>/s<seed>`` run. ``maros-meszaros``: for runs that did not set ``MAROS_MESZAROS_DIR`` while
training, each run's validation-selected policy (``policy_best.pt``, else ``policy.pt``) on the
Maros-Meszaros problems with n + m <= ``--max-size`` at the run's solver settings, against OSQP's
adaptive rho and the hand active-set rule.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from rlkit.agent import load_run
from rlkit.envs.qp.admm import Settings

from .agent import RLQP
from .policy import ActiveSetRule, LearnedRhoPolicy
from .report import evaluate_policy, maros_meszaros, sgm


def class_rows(comparison: dict, split: str, method: str) -> dict[str, dict[str, float]]:
    """Per class of ``split`` (test | larger): OSQP's mean, the floor, the attainable ratio, the
    method's and the hand rule's mean-iteration ratio to OSQP, and the shifted geometric means."""
    rows = {}
    for cls, m in comparison[f"{split}_classes"].items():
        osqp = m["osqp"]["mean"]
        rows[cls] = {"osqp": osqp, "floor": m["floor"]["mean"], "attainable": osqp / m["floor"]["mean"],
                     "ratio": osqp / m[method]["mean"], "hand_rule_ratio": osqp / m["hand_rule"]["mean"],
                     "sgm_osqp": m["osqp"]["sgm"], "sgm": m[method]["sgm"]}
    return rows


def class_table(runs: dict[str, dict], split: str, method: str) -> list[str]:
    """Markdown: one line per class, means over the runs (seeds) and the per-seed ratios."""
    per_run = [class_rows(c, split, method) for c in runs.values()]
    lines = [f"| class | OSQP mean its | floor | attainable ratio | {method} ratio (per seed) | "
             f"hand rule ratio | sgm OSQP / {method} | seeds at 3x |", "|---|---|---|---|---|---|---|---|"]
    for cls in per_run[0]:
        vals = [r[cls] for r in per_run]
        mean = {k: float(np.mean([v[k] for v in vals])) for k in vals[0]}
        seeds = ", ".join(f"{v['ratio']:.2f}" for v in vals)
        lines.append(f"| {cls} | {mean['osqp']:.0f} | {mean['floor']:.0f} | {mean['attainable']:.2f} | "
                     f"{mean['ratio']:.2f} ({seeds}) | {mean['hand_rule_ratio']:.2f} | "
                     f"{mean['sgm_osqp']:.0f} / {mean['sgm']:.0f} | {sum(v['ratio'] >= 3 for v in vals)} of "
                     f"{len(vals)} |")
    return lines


def classes(claim_dir: Path, method: str) -> str:
    arms: dict[str, dict[str, dict]] = {}
    for path in sorted(claim_dir.glob("*/s*/comparison.json")):
        arms.setdefault(path.parent.parent.name, {})[path.parent.name] = json.loads(path.read_text())
    if not arms:
        raise SystemExit(f"error: no <arm>/s<seed>/comparison.json under {claim_dir}; "
                         "run benchmarks/claim.py rlqp first")
    out = ["# RLQP per class: ratios to OSQP against the floor", "",
           f"Command: `python -m rlkit.algos.rlqp.analyse classes {claim_dir} --method {method}`. Ratio = "
           "OSQP's mean iterations / the method's (higher is better); attainable = OSQP's mean / the "
           "floor's, the largest ratio any rho policy can reach on the class; means over seeds.", ""]
    for arm, runs in arms.items():
        for split in ("test", "larger"):
            out += [f"## {arm}: {split} problems ({', '.join(runs)})", "",
                    *class_table(runs, split, method), ""]
    return "\n".join(out)


def _row(name: str, r: dict) -> str:
    its = r["per_problem"]
    return (f"| {name} | {np.mean(its):.0f} | {sgm(its):.0f} | {r['solved']:.0%} | "
            f"{r['refactorizations']:.1f} | {1e3 * r['solve_time']:.0f} |")


def _settings(run: Path) -> Settings:
    """The solver settings a run was trained and evaluated with."""
    agent = load_run(run)
    if not isinstance(agent, RLQP):
        raise SystemExit(f"error: {run} is not an RLQP run ({type(agent).__name__})")
    return agent.solve_settings()


def maros_meszaros_table(runs: list[Path], mm_dir: Path, max_size: int) -> str:
    start = time.time()
    problems = maros_meszaros(mm_dir, max_size)
    settings = _settings(runs[0])
    lines = ["| method | mean its | shifted geo mean | solved | refactorisations | time/solve (ms) |",
             "|---|---|---|---|---|---|"]
    lines += [_row(name, evaluate_policy(problems, rho, settings))
              for name, rho in (("osqp", "osqp"), ("hand_rule", ActiveSetRule()))]
    for run in runs:
        if run != runs[0] and _settings(run) != settings:
            raise SystemExit(f"error: {run} was trained with other solver settings than {runs[0]}")
        path = run / "policy_best.pt" if (run / "policy_best.pt").is_file() else run / "policy.pt"
        lines.append(_row(f"{run.parent.name}/{run.name} ({path.stem})",
                          evaluate_policy(problems, LearnedRhoPolicy.load(path), settings)))
    command = " ".join(["python -m rlkit.algos.rlqp.analyse maros-meszaros", *map(str, runs),
                        "--mm-dir", str(mm_dir), "--max-size", str(max_size)])
    return "\n".join([f"# RLQP on {len(problems)} Maros-Meszaros problems (n + m <= {max_size})", "",
                      f"Command: `{command}` ({(time.time() - start) / 60:.1f} min). Unsolved problems "
                      f"count at the cap ({settings.max_iter} iterations).", "", *lines]) + "\n"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classes", help="per-class ratios of a claim's runs")
    c.add_argument("claim_dir", type=Path, help="the claim's run directory (<arm>/s<seed>/comparison.json)")
    c.add_argument("--method", default="best", help="best (the validation-selected snapshot) or learned (last)")
    m = sub.add_parser("maros-meszaros", help="finished runs' policies on the Maros-Meszaros problems")
    m.add_argument("runs", type=Path, nargs="+", help="run directories of experiment=rlqp_* runs")
    m.add_argument("--mm-dir", type=Path, default=os.environ.get("MAROS_MESZAROS_DIR"),
                   help="folder of Maros-Meszaros .mat files (default: $MAROS_MESZAROS_DIR)")
    m.add_argument("--max-size", type=int, default=1500, help="keep problems with n + m <= this")
    for parser in (c, m):
        parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    if args.command == "classes":
        text = classes(args.claim_dir, args.method)
    elif args.mm_dir is None:
        raise SystemExit("error: no Maros-Meszaros folder; pass --mm-dir or set MAROS_MESZAROS_DIR")
    else:
        text = maros_meszaros_table(args.runs, args.mm_dir, args.max_size)
    if args.out:
        args.out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
