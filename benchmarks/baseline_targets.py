"""Baseline targets of the foundation issue, checked over several seeds.

    .venv/bin/python benchmarks/baseline_targets.py [--seeds 0,1,2] [--jobs 2] [--out runs/targets]

Pass rule (fixed before the runs): for each preset, the mean over seeds of the *final*
evaluation return (10 deterministic episodes per seed) is at or above the target, and so is the
worst seed's best evaluation.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"ppo_cartpole": 475.0, "sac_pendulum": -250.0, "td3_pendulum": -250.0}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="runs/targets")
    p.add_argument("--only", default=",".join(TARGETS))
    args = p.parse_args()
    from rlkit.analysis import load_runs

    rows = []
    for name in args.only.split(","):
        out = Path(args.out) / name
        cmd = [sys.executable, str(ROOT / "run.py"), "-m", f"experiment={name}", f"seed={args.seeds}",
               "device=cpu", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}",
               f"hydra.sweep.dir={out}"]
        print("$", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        runs = load_runs(out).dropna(subset=["eval/return"])
        final = runs.sort_values("step").groupby("seed").tail(1).set_index("seed")["eval/return"]
        best = runs.groupby("seed")["eval/return"].max()
        ok = final.mean() >= TARGETS[name] and best.min() >= TARGETS[name]
        rows.append((name, TARGETS[name], final.mean(), final.std(), final.min(), best.min(), ok))
    print("\n| preset | target | final return, mean | std | worst seed final | worst seed best | pass |")
    print("|---|---|---|---|---|---|---|")
    for name, tgt, mean, std, worst, wbest, ok in rows:
        print(f"| {name} | {tgt:.0f} | {mean:.1f} | {std:.1f} | {worst:.1f} | {wbest:.1f} | "
              f"{'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
