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

``precision=bf16`` (ours) runs the networks' matrix products in bfloat16. The run measures this
machine's fp32 and bf16 matmul throughput on the same threads and reports every planner's
arithmetic rate as a fraction of it (the FLOPs are those of the linear layers, counted per row).
Also timed: one iteration of the paper-size VAE's training (64x64 images, batch 256, two random
crops per image as the released ``enc_data_aug``, Adam), in fp32 and under bf16 autocast: the cost
of the official 100,000 iterations on this machine.
Decisions: for ``--states`` fixed latent states, the first action of the fp32 and the bf16 planner (same
generator) and, for one fixed population, the overlap of their elite sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import best_time, linear_flops, matmul_gflops  # noqa: E402  (benchmarks/timing.py)

from rlkit.precision import autocast  # noqa: E402


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


def latency(planner, precision: str, repeats: int) -> float:
    z0 = torch.zeros(32, device=planner.low.device)

    def plan() -> None:
        with autocast(precision, z0.device):
            planner.plan(z0)
        if z0.is_cuda:
            torch.cuda.synchronize()

    plan()                                                        # warm-up

    return best_time(plan, repeats)


def plan_gflop(planner, every_particle: bool = False) -> float:
    """Linear-layer GFLOP of one plan call: every scored iteration rolls P x N rows for H steps through
    one dynamics member, the goal and the constraint nets, and scores P x N terminals with the value
    ensemble and the safe set (ours: P = 1 without dynamics noise; the loop rolls every particle)."""
    cfg = planner.cfg
    P = cfg.particles if cfg.dynamics_noise or every_particle else 1
    per_step = linear_flops(planner.dynamics) / planner.dynamics.members + linear_flops(planner.goal) \
        + linear_flops(planner.constraint)
    terminal = linear_flops(planner.value.net) + linear_flops(planner.safe_set.net)
    rows = P * cfg.population
    return (cfg.iterations - 1) * rows * (cfg.horizon * per_step + terminal) / 1e9


def agreement(planner, states: int) -> tuple[float, float, float]:
    """Decisions of the planner in bf16 against fp32: the mean elite-set overlap on one fixed population
    per state, the fraction of states whose first actions differ by < 0.3 (5% of the action range) in
    every coordinate, and the largest difference."""
    g = torch.Generator().manual_seed(1)
    overlaps, diffs = [], []
    for _ in range(states):
        z0 = torch.randn(32, generator=g).to(planner.low.device)
        u = torch.rand(planner.cfg.population, 5, 2, generator=g).to(z0.device)
        cand = planner.low + (planner.high - planner.low) * u
        elites, actions = [], []
        for precision in ("fp32", "bf16"):
            planner.generator.manual_seed(7)
            with autocast(precision, z0.device):
                elites.append(set(planner.score(z0, cand)[0].topk(planner.cfg.elites).indices.tolist()))
            planner.generator.manual_seed(8)
            with autocast(precision, z0.device):
                actions.append(planner.plan(z0)[0])
        overlaps.append(len(elites[0] & elites[1]) / planner.cfg.elites)
        diffs.append(float(abs(actions[0] - actions[1]).max()))
    return sum(overlaps) / states, sum(d < 0.3 for d in diffs) / states, max(diffs)


