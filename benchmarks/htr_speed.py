"""Speed of PEARL: the meta-batch update against our SAC update, and vectorised collection.

    .venv/bin/python benchmarks/htr_speed.py [--repeats 3]

- Gradient steps/s of the PEARL update at oyster's sparse-point-robot sizes (meta-batch 16, RL batch
  256 and context 1024 per task, 3 x 300 networks, 3 x 200 encoder), next to our SAC update with the
  same network sizes on one batch of the same total size (16 x 256 = 4096 transitions).
- Env steps/s of data collection with the policy in the loop: all 80 train tasks stepped as one
  batch (`PEARL.rollout`) against the same trajectories collected one task at a time.
  Target: the vectorised collection is >= 5x faster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import best_time  # noqa: E402  (benchmarks/timing.py)


def main() -> None:
    from rlkit.algos.htr import PEARL, PEARLConfig
    from rlkit.rl.sac import SACConfig, SACLearner

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--updates", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    agent = PEARL(PEARLConfig(num_tasks_sample=2, num_steps_prior=20, num_steps_posterior=0,
                              num_train_steps_per_itr=1), "rlkit/SparsePointRobot-v0", seed=0)
    agent.train_step()
    context, batch, _ = agent.sample_meta_batch()
    rate = lambda fn: args.updates / best_time(lambda: [fn() for _ in range(args.updates)], args.repeats)
    pearl = rate(lambda: agent.update(context, batch))
    sample = rate(agent.sample_meta_batch)
    sac_cfg = SACConfig(hidden=(300, 300, 300), autotune=False, policy_frequency=1)
    sac = SACLearner(sac_cfg, agent.obs_dim + 5, agent.act_dim, torch.device("cpu"))
    n, d = 16 * 256, agent.obs_dim + 5
    b = {"obs": torch.randn(n, d), "action": torch.rand(n, agent.act_dim) * 2 - 1, "reward": torch.randn(n),
         "next_obs": torch.randn(n, d), "discount": torch.full((n,), 0.9)}
    sac_rate = rate(lambda: sac.update(b))

    tasks = list(agent.env.train_tasks)
    z = torch.randn(len(tasks), 5)
    steps = len(tasks) * agent.horizon
    vec = steps / best_time(lambda: agent.rollout(tasks, z, deterministic=False), args.repeats)
    one_by_one = lambda: [agent.rollout([t], z[i:i + 1], False) for i, t in enumerate(tasks)]
    one = steps / best_time(one_by_one, args.repeats)
    print(f"\ntorch {torch.__version__}, 1 thread, best of {args.repeats}\n")
    print("| measure | value |\n|---|---|")
    print(f"| PEARL update, gradient steps/s (16 tasks x (256 RL + 1024 context), 3x300) | {pearl:.1f} |")
    print(f"| PEARL meta-batch sampling, batches/s | {sample:.1f} |")
    print(f"| our SAC update, gradient steps/s (4096 transitions, 3x300) | {sac_rate:.1f} |")
    print(f"| PEARL update time / SAC update time | {sac_rate / pearl:.2f}x |")
    print(f"| collection, 80 tasks as one batch (env steps/s) | {vec:.0f} |")
    print(f"| collection, one task at a time (env steps/s) | {one:.0f} |")
    print(f"| vectorised / one at a time | {vec / one:.1f}x |")


if __name__ == "__main__":
    main()
