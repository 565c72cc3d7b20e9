"""LS3's offline data (teacher demos and constraint violations) and the VAE's image augmentation
(official ``latent-space-safe-sets``).

:func:`collect_offline` runs an env's scripted teachers (``env.teacher(kind, rng)``): noisy task demos
(``on_policy = 1``), constraint-violating trajectories and, for the reacher, short random-walk
episodes (both ``on_policy = 0``).
Datasets are dicts of numpy arrays with one row per transition (``obs``/``next_obs`` uint8 images,
``action``, ``reward``, ``constraint``, ``on_policy``, ``done``, ``episode``; and ``state`` /
``next_state``, the true positions, where the env reports them), saved as ``.npz``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

FIELDS = ("obs", "next_obs", "action", "reward", "constraint", "on_policy", "done", "episode")
POSITIONS = ("state", "next_state")         # recorded when the env's step info has them


def run_episode(env, policy, seed: int, options: dict | None = None, horizon: int | None = None
                ) -> dict[str, np.ndarray]:
    """One episode with ``policy(info, t)`` (``horizon`` shortens it); rows for every step."""
    obs, info = env.reset(seed=seed, options=options or {})
    rows: dict[str, list[Any]] = {k: [] for k in FIELDS[:-3] + POSITIONS}
    done, t = False, 0
    while not done:
        action = policy(info, t)
        next_obs, reward, terminated, truncated, info = env.step(action)
        for key, value in (("obs", obs), ("next_obs", next_obs), ("action", action), ("reward", reward),
                           ("constraint", info["constraint"])):
            rows[key].append(value)
        for key in POSITIONS:
            if key in info:
                rows[key].append(info[key])
        obs, t = next_obs, t + 1
        done = terminated or truncated or (horizon is not None and t >= horizon)
    out = {k: np.asarray(v) for k, v in rows.items() if len(v)}
    out["done"] = np.zeros(t, np.float32)
    out["done"][-1] = 1.0
    return out


def collect_offline(env, counts: dict[str, int], seed: int, random_horizon: int = 20) -> dict[str, np.ndarray]:
    """The scripted teachers' dataset: ``counts`` episodes per teacher kind of ``env.teacher``
    (``demo`` rows are on-policy, the others not; ``random`` episodes last ``random_horizon`` steps)."""
    rng = np.random.default_rng(seed)
    teacher = env.unwrapped.teacher
    episodes: list[dict[str, np.ndarray]] = []
    flags: list[float] = []
    for kind, n in counts.items():
        for _ in range(n):
            policy, options = teacher(kind, rng)
            horizon = random_horizon if kind == "random" else None
            episodes.append(run_episode(env, policy, seed + len(episodes), options, horizon))
            flags.append(1.0 if kind == "demo" else 0.0)
    kept = FIELDS[:-3] + ("done",) + tuple(k for k in POSITIONS if all(k in e for e in episodes))
    out = {k: np.concatenate([e[k] for e in episodes]) for k in kept}
    out["on_policy"] = np.concatenate([np.full(len(e["reward"]), f, np.float32)
                                       for e, f in zip(episodes, flags, strict=True)])
    out["episode"] = np.concatenate([np.full(len(e["reward"]), i) for i, e in enumerate(episodes)])
    return out


def save_dataset(path: str | Path, data: dict[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **data)  # type: ignore[arg-type]  # numpy stub: **kwds might name allow_pickle
    tmp.replace(path)


def load_dataset(path: str | Path) -> dict[str, np.ndarray]:
    """A dataset saved by :func:`save_dataset`; names the missing fields of a malformed file."""
    try:
        with np.load(path) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"LS3 dataset {path} is not a readable .npz file ({err}); "
                         "delete it to re-collect") from err
    missing = set(FIELDS) - set(data)
    if missing:
        raise ValueError(f"LS3 dataset {path} lacks field(s) {sorted(missing)}; delete it to re-collect")
    return data


def random_crops(x: torch.Tensor, generator: torch.Generator, scale: tuple[float, float] = (0.8, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """RandomResizedCrop back to the input size, independently per image, as one ``grid_sample``:
    crop area fraction ~ U(scale), aspect ratio log-uniform in ``ratio``, position uniform."""
    n = len(x)
    area = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=generator)
    log_r = torch.empty(n).uniform_(np.log(ratio[0]), np.log(ratio[1]), generator=generator)
    w = torch.sqrt(area * log_r.exp()).clamp(max=1.0)
    h = torch.sqrt(area / log_r.exp()).clamp(max=1.0)
    tx = (1 - w) * (2 * torch.rand(n, generator=generator) - 1)
    ty = (1 - h) * (2 * torch.rand(n, generator=generator) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, tx, h, ty
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
