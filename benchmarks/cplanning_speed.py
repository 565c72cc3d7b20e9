"""Speed of C-Planning's pieces.

    .venv/bin/python benchmarks/cplanning_speed.py [--nodes 1000] [--repeats 3]

- E-step rebuild for N nodes: N^2 batched classifier evaluations (actor + twin critic, 2x256, the
  C-learning default, and 2x128, the CPU experiments' size), the sparsification, then Dijkstra with
  networkx and with scipy.sparse.csgraph. Target: < 1 s on CPU.
- C-learning critic update throughput: the fused twin critic (one batched module) against a naive
  version with two separate critic modules, same sizes (2x256, batch 256).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import best_time  # noqa: E402  (benchmarks/timing.py)


def main() -> None:
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig, planner
    from rlkit.envs.point_maze import PointMazeEnv
    from rlkit.nn import MLP

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    agent = CPlanning(CPlanningConfig(), lambda: PointMazeEnv("Maze11x11", resize=1), seed=0)
    nodes = np.random.default_rng(0).uniform(0, 1, (args.nodes, 2))
    t_c = best_time(lambda: agent.pair_probability(nodes, nodes), args.repeats)
    small = CPlanning(CPlanningConfig(hidden=(128, 128)), lambda: PointMazeEnv("Maze11x11", resize=1), seed=0)
    t_c128 = best_time(lambda: small.pair_probability(nodes, nodes), args.repeats)
    cost = -np.log(np.clip(agent.pair_probability(nodes, nodes), 1e-12, 1))
    sparse = planner.sparsify(cost, -math.log(0.3), top_k=10)
    t_sp = best_time(lambda: planner.sparsify(cost, -math.log(0.3), top_k=10), args.repeats)
    t_nx = best_time(lambda: planner.shortest_path(sparse, 0, args.nodes - 1, "networkx"), args.repeats)
    t_sc = best_time(lambda: planner.shortest_path(sparse, 0, args.nodes - 1, "scipy"), args.repeats)

    B, d = 256, 2 + 2 + 2
    x, y = torch.randn(B, d), torch.rand(B)
    fused = agent.learner.critic
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
    print(f"\ntorch {torch.__version__}, 1 thread, best of {args.repeats}, N = {args.nodes}\n")
    print("| measure | value |\n|---|---|")
    print(f"| N^2 classifier evaluations, 2x256 (s) | {t_c:.3f} |")
    print(f"| N^2 classifier evaluations, 2x128 (s) | {t_c128:.3f} |")
    print(f"| sparsify, top-10 (s) | {t_sp:.3f} |")
    print(f"| Dijkstra, networkx (s) | {t_nx:.3f} |")
    print(f"| Dijkstra, scipy.sparse.csgraph (s) | {t_sc:.3f} |")
    print(f"| E-step rebuild total 2x256, networkx / scipy (s) | {t_c + t_sp + t_nx:.3f} / "
          f"{t_c + t_sp + t_sc:.3f} |")
    print(f"| E-step rebuild total 2x128, networkx / scipy (s) | {t_c128 + t_sp + t_nx:.3f} / "
          f"{t_c128 + t_sp + t_sc:.3f} |")
    print(f"| twin critic updates/s, fused | {r_f:.0f} |")
    print(f"| twin critic updates/s, two modules | {r_n:.0f} |")
    print(f"| fused / two modules | {r_f / r_n:.2f}x |")


if __name__ == "__main__":
    main()
