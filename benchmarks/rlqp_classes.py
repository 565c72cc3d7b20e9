"""RLQP claim per problem class: each method's mean iterations against OSQP's and against the floor.

The floor (``docs/rlqp.md``) is the fewest iterations any rho policy can need: the first K = 50
iterations run at OSQP's default rho, so a problem OSQP has not solved by then needs at least 75.
A class's attainable ratio is OSQP's mean over the floor's: where it is below 3, no policy can be
3x faster than OSQP on that class. Reads the ``comparison.json`` every RLQP run writes.

    .venv/bin/python benchmarks/rlqp_classes.py ~/rlkit-runs/claims/rlqp --out results/rlqp/claim_classes.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


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


def table(runs: dict[str, dict], split: str, method: str) -> list[str]:
    """Markdown: one line per class with the means over seeds and the per-seed ratios."""
    per_run = {name: class_rows(c, split, method) for name, c in runs.items()}
    classes = list(next(iter(per_run.values())))
    lines = [f"| class | OSQP mean its | floor | attainable ratio | {method} ratio (per seed) | "
             f"hand rule ratio | sgm OSQP / {method} | seeds at 3x |", "|---|---|---|---|---|---|---|---|"]
    for cls in classes:
        vals = [r[cls] for r in per_run.values()]
        mean = {k: float(np.mean([v[k] for v in vals])) for k in vals[0]}
        seeds = ", ".join(f"{v['ratio']:.2f}" for v in vals)
        at_3x = sum(v["ratio"] >= 3 for v in vals)
        lines.append(f"| {cls} | {mean['osqp']:.0f} | {mean['floor']:.0f} | {mean['attainable']:.2f} | "
                     f"{mean['ratio']:.2f} ({seeds}) | {mean['hand_rule_ratio']:.2f} | "
                     f"{mean['sgm_osqp']:.0f} / {mean['sgm']:.0f} | {at_3x} of {len(vals)} |")
    return lines


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("claim_dir", type=Path, help="the claim's run directory (arms/s<seed>/comparison.json)")
    p.add_argument("--method", default="best", help="best (the best-validation snapshot) or learned (the last)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    arms: dict[str, dict[str, dict]] = {}
    for path in sorted(args.claim_dir.glob("*/s*/comparison.json")):
        arms.setdefault(path.parent.parent.name, {})[path.parent.name] = json.loads(path.read_text())
    if not arms:
        raise SystemExit(f"error: no */s*/comparison.json under {args.claim_dir}; "
                         "run benchmarks/claim.py rlqp first")
    out = ["# RLQP per class: ratios to OSQP against the floor", "",
           f"Command: `.venv/bin/python benchmarks/rlqp_classes.py {args.claim_dir} --method {args.method}`. "
           "Ratio = OSQP's mean iterations / the method's (higher is better); attainable = OSQP's mean / "
           "the floor's, the largest ratio any rho policy can reach on the class; means over seeds.", ""]
    for arm, runs in arms.items():
        for split in ("test", "larger"):
            out += [f"## {arm}: {split} problems ({', '.join(runs)})", "", *table(runs, split, args.method), ""]
    text = "\n".join(out)
    if args.out:
        args.out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
