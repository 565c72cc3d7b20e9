"""Speed of our SAC and PPO against Stable-Baselines3, same settings, same CPU, one run; ours in fp32
and in bf16 (``precision=bf16``: torch.autocast, rlkit.precision), SB3 in fp32 (it has no bf16 mode).

    .venv/bin/python benchmarks/baselines_speed.py [--threads 1] [--repeats 3]

Measures (best of ``--repeats``):
- SAC gradient updates/s (batch 256, 256x256 MLPs, twin Q, autotuned alpha) on a filled buffer, and
  its rate as a fraction of this machine's matmul throughput, measured in the same run;
- SAC env steps/s of the whole loop (act, step Pendulum-v1, store, one update per step);
- PPO env steps/s on CartPole-v1 (4 envs x 128 steps, 4 epochs x 4 minibatches, 64x64 tanh);
- replay sampling: a batch of 256 from 1M transitions (obs 17, action 6).
Prints a markdown table with the ratio ours / SB3 (higher is better).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from timing import best_rate, linear_flops, matmul_gflops, without_log_folder

from rlkit.precision import autocast

WARM = 1000


def sac_ours(updates: int, repeats: int, precision: str) -> tuple[float, float, float]:
    """Updates/s, loop env steps/s and GFLOP per update (linear layers, 256 rows: the target's actor
    and critic forward, the critic's forward and backward (2x), the actor's forward and backward and
    the critic's forward and input-gradient for its loss: 4 A + 6 C per row)."""
    from rlkit.rl.sac import SAC, SACConfig

    agent = SAC(SACConfig(learning_starts=WARM), "Pendulum-v1", seed=0)
    for _ in range(WARM):
        agent.train_step()

    def train_only():
        with autocast(precision, "cpu"):
            for _ in range(updates):
                agent.learner.update(agent.buffer.sample(256))

    def full_loop():
        with autocast(precision, "cpu"):
            for _ in range(updates):
                agent.train_step()

    learner = agent.learner
    gflop = 256 * (4 * linear_flops(learner.actor) + 6 * linear_flops(learner.critic)) / 1e9
    return best_rate(train_only, updates, repeats), best_rate(full_loop, updates, repeats), gflop


def sac_sb3(updates: int, repeats: int) -> tuple[float, float]:
    from stable_baselines3 import SAC

    model = without_log_folder(SAC("MlpPolicy", "Pendulum-v1", learning_starts=WARM, batch_size=256, seed=0,
                                   policy_kwargs={"net_arch": [256, 256]}, learning_rate=3e-4, device="cpu"))
    model.learn(WARM + 1)

    def train_only():
        model.train(gradient_steps=updates, batch_size=256)

    def full_loop():
        model.learn(updates, reset_num_timesteps=False)

    return best_rate(train_only, updates, repeats), best_rate(full_loop, updates, repeats)


def ppo_ours(rollouts: int, repeats: int, precision: str) -> float:
    from rlkit.rl.ppo import PPO, PPOConfig

    agent = PPO(PPOConfig(), "CartPole-v1", seed=0)
    agent.train_step()
    n = agent.cfg.num_envs * agent.cfg.num_steps

    def run():
        with autocast(precision, "cpu"):
            for _ in range(rollouts):
                agent.train_step()

    return best_rate(run, rollouts * n, repeats)


def ppo_sb3(rollouts: int, repeats: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = without_log_folder(PPO("MlpPolicy", env, n_steps=128, batch_size=128, n_epochs=4,
                                   learning_rate=2.5e-4, ent_coef=0.01, clip_range=0.2, gae_lambda=0.95, seed=0,
                                   device="cpu", policy_kwargs={"net_arch": [64, 64]}))
    model.learn(512)
    n = 512

    def run():
        model.learn(rollouts * n, reset_num_timesteps=False)

    return best_rate(run, rollouts * n, repeats)


def sampling(repeats: int) -> tuple[float, float]:
    """Microseconds per batch of 256 from 1M transitions (lower is better)."""
    import gymnasium as gym
    from stable_baselines3.common.buffers import ReplayBuffer as SB3Buffer

    from rlkit.data import ReplayBuffer

    n, obs_dim, act_dim = 1_000_000, 17, 6
    ours = ReplayBuffer((obs_dim,), (act_dim,), n)
    ours.storage.data.normal_()
    ours.pos, ours.full = 0, True
    sb3 = SB3Buffer(n, gym.spaces.Box(-1, 1, (obs_dim,)), gym.spaces.Box(-1, 1, (act_dim,)),
                    device="cpu", optimize_memory_usage=False)
    sb3.observations[:] = np.random.randn(*sb3.observations.shape)
    sb3.full = True

    def time_it(fn, k=2000):
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(k):
                fn()
            best = min(best, (time.perf_counter() - t) / k * 1e6)
        return best

    return time_it(lambda: ours.sample(256)), time_it(lambda: sb3.sample(256))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sac-updates", type=int, default=1000)
    p.add_argument("--ppo-rollouts", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    peak = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    sac = {precision: sac_ours(args.sac_updates, args.repeats, precision) for precision in peak}
    sb, sb_full = sac_sb3(args.sac_updates, args.repeats)
    ppo = {precision: ppo_ours(args.ppo_rollouts, args.repeats, precision) for precision in peak}
    pb = ppo_sb3(args.ppo_rollouts, args.repeats)
    rows = []
    for precision in peak:
        rows.append((f"SAC gradient updates/s (Pendulum, batch 256), ours {precision}", sac[precision][0], sb))
    for precision in peak:
        rows.append((f"SAC env steps/s, 1 update per step, ours {precision}", sac[precision][1], sb_full))
    for precision in peak:
        rows.append((f"PPO env steps/s (CartPole, 4 envs), ours {precision}", ppo[precision], pb))
    mo, mb = sampling(args.repeats)
    print(f"\ntorch {torch.__version__}, threads={args.threads}, best of {args.repeats}; matmul [4096 x 256] @ "
          f"[256 x 256] on the same threads: fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.0f} GFLOP/s\n")
    print("| measure | rlkit | SB3 (fp32) | ratio (rlkit/SB3) |\n|---|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:.0f} | {b:.0f} | {a / b:.2f}x |")
    print(f"| replay sample, 256 of 1M (µs, lower is better) | {mo:.0f} | {mb:.0f} | "
          f"{mb / mo:.2f}x faster |")
    gflop = sac["fp32"][2]
    print(f"\nSAC update: {gflop:.3f} GFLOP in its linear layers")
    for precision, (rate, _, _) in sac.items():
        print(f"- {precision}: {rate * gflop:.0f} GFLOP/s = {rate * gflop / peak[precision]:.2f} of the "
              f"{precision} matmul peak")


if __name__ == "__main__":
    main()
