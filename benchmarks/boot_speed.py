"""BooT / TT speed: beam-search planning latency (KV cache vs the official uncached decoding) and
training throughput (fused attention + foreach AdamW vs the textbook attention + per-tensor AdamW).

Official planner settings, hopper sizes (obs 11, action 3, D = 16): beam 128, horizon 10, n_expand 2,
context 5 transitions, 100 bins, 4 layers x 4 heads x width 128 (random weights: the cost does not
depend on training). Both planners draw from identically seeded generators; the benchmark reports
whether they chose identical plans. The cached planner and the training step also run in bf16
(``precision=bf16``: torch.autocast, rlkit.precision), with this machine's fp32 and bf16 matmul
throughput measured in the same run. Beam search samples its action tokens, so bf16's rounding can
flip a draw: the run reports on ``--states`` fixed prefixes how often the executed action (the best
plan's first) equals fp32's, beside how often fp32 agrees with itself under another seed. Random
weights give nearly flat token distributions, where any rounding flips a draw; ``--run-dir`` runs
the same check (and the evaluation return in each precision) on a trained model instead.

    .venv/bin/python benchmarks/boot_speed.py --threads 1
    .venv/bin/python benchmarks/boot_speed.py --run-dir ~/rlkit-runs/claims/precision_bf16/tt_fp32/s0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rlkit.algos.boot import BeamPlanner, PlannerConfig, QuantileDiscretizer
from rlkit.algos.boot.model import TrajectoryGPT, trajectory_loss
from rlkit.precision import autocast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import matmul_gflops  # noqa: E402  (benchmarks/timing.py)


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
    variants = (("uncached (official)", False, "fp32", args.uncached_reps), ("KV cache (ours)", True, "fp32",
                args.cached_reps), ("KV cache (ours), bf16", True, "bf16", args.cached_reps))
    for name, cache, precision, reps in variants:
        planner = _planner(model, disc, cache, 1, args)
        times, out = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            with autocast(precision, "cpu"):
                out.append(planner.plan(prefix)[0])
            times.append(time.perf_counter() - t0)
        plans[name] = out
        rows.append((name, float(np.median(times)), planner.model_calls / reps))
    same = all(torch.equal(a, b) for a, b in zip(plans["uncached (official)"], plans["KV cache (ours)"],
                                                  strict=False))
    base = rows[0][1]
    for precision in ("fp32", "bf16"):
        batch = _planner(model, disc, True, 1, args)
        t0 = time.perf_counter()
        with autocast(precision, "cpu"):
            batch.plan(prefix.repeat(args.episodes, 1))
        rows.append((f"KV cache, {args.episodes} episodes in one batch, {precision}",
                     (time.perf_counter() - t0) / args.episodes, float("nan")))
    lines = ["| planner | s per env step (per episode) | model calls per step | speed-up over official |",
             "|---|---|---|---|"]
    for name, t, calls in rows:
        lines.append(f"| {name} | {t:.3f} | {'-' if np.isnan(calls) else f'{calls:.0f}'} | {base / t:.1f}x |")
    n = min(args.uncached_reps, args.cached_reps)
    lines += ["", f"Identical plans (cache vs uncached, same seeds, first {n} steps): {same}"]
    lines.append(agreement(model, disc, obs, D, args))
    return lines


def agreement(model: TrajectoryGPT, disc: QuantileDiscretizer, obs: int, D: int,
              args: argparse.Namespace) -> str:
    """How often bf16 executes fp32's action on fixed prefixes, beside fp32 under another seed."""
    g = torch.Generator().manual_seed(2)
    same_bf16 = same_reseeded = 0
    for i in range(args.states):
        prefix = torch.randint(0, 100, (1, 5 * D + obs), generator=g)
        actions = []
        for precision, seed in (("fp32", i), ("bf16", i), ("fp32", i + 1000)):
            planner = _planner(model, disc, True, seed, args)
            with autocast(precision, "cpu"):
                actions.append(planner.actions(planner.plan(prefix)[0]))
        same_bf16 += bool(np.array_equal(actions[0], actions[1]))
        same_reseeded += bool(np.array_equal(actions[0], actions[2]))
    return (f"Executed action equal to fp32's (same seed) on {same_bf16} of {args.states} fixed prefixes in "
            f"bf16; fp32 with another seed: {same_reseeded} of {args.states}")


