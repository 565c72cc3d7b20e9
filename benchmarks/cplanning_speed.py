"""Speed of C-Planning's pieces, as fractions of the machine's measured matmul limit.

    .venv/bin/python benchmarks/cplanning_speed.py [--nodes 1000] [--repeats 3] [--train-episodes 30]

- The machine: fp32 and bf16 matmul GFLOP/s on one thread, at the networks' layer shape, measured
  first in the same run (the roofline every timing below is a fraction of).
- E-step rebuild for N nodes: the N^2 classifier evaluations of the node block (actor + twin critic,
  2x256, the C-learning default, and 2x128, the CPU experiments' size) in float32 and with
  ``graph_precision=bf16`` (bfloat16, float32 near the cutoff), the sparsification, then Dijkstra
  with networkx and scipy.sparse.csgraph. Target: < 1 s for N = 1000 on one core. The classifier
  is trained for a few episodes first so that its scores are not uniform; the bf16 graph is
  compared with float32's: edges, and the shortest paths of 50 fixed start-goal queries (identical
  paths, and the largest excess cost of a bf16 path under float32 costs).
- C-learning critic update throughput: the fused twin critic (one batched module) against a naive
  version with two separate critic modules, same sizes (2x256, batch 256).
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import best_time, linear_flops, matmul_gflops  # noqa: E402  (benchmarks/timing.py)


def trained_agent(hidden: tuple[int, ...], episodes: int):
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig
    from rlkit.envs.point_maze import PointMazeEnv

    cfg = CPlanningConfig(hidden=hidden, batch_size=128, planning=False, random_steps=600, min_prob=0.7)
    agent = CPlanning(cfg, lambda: PointMazeEnv("Maze6x6", resize=2, max_steps=60), seed=0)
    for _ in range(episodes):
        agent.train_step()
    return agent


def compare_paths(agent, nodes: np.ndarray, queries: int = 50) -> tuple[float, float]:
    """(fraction of identical shortest paths, largest excess float32 cost of a bf16 path)."""
    from rlkit.algos.cplanning import planner

    cutoff = -math.log(agent.cfg.min_prob)
    graphs = {}
    for precision in ("fp32", "bf16"):
        agent.cfg.graph_precision = precision
        graphs[precision] = planner.sparsify(agent._cost(agent.node_block_probability(nodes)), cutoff)
    exact = graphs["fp32"]
    cost = lambda path: sum(exact[a, b] for a, b in zip(path[:-1], path[1:], strict=True))
    rng = np.random.default_rng(0)
    same, excess = 0, 0.0
    for _ in range(queries):
        s, g = rng.choice(len(nodes), 2, replace=False)
        p32, p16 = (planner.shortest_path(graphs[k], int(s), int(g), "scipy") for k in ("fp32", "bf16"))
        same += p32 == p16
        if p32 is not None and p16 is not None:
            excess = max(excess, cost(p16) - cost(p32))
    return same / queries, excess


def main() -> None:
    from rlkit.algos.cplanning import planner
    from rlkit.nn import MLP

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-episodes", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    peak = {dt: matmul_gflops(getattr(torch, dt), k=256, n=256) for dt in ("float32", "bfloat16")}
    rows = [f"| fp32 matmul [4096x256]@[256x256], 1 thread (GFLOP/s) | {peak['float32']:.0f} |",
            f"| bf16 matmul, same shape (GFLOP/s) | {peak['bfloat16']:.0f} |"]
    N = args.nodes
    for hidden in ((256, 256), (128, 128)):
        agent = trained_agent(hidden, args.train_episodes)
        agent.cfg.num_nodes = N
        nodes = agent.sample_nodes(torch.Generator().manual_seed(0))       # N replay states
        flops = N * N * (linear_flops(agent.learner.actor) + linear_flops(agent.learner.critic)) / 1e9
        size = "x".join(map(str, hidden))
        for precision, limit in (("fp32", peak["float32"]), ("bf16", peak["bfloat16"])):
            agent.cfg.graph_precision = precision
            t = best_time(partial(agent.node_block_probability, nodes), args.repeats)
            rows.append(f"| node block N={N}, {size}, {precision} (s) | {t:.3f} ({flops:.0f} GFLOP: "
                        f"{flops / t:.0f} GFLOP/s = {flops / t / limit:.0%} of {precision} matmul) |")
            if precision == "bf16":
                rows.append(f"| bf16 screen: pairs rescored in fp32 | {agent.last_screen_fraction:.1%} |")
        same, excess = compare_paths(agent, nodes)
        rows.append(f"| {size}: bf16 graph vs fp32: identical paths / largest excess cost | "
                    f"{same:.0%} / {excess:.4f} |")
    agent.cfg.graph_precision = "fp32"
    cost = agent._cost(agent.node_block_probability(nodes))
    sparse = planner.sparsify(cost, -math.log(agent.cfg.min_prob))
    rows.append(f"| edges kept by the cutoff (C >= {agent.cfg.min_prob}) | {np.isfinite(sparse).mean():.1%} |")
    t_sp = best_time(lambda: planner.sparsify(cost, -math.log(agent.cfg.min_prob)), args.repeats)
    t_nx = best_time(lambda: planner.shortest_path(sparse, 0, N - 1, "networkx"), args.repeats)
    t_sc = best_time(lambda: planner.shortest_path(sparse, 0, N - 1, "scipy"), args.repeats)
    rows += [f"| sparsify (s) | {t_sp:.3f} |", f"| Dijkstra, networkx (s) | {t_nx:.3f} |",
             f"| Dijkstra, scipy.sparse.csgraph (s) | {t_sc:.3f} |"]

    B, d = 256, 2 + 2 + 2
    x, y = torch.randn(B, d), torch.rand(B)
    fused = trained_agent((256, 256), 0).learner.critic
    naive = [MLP(d, 1, (256, 256)) for _ in range(2)]
    opt_f = torch.optim.Adam(fused.parameters(), 3e-4)
    opt_n = torch.optim.Adam([q for m in naive for q in m.parameters()], 3e-4)

    def step_fused():
        loss = F.binary_cross_entropy_with_logits(fused(x).squeeze(-1), y.expand(2, -1))
        opt_f.zero_grad()
        loss.backward()
        opt_f.step()

    def step_naive():
        loss = sum(F.binary_cross_entropy_with_logits(m(x).squeeze(-1), y) for m in naive)
        opt_n.zero_grad()
        loss.backward()
        opt_n.step()

    n = 200
    r_f = n / best_time(lambda: [step_fused() for _ in range(n)], args.repeats)
    r_n = n / best_time(lambda: [step_naive() for _ in range(n)], args.repeats)
    rows += [f"| twin critic updates/s, fused | {r_f:.0f} |",
             f"| twin critic updates/s, two modules | {r_n:.0f} |",
             f"| fused / two modules | {r_f / r_n:.2f}x |"]
    print(f"\ntorch {torch.__version__}, 1 thread, best of {args.repeats}, N = {N}\n")
    print("| measure | value |\n|---|---|\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
