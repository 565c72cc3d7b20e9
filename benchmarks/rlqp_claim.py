"""RLQP claim experiment: a learned per-constraint rho policy needs far fewer ADMM iterations.

    .venv/bin/python benchmarks/rlqp_claim.py --episodes 1000 --out docs/rlqp_results.md

Train RLQP (defaults of RLQPConfig: the paper's parametrisation, CPU schedule) on small mixed-class
QPs for a fixed number of episodes, then compare on problems never seen in training:
(a) held-out QPs of the training classes and sizes, (b) larger QPs of every class (Eq QP is a
class never trained on), (c) the Maros-Meszaros problems of ../shared/data with n + m <= --mm-max.

Pass rule (fixed before the run): on (a), the learned policy's mean ADMM iterations are at most
1/3 of OSQP's (adaptive rho, 1.x default), and at most those of the hand active-set rule.
Unsolved problems count at the iteration cap. Methods share eps, checks every 25 iterations and a
rho decision every K = 50 iterations.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algos.rlqp import RLQP, ActiveSetRule, RLQPConfig  # noqa: E402
from algos.rlqp.report import compare  # noqa: E402
from envs.qp_env import QPSampler  # noqa: E402
from envs.qp_problems import generate, load_maros_meszaros  # noqa: E402

LARGER = {"random_qp": (50, 100), "eq_qp": (20, 60), "portfolio": (6, 10), "lasso": (6, 10),
          "svm": (6, 10), "control": (10, 20), "huber": (4, 5)}


def problem_sets(classes: dict, per_class: int, larger_per_class: int, mm_max: int, seed: int):
    held = QPSampler(classes, seed + 20_000_003)
    sets = {"held-out (train classes and sizes)": [held() for _ in range(per_class * len(classes))]}
    rng = np.random.default_rng(seed + 30_000_001)
    sets["larger / unseen class"] = [generate(c, int(rng.integers(lo, hi + 1)), rng)
                                     for c, (lo, hi) in LARGER.items() for _ in range(larger_per_class)]
    mm = []
    for path in sorted((ROOT.parent / "shared" / "data" / "maros_meszaros").glob("*.mat")):
        qp = load_maros_meszaros(str(path))
        if qp.n + qp.m <= mm_max:
            mm.append(qp)
    sets["Maros-Meszaros"] = mm
    return sets


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", default="paper")
    p.add_argument("--per-class", type=int, default=8)
    p.add_argument("--larger-per-class", type=int, default=3)
    p.add_argument("--mm-max", type=int, default=1500)
    p.add_argument("--out", default="docs/rlqp_results.md")
    p.add_argument("--policy-out", default="runs/rlqp/policy.pt")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = RLQPConfig(param=args.param, eval_per_class=1)
    agent = RLQP(cfg, seed=args.seed)
    t0 = time.perf_counter()
    for ep in range(1, args.episodes + 1):
        m = agent.train_step()
        if ep % 50 == 0:
            print(f"episode {ep}: {m['train/episode_iterations']:.0f} its, "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
    train_time = time.perf_counter() - t0
    Path(args.policy_out).parent.mkdir(parents=True, exist_ok=True)
    agent.policy().save(args.policy_out)

    settings = agent.solve_settings()
    methods = {"osqp default (adaptive rho)": "osqp", "fixed rho = 0.1": "fixed",
               "hand active-set rule": ActiveSetRule(), "RLQP (learned)": agent.policy()}
    sets = problem_sets(agent.env.sampler.classes, args.per_class, args.larger_per_class,
                        args.mm_max, args.seed)
    lines = [f"Command: `.venv/bin/python benchmarks/rlqp_claim.py --episodes {args.episodes} "
             f"--seed {args.seed} --param {args.param}`  ",
             f"Training: {args.episodes} episodes, {train_time / 60:.1f} min on this CPU "
             f"(1 torch thread); eps = {settings.eps_abs:g}, cap {settings.max_iter} iterations.", ""]
    verdict = {}
    for set_name, problems in sets.items():
        rows, verdict[set_name] = compare(problems, methods, settings, set_name)
        lines += rows
    held = verdict["held-out (train classes and sizes)"]
    ratio = held["osqp default (adaptive rho)"] / held["RLQP (learned)"]
    ok = ratio >= 3.0 and held["RLQP (learned)"] <= held["hand active-set rule"]
    lines += [f"**Pass rule** (held-out, mean iterations): RLQP <= osqp / 3 and <= hand rule. "
              f"Measured: osqp {held['osqp default (adaptive rho)']:.0f}, hand rule "
              f"{held['hand active-set rule']:.0f}, RLQP {held['RLQP (learned)']:.0f} "
              f"({ratio:.2f}x fewer than osqp): **{'PASS' if ok else 'FAIL'}**."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
