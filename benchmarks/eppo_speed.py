"""Speed of EPPO (K = 4) and our PPO against Stable-Baselines3 PPO, same settings, one run.

    .venv/bin/python benchmarks/eppo_speed.py [--rollouts 20] [--repeats 7]

Env steps/s of the whole training loop (rollout + update) on CartPole-v1 and on MiniGrid
DoorKey-6x6 (flat 147-float view, rlkit/MiniGrid-v0): 8 envs x 128 steps, 4 epochs x 4 minibatches
of 256, 64x64 tanh actor and critic, 1 torch thread. Targets: our PPO >= 1.5x SB3's env steps/s,
and EPPO's time per step <= 1.5x our PPO's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from timing import interleaved_best_times, without_log_folder

ENVS = {"CartPole-v1": ("CartPole-v1", {}),
        "MiniGrid DoorKey-6x6": ("rlkit/MiniGrid-v0", {"task": "MiniGrid-DoorKey-6x6-v0", "train_layouts": 50})}
NUM_ENVS, NUM_STEPS = 8, 128


def ours(algo: str, env_id: str, kwargs: dict, rollouts: int) -> Callable[[], None]:
    """``rollouts`` training iterations of our PPO or EPPO (built and warmed up here)."""
    from rlkit.algos.eppo import EPPO, EPPOConfig
    from rlkit.env_spec import EnvSpec
    from rlkit.rl.ppo import PPO, PPOConfig

    cls, cfg = (PPO, PPOConfig) if algo == "ppo" else (EPPO, EPPOConfig)
    agent = cls(cfg(num_envs=NUM_ENVS, num_steps=NUM_STEPS), EnvSpec(env_id, kwargs), seed=0)
    agent.train_step()

    def run():
        for _ in range(rollouts):
            agent.train_step()

    return run


def sb3(env_id: str, kwargs: dict, rollouts: int) -> Callable[[], None]:
    """``rollouts`` training iterations of SB3's PPO (built and warmed up here)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import rlkit.envs  # noqa: F401

    env = make_vec_env(env_id, n_envs=NUM_ENVS, seed=0, env_kwargs=kwargs)
    model = without_log_folder(PPO("MlpPolicy", env, n_steps=NUM_STEPS, batch_size=NUM_ENVS * NUM_STEPS // 4,
                                   n_epochs=4, learning_rate=2.5e-4, ent_coef=0.01, clip_range=0.2,
                                   gae_lambda=0.95, seed=0, device="cpu", policy_kwargs={"net_arch": [64, 64]}))
    n = NUM_ENVS * NUM_STEPS
    model.learn(n)

    def run():
        model.learn(rollouts * n, reset_num_timesteps=False)

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--rollouts", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"\ntorch {torch.__version__}, threads={args.threads}, best of {args.repeats} (taken in turn), "
          f"{args.rollouts} rollouts of {NUM_ENVS}x{NUM_STEPS} steps\n")
    print("| env | SB3 PPO steps/s | rlkit PPO steps/s | rlkit EPPO K=4 steps/s | PPO / SB3 | "
          "EPPO time / PPO time |\n|---|---|---|---|---|---|")
    for name, (env_id, kwargs) in ENVS.items():
        runs = {"sb3": sb3(env_id, kwargs, args.rollouts), "ppo": ours("ppo", env_id, kwargs, args.rollouts),
                "eppo": ours("eppo", env_id, kwargs, args.rollouts)}
        work = args.rollouts * NUM_ENVS * NUM_STEPS
        s, p_, e = (work / t for t in interleaved_best_times(runs, args.repeats).values())
        print(f"| {name} | {s:.0f} | {p_:.0f} | {e:.0f} | {p_ / s:.2f}x | {p_ / e:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