def vae_iteration(precision: str, batch: int, repeats: int) -> float:
    """Seconds per training iteration of the paper-size VAE (``LS3.train_vae``'s step)."""
    from rlkit.algos.ls3.data import random_crops
    from rlkit.algos.ls3.vae import VAE
    torch.manual_seed(0)
    vae, g = VAE(32, 3, 64, "ls3", 1e-6), torch.Generator().manual_seed(0)
    optim = torch.optim.Adam(vae.parameters(), lr=1e-4)
    images = torch.rand(batch, 3, 64, 64)

    def step() -> None:
        target = random_crops(images, g)
        with autocast(precision, "cpu"):
            loss = vae.loss(random_crops(target, g), target)["loss"]
        optim.zero_grad()
        loss.backward()
        optim.step()

    step()                                                         # warm-up
    return best_time(step, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--population", type=int, default=1000, help="CEM candidates (paper: 1000)")
    p.add_argument("--particles", type=int, default=20, help="particles per candidate (paper: 20)")
    p.add_argument("--states", type=int, default=10, help="fixed latent states of the bf16/fp32 decision check")
    p.add_argument("--vae-batch", type=int, default=256, help="VAE training batch (paper: 256)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    size = {"population": args.population, "particles": args.particles}
    ours, one_pass, reference, big = (build(args.device, rows, **size) for rows in (1024, 10**9, 1024, 4096))
    mean_ours, mean_reference = (build(args.device, dynamics_noise=False, **size) for _ in range(2))
    for planner in (reference, mean_reference):
        planner.score = PerParticle(planner).score
    peak = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    rows = {"batched in blocks of 1024 rows (ours, default)": (ours, "fp32"),
            "batched, all rows in one pass": (one_pass, "fp32"),
            "per-particle loop (reference)": (reference, "fp32"), "ours, precision=bf16": (ours, "bf16"),
            "ours, precision=bf16, blocks of 4096 rows": (big, "bf16"),
            "dynamics_noise=false: ours (one mean rollout scores all particles)": (mean_ours, "fp32"),
            "dynamics_noise=false: per-particle loop": (mean_reference, "fp32"),
            "dynamics_noise=false: ours, precision=bf16": (mean_ours, "bf16")}
    times = {name: latency(planner, precision, args.repeats) for name, (planner, precision) in rows.items()}
    overlap, same, worst = agreement(ours, args.states)
    vae = {precision: vae_iteration(precision, args.vae_batch, args.repeats) for precision in ("fp32", "bf16")}
    print(f"\ntorch {torch.__version__}, device {args.device}, {args.threads} thread(s), "
          f"best of {args.repeats}; {args.population} candidates x {args.particles} particles x H5, "
          "4 scored CEM iterations (paper: 1000 x 20)")
    print(f"matmul [4096 x 256] @ [256 x 256] on the same threads: fp32 {peak['fp32']:.0f} GFLOP/s, "
          f"bf16 {peak['bf16']:.0f} GFLOP/s\n")
    print("| planner | seconds per env step | GFLOP | GFLOP/s | fraction of the matmul peak |")
    print("|---|---|---|---|---|")
    for name, (planner, precision) in rows.items():
        gflop, t = plan_gflop(planner, every_particle="loop" in name), times[name]
        rate = gflop / t
        print(f"| {name} | {t:.3f} | {gflop:.1f} | {rate:.0f} | {rate / peak[precision]:.2f} ({precision}) |")
    ref = times["per-particle loop (reference)"]
    mean_ref = times["dynamics_noise=false: per-particle loop"]
    print("\n| speed-up over the per-particle loop (fp32) | |\n|---|---|")
    for name in ("batched in blocks of 1024 rows (ours, default)", "ours, precision=bf16",
                 "ours, precision=bf16, blocks of 4096 rows"):
        print(f"| {name} | {ref / times[name]:.2f}x |")
    for name in ("dynamics_noise=false: ours (one mean rollout scores all particles)",
                 "dynamics_noise=false: ours, precision=bf16"):
        print(f"| {name} (against the loop without noise) | {mean_ref / times[name]:.2f}x |")
    print(f"\nbf16 against fp32 decisions ({args.states} fixed latent states, random paper-size networks): "
          f"elite-set overlap {overlap:.3f}; first action within 0.3 in {same:.0%} of states "
          f"(largest difference {worst:.3f})")
    print(f"\nPaper-size VAE training (batch {args.vae_batch}, 64x64): fp32 {vae['fp32']:.2f} s per iteration "
          f"({vae['fp32'] * 1e5 / 3600:.1f} h for the official 100k), bf16 autocast {vae['bf16']:.2f} s "
          f"({vae['bf16'] * 1e5 / 3600:.1f} h)")


if __name__ == "__main__":
    main()
