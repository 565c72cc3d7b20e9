"""RLQP solver speed against the osqp package, same machine, one run.

    .venv/bin/python benchmarks/rlqp_speed.py [--batch 1000] [--n 10] [--device cpu|cuda] [--threads 1]
                                              [--episodes 64]

1. Throughput (QPs/s) on a batch of small Random QPs (n variables, 10n constraints, eps 1e-3,
   osqp 1.x defaults): osqp solving them one by one (setup + solve) against ``BatchedADMM``
   (setup + solve), in float64 and float32. Iteration counts are compared as a check.
2. Per-iteration time of the sparse ``ADMM`` against osqp's on one larger QP (adaptive rho off,
   termination checks off, a fixed number of iterations), as a ratio.
3. Training collection: env steps (rho decisions) per second of RLQP's episodes on the default
   training classes (env=qp_mixed; random-phase actions, no TD3 updates, so the solver is all that
   is timed) with 1 and 2 worker processes (``algo.workers``), rounds of 8 episodes, after a
   warm-up round. Both collect exactly the same episodes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlkit.algos.rlqp import ADMM, BatchedADMM, Settings  # noqa: E402
from rlkit.config import set_threads  # noqa: E402
from rlkit.envs.qp.problems import generate  # noqa: E402


def osqp_batch(problems) -> tuple[float, np.ndarray]:
    import osqp

    t = time.perf_counter()
    its = []
    for p in problems:
        m = osqp.OSQP()
        m.setup(sp.triu(p.P, format="csc"), p.q, p.A, p.l, p.u, verbose=False, polishing=False)
        its.append(m.solve(raise_error=False).info.iter)
    return time.perf_counter() - t, np.array(its)


def per_iteration(n: int, iters: int) -> tuple[float, float]:
    import osqp

    qp = generate("random_qp", n, 0)
    m = osqp.OSQP()
    m.setup(sp.triu(qp.P, format="csc"), qp.q, qp.A, qp.l, qp.u, verbose=False, adaptive_rho=0,
            check_termination=0, max_iter=iters, eps_abs=1e-14, eps_rel=1e-14)
    r = m.solve(raise_error=False)
    t_osqp = r.info.solve_time / r.info.iter
    s = ADMM(qp.P, qp.q, qp.A, qp.l, qp.u, Settings(adaptive_rho=False, check_termination=0))
    t = time.perf_counter()
    for _ in range(iters):
        s.iterate()
    return t_osqp, (time.perf_counter() - t) / iters


def collection(episodes: int, workers: int, per_round: int = 8) -> float:
    """Env steps per second of ``episodes`` training episodes (a multiple of ``per_round``)."""
    from rlkit.algos.rlqp import RLQP, RLQPConfig

    cfg = RLQPConfig(workers=workers, episodes_per_round=per_round, random_episodes=10**9, updates_per_step=0.0)
    agent = RLQP(cfg, seed=0)
    for _ in range(per_round):               # the first round starts the worker processes
        agent.train_step()
    start, t = agent.env_steps, time.perf_counter()
    for _ in range(episodes):
        agent.train_step()
    return (agent.env_steps - start) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iter-n", type=int, default=100)
    p.add_argument("--episodes", type=int, default=64)
    args = p.parse_args()
    set_threads(args.threads)
    problems = [generate("random_qp", args.n, i) for i in range(args.batch)]
    t_osqp, its = osqp_batch(problems)
    rows = [("osqp (one by one)", args.batch / t_osqp, "-")]
    for dtype in (torch.float64, torch.float32):
        t = time.perf_counter()
        res = BatchedADMM(problems, Settings(), device=args.device, dtype=dtype).solve()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        same = float(np.mean(res.iterations == its))
        rows.append((f"BatchedADMM {str(dtype)[6:]} ({args.device})", args.batch / dt, f"{same:.1%}"))
    print(f"\n{args.batch} Random QPs, n={args.n}, m={10 * args.n}; torch threads={args.threads}\n")
    print("| solver | QPs/s | ratio to osqp | iterations equal to osqp's |\n|---|---|---|---|")
    for name, qps, same in rows:
        print(f"| {name} | {qps:.0f} | {qps / rows[0][1]:.2f}x | {same} |")
    t_o, t_a = per_iteration(args.iter_n, 300)
    print(f"\nPer ADMM iteration, Random QP n={args.iter_n} (m={10 * args.iter_n}): osqp "
          f"{t_o * 1e6:.1f} us, ours (sparse, scipy) {t_a * 1e6:.1f} us: ratio {t_a / t_o:.1f}x slower")
    per_round = min(8, args.episodes)
    episodes = max(per_round, args.episodes - args.episodes % per_round)
    rates = {w: collection(episodes, w, per_round) for w in (1, 2)}
    print(f"\nTraining collection, {episodes} episodes of env=qp_mixed: 1 worker {rates[1]:.1f} env steps/s, "
          f"2 workers {rates[2]:.1f} env steps/s ({rates[2] / rates[1]:.2f}x)")


if __name__ == "__main__":
    main()