def training(args: argparse.Namespace) -> list[str]:
    obs, act = 11, 3
    D = obs + act + 2
    T = 10 * D - 1
    X = torch.randint(0, 100, (256, T))
    Y = torch.randint(0, 100, (256, T))
    mask = torch.ones(256, T)
    out, lines = {}, ["| training step (batch 256 x 159 tokens) | tokens/s | ratio |", "|---|---|---|"]
    variants = (("textbook attention + per-tensor AdamW", False, "fp32"),
                ("fused attention + foreach AdamW", True, "fp32"),
                ("fused attention + foreach AdamW, bf16", True, "bf16"))
    for name, fused, precision in variants:
        torch.manual_seed(0)
        model = TrajectoryGPT(obs, act, 100, T, args.layers, 4, args.width, 0.1, fused_attention=fused)
        opt = torch.optim.AdamW(model.optimizer_groups(0.1), lr=1e-3, betas=(0.9, 0.95), foreach=fused)
        w = model.token_weights()

        def step(model=model, opt=opt, w=w, precision=precision) -> None:
            with autocast(precision, "cpu"):
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


def trained(args: argparse.Namespace) -> list[str]:
    """The decision check on a trained model (``--run-dir``: a BooT / TT run directory, its last
    checkpoint): from ``--states`` start observations of its env, the action the agent executes in
    bf16 against fp32 (same planner seed), beside fp32 under another seed; then its evaluation
    return over ``--eval-episodes`` episodes in each precision (same seeds)."""
    from rlkit.agent import load_run
    from rlkit.env_spec import eval_env_factory

    agent = load_run(args.run_dir, checkpoint="last")
    env = eval_env_factory(agent.env)()
    same_bf16 = same_reseeded = 0
    gaps: dict[str, list[float]] = {"bf16": [], "reseeded": []}
    for i in range(args.states):
        obs, _ = env.reset(seed=10_000 + i)
        actions = []
        for precision, seed in (("fp32", i), ("bf16", i), ("fp32", i + 1000)):
            agent.planner.generator = torch.Generator().manual_seed(seed)
            with autocast(precision, "cpu"):
                actions.append(agent.act(obs))
        same_bf16 += bool(np.array_equal(actions[0], actions[1]))
        same_reseeded += bool(np.array_equal(actions[0], actions[2]))
        gaps["bf16"].append(float(np.abs(actions[0] - actions[1]).max()))
        gaps["reseeded"].append(float(np.abs(actions[0] - actions[2]).max()))
    returns = {}
    for precision in ("fp32", "bf16"):
        with autocast(precision, "cpu"):
            returns[precision] = agent.evaluate(args.eval_episodes)["eval/return"]
    return [f"Trained model {args.run_dir}: executed action equal to fp32's (same seed) on {same_bf16} of "
            f"{args.states} start states in bf16 (mean largest difference {np.mean(gaps['bf16']):.3f}); fp32 "
            f"with another seed: {same_reseeded} of {args.states} ({np.mean(gaps['reseeded']):.3f}). "
            f"Evaluation return over {args.eval_episodes} episodes: fp32 {returns['fp32']:.1f}, "
            f"bf16 {returns['bf16']:.1f}"]


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
    p.add_argument("--states", type=int, default=10, help="fixed prefixes of the bf16 decision check")
    p.add_argument("--run-dir", default=None, help="a trained BooT / TT run: its decisions in bf16 (only this)")
    p.add_argument("--eval-episodes", type=int, default=10, help="evaluation episodes of --run-dir")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    peak = {dtype: matmul_gflops(getattr(torch, dtype)) for dtype in ("float32", "bfloat16")}
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU; matmul [4096 x 256] @ [256 x 256] on the "
          f"same threads: fp32 {peak['float32']:.0f}, bf16 {peak['bfloat16']:.0f} GFLOP/s\n")
    if args.run_dir:
        print("\n".join(trained(args)))
        return
    print("\n".join(planning(args)))
    print()
    print("\n".join(training(args)))


if __name__ == "__main__":
    main()
