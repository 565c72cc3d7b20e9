"""Cost of MiniGrid's egocentric view: ``EgocentricView`` (envs/minigrid.py) against MiniGrid's own
``gen_obs``, both called after every step of the same random episodes (interleaved, so both see the
same states and cache conditions), and a check that the two images agree.

    .venv/bin/python benchmarks/minigrid_view_speed.py [--steps 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASKS = ["MiniGrid-DoorKey-6x6-v0", "MiniGrid-DoorKey-16x16-v0", "MiniGrid-KeyCorridorS3R2-v0",
         "MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-MultiRoom-N2-S4-v0", "MiniGrid-FourRooms-v0"]


def measure(task: str, steps: int) -> tuple[float, float]:
    """Mean microseconds per call of ours and of ``gen_obs`` over ``steps`` random steps."""
    from rlkit.envs.minigrid import EgocentricView

    env = gym.make(task)
    base = env.unwrapped
    view = EgocentricView(base)
    rng = np.random.default_rng(0)
    ours = theirs = 0.0
    env.reset(seed=0)
    for _ in range(steps):
        action = int(rng.integers(7)) if rng.random() < 0.5 else int(rng.integers(3))
        _, _, terminated, truncated, _ = env.step(action)
        t = time.perf_counter()
        image = view()["image"]
        ours += time.perf_counter() - t
        t = time.perf_counter()
        reference = base.gen_obs()["image"]
        theirs += time.perf_counter() - t
        if not np.array_equal(image, reference):
            raise AssertionError(f"{task}: the fast view differs from gen_obs")
        if terminated or truncated:
            env.reset()
    return ours / steps * 1e6, theirs / steps * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args()
    import minigrid  # noqa: F401  (registers the MiniGrid-* ids)

    print("| task | EgocentricView (us) | MiniGrid gen_obs (us) | speed-up |\n|---|---|---|---|")
    for task in TASKS:
        ours, theirs = measure(task, args.steps)
        print(f"| {task} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
