"""BooT / TT speed: beam-search planning latency (KV cache vs the official uncached decoding) and
training throughput (fused attention + foreach AdamW vs the textbook attention + per-tensor AdamW).

Official planner settings, hopper sizes (obs 11, action 3, D = 16): beam 128, horizon 10, n_expand 2,
context 5 transitions, 100 bins, 4 layers x 4 heads x width 128 (random weights: the cost does not
depend on training). Both planners draw from identically seeded generators; the benchmark reports
whether they chose identical plans.

    .venv/bin/python benchmarks/boot_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rlkit.algos.boot import BeamPlanner, PlannerConfig, QuantileDiscretizer
from rlkit.algos.boot.model import TrajectoryGPT, trajectory_loss


def _planner(model: TrajectoryGPT, disc: QuantileDiscretizer, cache: bool, seed: int,
             args: argparse.Namespace) -> BeamPlanner:
    cfg = PlannerConfig(horizon=args.horizon, beam_width=args.beam_width, n_expand=2, max_context_transitions=5,
                        cache=cache)
    return BeamPlanner(model, disc, cfg, torch.Generator().manual_seed(seed))


def planning(args: argparse.Namespace) -> list[str]:
    torch.manual_seed(0)
    obs, act = 11, 3
    D = obs + act + 2
    model = TrajectoryGPT(obs, act, 100, 10 * D - 1, args.layers, 4, args.width, 0.1).eval()
    disc = QuantileDiscretizer(np.random.default_rng(0).normal(size=(5000, D)), 100)
    prefix = torch.randint(0, 100, (1, 5 * D + obs))
    rows, plans = [], {}
    for cache, reps in ((False, args.uncached_reps), (True, args.cached_reps)):
        planner = _planner(model, disc, cache, 1, args)
        times, out = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            out.append(planner.plan(prefix)[0])
            times.append(time.perf_counter() - t0)
        plans[cache] = out
        rows.append((cache, float(np.median(times)), planner.model_calls / reps))
    same = all(torch.equal(a, b) for a, b in zip(plans[False], plans[True], strict=False))
    batch = _planner(model, disc, True, 1, args)
    t0 = time.perf_counter()
    batch.plan(prefix.repeat(args.episodes, 1))
    per_episode = (time.perf_counter() - t0) / args.episodes
    base = rows[0][1]
    lines = ["| planner | s per env step | model calls per step | speed-up |", "|---|---|---|---|"]
    for cache, t, calls in rows:
        lines.append(f"| {'KV cache (ours)' if cache else 'uncached (official)'} | {t:.3f} | {calls:.0f} | "
                     f"{base / t:.1f}x |")
    lines.append(f"| KV cache, {args.episodes} episodes in one batch | {per_episode:.3f} per episode | - | "
                 f"{base / per_episode:.1f}x |")
    n = min(args.uncached_reps, args.cached_reps)
    lines += ["", f"Identical plans (cache vs uncached, same seeds, first {n} steps): {same}"]
    return lines


def training(args: argparse.Namespace) -> list[str]:
    obs, act = 11, 3
    D = obs + act + 2
    T = 10 * D - 1
    X = torch.randint(0, 100, (256, T))
    Y = torch.randint(0, 100, (256, T))
    mask = torch.ones(256, T)
    out, lines = {}, ["| training step (batch 256 x 159 tokens) | tokens/s | ratio |", "|---|---|---|"]
    variants = (("textbook attention + per-tensor AdamW", False), ("fused attention + foreach AdamW", True))
    for name, fused in variants:
        torch.manual_seed(0)
        model = TrajectoryGPT(obs, act, 100, T, args.layers, 4, args.width, 0.1, fused_attention=fused)
        opt = torch.optim.AdamW(model.optimizer_groups(0.1), lr=1e-3, betas=(0.9, 0.95), foreach=fused)
        w = model.token_weights()

        def step(model=model, opt=opt, w=w) -> None:
            loss, _ = trajectory_loss(model(X), Y, mask, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        step()
        t0 = time.perf_counter()
        for _ in range(args.train_steps):
            step()
        out[name] = args.train_steps * 256 * T / (time.perf_counter() - t0)
    base = out["textbook attention + per-tensor AdamW"]
    for name, tps in out.items():
        lines.append(f"| {name} | {tps:,.0f} | {tps / base:.2f}x |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--uncached-reps", type=int, default=1)
    p.add_argument("--cached-reps", type=int, default=3)
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--beam-width", type=int, default=128, help="official: 128")
    p.add_argument("--horizon", type=int, default=10, help="official: 10")
    p.add_argument("--layers", type=int, default=4, help="official: 4 (of 4 heads)")
    p.add_argument("--width", type=int, default=128, help="official: 128")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU\n")
    print("\n".join(planning(args)))
    print()
    print("\n".join(training(args)))


if __name__ == "__main__":
    main()
