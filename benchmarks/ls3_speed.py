"""LS3 planner latency per env step at paper settings (official ``CEMSafeSetPolicy`` defaults): CEM
population 1000, 100 elites,
20 particles, horizon 5, 4 scored iterations, latent 32, dynamics 5 x (2 x 128), value 5 x (3 x 200),
safe set / constraint / goal 3 x 200 (randomly initialised: the cost does not depend on the weights).

    .venv/bin/python benchmarks/ls3_speed.py [--repeats 3] [--threads 1]

Ours scores the candidate x particle rows in cache-sized blocks (also timed: one 20,000-row pass per
time step, the official layout). The reference is the
straightforward loop: the same CEM, but each particle is rolled out and scored on its own
(20 passes of 1000 rows per time step instead of one of 20,000), as a per-particle implementation
of the official planner would. Both run on CPU here; on a GPU machine pass --device cuda.
The same pair is timed with dynamics_noise=false, where every particle follows the same mean
rollout and ours scores one for all (exactly the same scores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import best_time  # noqa: E402  (benchmarks/timing.py)


def build(device: str, block_rows: int = 1024, dynamics_noise: bool = True, population: int = 1000,
          particles: int = 20):
    """The planner at paper settings with fixed random weights; thresholds that make every candidate
    feasible (delta_S 0, delta_C 1), so each call does exactly the 4 scored CEM iterations."""
    import numpy as np

    from rlkit.algos.ls3 import (
        DynamicsEnsemble,
        LatentClassifier,
        PlannerConfig,
        SafeSet,
        SafeSetCEM,
        ValueEnsemble,
    )

    torch.manual_seed(0)
    d = 32
    mods = [DynamicsEnsemble(d, 2), ValueEnsemble(d), SafeSet(d), LatentClassifier(d, "constraint"),
            LatentClassifier(d, "goal")]
    mods = [m.to(device) for m in mods]
    cfg = PlannerConfig(delta_s=0.0, delta_c=1.0, dynamics_noise=dynamics_noise, population=population,
                        particles=particles, elites=min(100, population // 2))
    return SafeSetCEM(cfg, *mods, np.array([-3.0, -3.0]),
                      np.array([3.0, 3.0]), seed=0, block_rows=block_rows)


class PerParticle:
    """The reference: the same scoring rules, one particle at a time."""

    def __init__(self, planner) -> None:
        self.p = planner

    @torch.no_grad()
    def score(self, z0: torch.Tensor, actions: torch.Tensor, s0: torch.Tensor | None = None):
        p, cfg = self.p, self.p.cfg
        N, H, _ = actions.shape
        goal = torch.zeros(cfg.particles, N, H, device=z0.device)
        constraint = torch.zeros_like(goal)
        value = torch.zeros(cfg.particles, N, device=z0.device)
        safe = torch.zeros_like(value)
        members = torch.randint(p.dynamics.members, (H,), generator=p.generator)
        for k in range(cfg.particles):
            z = z0.expand(N, -1)
            for t in range(H):
                mean, log_std = p.dynamics.member_step(int(members[t]), z, actions[:, t])
                z = z + mean + (log_std.exp() * torch.randn_like(mean) if cfg.dynamics_noise else 0)
                goal[k, :, t] = p.goal(z)
                constraint[k, :, t] = torch.sigmoid(p.constraint(z))
            value[k] = p.value(z)
            safe[k] = torch.sigmoid(p.safe_set(z))
        steps = (goal.mean(0) > cfg.goal_thresh).sum(-1) - 1e5 * (constraint.amax(0) > cfg.delta_c).sum(-1)
        unsafe = safe.mean(0) < p.delta_s
        score = value.mean(0) + steps - 1e5 * unsafe
        return score, score > -1e5


def latency(planner, repeats: int) -> float:
    z0 = torch.zeros(32, device=planner.low.device)
    planner.plan(z0)                                              # warm-up

    def plan() -> None:
        planner.plan(z0)
        if z0.is_cuda:
            torch.cuda.synchronize()

    return best_time(plan, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--population", type=int, default=1000, help="CEM candidates (paper: 1000)")
    p.add_argument("--particles", type=int, default=20, help="particles per candidate (paper: 20)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    size = {"population": args.population, "particles": args.particles}
    ours, one_pass, reference = (build(args.device, rows, **size) for rows in (1024, 10**9, 1024))
    mean_ours, mean_reference = (build(args.device, dynamics_noise=False, **size) for _ in range(2))
    for planner in (reference, mean_reference):
        planner.score = PerParticle(planner).score
    t_ours, t_one, t_ref, t_mean, t_mean_ref = (latency(x, args.repeats) for x in (
        ours, one_pass, reference, mean_ours, mean_reference))
    print(f"\ntorch {torch.__version__}, device {args.device}, {args.threads} thread(s), "
          f"best of {args.repeats}; {args.population} candidates x {args.particles} particles x H5, "
          "4 scored CEM iterations (paper: 1000 x 20)\n")
    print("| planner | seconds per env step |\n|---|---|")
    print(f"| batched in blocks of 1024 rows (ours, default) | {t_ours:.3f} |")
    print(f"| batched, all rows in one pass | {t_one:.3f} |")
    print(f"| per-particle loop (reference) | {t_ref:.3f} |")
    print(f"| speed-up of ours over the reference | {t_ref / t_ours:.2f}x |")
    print(f"| dynamics_noise=false: ours (one mean rollout scores all particles) | {t_mean:.3f} |")
    print(f"| dynamics_noise=false: per-particle loop | {t_mean_ref:.3f} |")
    print(f"| dynamics_noise=false: speed-up of ours over the loop | {t_mean_ref / t_mean:.2f}x |")


if __name__ == "__main__":
    main()
