"""C-Planning claim experiment, CPU tier (spec §6.2-6.3): collecting data through graph-searched
waypoints reaches farther from the start than plain C-learning with the same learner and steps.

    .venv/bin/python benchmarks/cplanning_claim.py --seeds 2 --steps 30000 --out docs/cplanning_results.md

Maze6x6 x2 (12 x 12 cells, longest geodesic 36), fixed start region at cell (0, 0), training goals
uniform over free space, 60-step episodes, action noise 0.1. Three arms, identical C-learning
(gamma 0.99, next/future/random 0.3/0.2/0.5, twin 2x128 critics, batch 128, Adam 3e-4, 2k random
steps, 0.5 updates per env step): C-learning; C-Planning with learned -log C edge costs (200
nodes, rebuilt every 10 episodes, c_min 0.3 -> top-5 edges per node, K = 8, 20 steps per waypoint,
planning from 5k steps); C-Planning with oracle BFS edge costs (hops <= 4 cells).

Metrics: coverage = fraction of the states collected in the last third of training whose BFS
distance from the start cell is >= 0.6 x 36 cells, and the farthest such distance; path-found and
waypoint-reach rates; greedy success (no search) on 50 far goals (>= 22 cells) and 50 uniform goals.

Pass rule (fixed before the runs; spec §6.3 Tier 1): mean coverage over seeds of BOTH C-Planning
arms is higher than C-learning's. Far-goal success is reported but not gated: the spec's pilot had
it at ~0 for every arm at this budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV = {"maze": "Maze6x6", "resize": 2, "max_steps": 60, "action_noise": 0.1, "start": "fixed"}
COMMON = {"hidden": (128, 128), "batch_size": 128, "random_steps": 2000, "updates_per_step": 0.5,
          "num_nodes": 200, "rebuild_every": 10, "min_prob": 0.3, "top_k": 5, "num_waypoints": 8,
          "steps_per_waypoint": 20, "planning_start": 5000, "oracle_max_hop": 4.0}
ARMS = {"c_learning": {"planning": False}, "c_planning": {"cost": "learned"},
        "c_planning_oracle": {"cost": "oracle"}}
FAR = 0.6 * 36


def eval_pairs(env, n: int, seed: int) -> dict[str, list]:
    """50 far goals (>= FAR cells from the start cell) and 50 uniform goals, fixed per seed."""
    rng = np.random.default_rng(seed)
    start_cell = np.array([0.5, 0.5])
    free = env.free.astype(float) + 0.5
    far = free[env.geodesic_between(start_cell[None], free) >= FAR]
    jitter = lambda k: rng.uniform(-0.5, 0.5, (k, 2))
    return {"far": list(far[rng.integers(len(far), size=n)] + jitter(n)),
            "uniform": list(free[rng.integers(len(free), size=n)] + jitter(n))}


def success_rate(agent, env, goals: list, seed: int) -> float:
    wins = []
    for i, goal in enumerate(goals):
        env.reset(seed=seed + i, options={"goal": goal})
        wins.append(agent.run_episode(env, [], explore=False, store=False)["success"])
    return float(np.mean(wins))


def run_one(arm: str, seed: int, steps: int, eval_every: int) -> dict:
    import torch

    from algos.cplanning import CPlanning, CPlanningConfig
    from envs.point_maze import PointMazeEnv
    from rlkit.seeding import seed_everything

    torch.set_num_threads(1)
    seed_everything(seed)
    agent = CPlanning(CPlanningConfig(**COMMON, **ARMS[arm]), lambda: PointMazeEnv(**ENV), seed=seed)
    env = PointMazeEnv(**ENV)
    env.reset(seed=0)
    pairs = eval_pairs(env, 50, 10_000 + seed)
    log, stats, start, next_eval = [], [], time.time(), eval_every
    while agent.env_steps < steps:
        stats.append(agent.train_step())
        if agent.env_steps >= next_eval:
            next_eval += eval_every
            log.append({"env_steps": agent.env_steps, **{k: success_rate(agent, env, g, 77 * seed)
                                                          for k, g in pairs.items()}})
    states = agent.buffer.storage.read(torch.arange(agent.buffer.size))["next_obs"].numpy()
    dist = env.geodesic_from(np.array([0.5, 0.5]), env.unnormalise(states[-len(states) // 3:]))
    planned = [s for s in stats if "cplanning/path_found" in s]
    mean = lambda k: float(np.mean([s[k] for s in planned])) if planned else float("nan")
    return {"arm": arm, "seed": seed, "log": log, "time_s": time.time() - start,
            "coverage": float((dist >= FAR).mean()), "max_reach": float(dist.max()),
            "path_found": mean("cplanning/path_found"), "waypoints": mean("cplanning/waypoints"),
            "waypoint_reach": mean("cplanning/waypoint_reach_rate")}


def report(results: list[dict], args: argparse.Namespace, wall: float) -> str:
    seeds = sorted({r["seed"] for r in results})
    by = {arm: [r for r in results if r["arm"] == arm] for arm in ARMS}
    m = lambda arm, k: float(np.mean([r[k] for r in by[arm]]))
    final = lambda arm, k: float(np.mean([r["log"][-1][k] for r in by[arm]]))
    cmd = f".venv/bin/python benchmarks/cplanning_claim.py --seeds {args.seeds} --steps {args.steps}"
    lines = ["# C-Planning vs C-learning: coverage on Maze6x6 x2 (CPU tier)", "", f"Command: `{cmd}`  ",
             f"{args.steps:,} env steps per run, seeds {seeds}, wall time {wall / 60:.1f} min on 2 CPU cores.",
             "",
             "Pass rule (fixed before the runs): mean coverage (fraction of late collected states >= 21.6 "
             "cells from the start) of both C-Planning arms > C-learning's.", "",
             "| arm | coverage | farthest state (cells) | path found | waypoints / episode "
             "| waypoint reach rate | far-goal success | uniform-goal success |",
             "|---|---|---|---|---|---|---|---|"]
    for arm in ARMS:
        cells = [f"{m(arm, 'coverage'):.3f}", f"{m(arm, 'max_reach'):.1f}", f"{m(arm, 'path_found'):.2f}",
                 f"{m(arm, 'waypoints'):.1f}", f"{m(arm, 'waypoint_reach'):.2f}", f"{final(arm, 'far'):.2f}",
                 f"{final(arm, 'uniform'):.2f}"]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    ok = all(m(a, "coverage") > m("c_learning", "coverage") for a in ("c_planning", "c_planning_oracle"))
    lines += ["", f"**Verdict: {'PASS' if ok else 'FAIL'}**", "", "Per seed (coverage / farthest):", ""]
    for arm in ARMS:
        lines.append(f"- {arm}: " + ", ".join(f"{r['coverage']:.3f} / {r['max_reach']:.0f}" for r in by[arm]))
    lines += ["", "Success over training (far, uniform), every eval:", ""]
    for arm in ARMS:
        for r in by[arm]:
            curve = " ".join(f"({x['far']:.2f}, {x['uniform']:.2f})" for x in r["log"])
            lines.append(f"- {arm} seed {r['seed']}: {curve}")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="docs/cplanning_results.md")
    args = p.parse_args()
    start = time.time()
    jobs = [(arm, s, args.steps, args.eval_every) for s in range(args.seeds) for arm in ARMS]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, *zip(*jobs, strict=True)))
    text = report(results, args, time.time() - start)
    print(text)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
