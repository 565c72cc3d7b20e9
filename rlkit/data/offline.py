"""Offline datasets: the D4RL HDF5 layout (read and write), Minari datasets, and a collector.

D4RL layout (one row per env step, episodes concatenated; Fu et al. 2020, ``d4rl/offline_env.py``):
``observations [N, obs_dim]``, ``actions [N, act_dim]``, ``rewards [N]`` or ``[N, 1]``,
``terminals [N]``, ``timeouts [N]``, optional ``next_observations``, ``infos/*``, ``metadata/*``.
An episode ends where ``terminals | timeouts``. Files without ``timeouts`` are split every
``max_episode_steps`` steps (as d4rl does for v0 files).
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# D4RL reference returns: REF_MIN_SCORE / REF_MAX_SCORE in d4rl/infos.py (Fu et al. 2020).
# v1/v2 Gym-MuJoCo datasets use the "-random-v0" / "-expert-v0" references, Adroit v1 the v0 ones.
D4RL_REF_SCORES: dict[str, tuple[float, float]] = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "pen": (96.262799, 3076.8331017826877),
    "hammer": (-274.856578, 12794.134825156867),
    "door": (-56.512833, 2880.5693087298737),
    "relocate": (-6.425911, 4233.877797728884),
    "antmaze": (0.0, 1.0),
}

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")

class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the problem."""


def normalized_score(env: str, ret: float | np.ndarray) -> float | np.ndarray:
    """D4RL normalised score ``100 * (R - R_random) / (R_expert - R_random)``.

    ``env`` is the environment family (``hopper``) or a dataset name (``hopper-medium-v2``).
    """
    family = env.split("-")[0].split("/")[-1]
    if family not in D4RL_REF_SCORES:
        raise KeyError(f"no D4RL reference scores for {env!r}; known: {sorted(D4RL_REF_SCORES)}")
    lo, hi = D4RL_REF_SCORES[family]
    return 100.0 * (np.asarray(ret) - lo) / (hi - lo) if isinstance(ret, np.ndarray) \
        else 100.0 * (ret - lo) / (hi - lo)


def d4rl_path(name: str) -> Path:
    """Where the d4rl package caches ``name``: ``$D4RL_DATASET_DIR`` or ``~/.d4rl/datasets``.

    d4rl names its files after the last component of the download URL, which for the Gym-MuJoCo
    v2 sets is ``<env>_<dataset>-v2.hdf5`` (``hopper-medium-v2`` -> ``hopper_medium-v2.hdf5``).
    """
    root = Path(os.environ.get("D4RL_DATASET_DIR", Path.home() / ".d4rl" / "datasets"))
    env, _, rest = name.partition("-")
    return root / f"{env}_{rest}.hdf5"


@dataclass
class OfflineDataset:
    """Flat arrays of N steps in the D4RL layout, plus optional extras."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    next_observations: np.ndarray | None = None
    infos: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        self.rewards = np.asarray(self.rewards, dtype=np.float32).reshape(-1)
        self.terminals = np.asarray(self.terminals).reshape(-1).astype(bool)
        self.timeouts = np.asarray(self.timeouts).reshape(-1).astype(bool)
        n = len(self.observations)
        for name in ("actions", "rewards", "terminals", "timeouts", "next_observations"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise DatasetError(f"{self.source}: '{name}' has {len(arr)} rows but "
                                   f"'observations' has {n}; the file is truncated or inconsistent")
        for name in ("observations", "actions", "rewards"):
            if not np.isfinite(getattr(self, name)).all():
                bad = int((~np.isfinite(getattr(self, name))).reshape(n, -1).any(1).argmax())
                raise DatasetError(f"{self.source}: '{name}' contains NaN or inf (first at row "
                                   f"{bad}); clean the dataset before training")

    def __len__(self) -> int:
        return len(self.observations)

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_hdf5(cls, path: str | Path, max_episode_steps: int | None = None) -> OfflineDataset:
        """Read a D4RL-layout HDF5 file (see module docstring)."""
        import h5py

        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"dataset file {path} does not exist; download the D4RL file there "
                               "(see docs/datasets.md) or build one with rlkit.data.collect_dataset")
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise DatasetError(f"{path} is not a readable HDF5 file ({err})") from err
        with f:
            missing = [k for k in REQUIRED_KEYS if k not in f]
            if missing:
                raise DatasetError(f"{path} lacks required key(s) {missing}; a D4RL file has "
                                   f"{list(REQUIRED_KEYS) + ['timeouts']}")
            arrays = {k: f[k][()] for k in (*REQUIRED_KEYS, "timeouts", "next_observations") if k in f}
            infos = {k: f["infos"][k][()] for k in f["infos"]} if "infos" in f else {}
            metadata = _read_metadata(f)
        n = len(arrays["observations"])
        if "timeouts" not in arrays:
            if max_episode_steps is None:
                raise DatasetError(f"{path} has no 'timeouts'; pass max_episode_steps= to split "
                                   "episodes by length (d4rl uses the env's time limit)")
            arrays["timeouts"] = _split_by_length(arrays["terminals"], max_episode_steps, n)
        return cls(observations=arrays["observations"], actions=arrays["actions"],
                   rewards=arrays["rewards"], terminals=arrays["terminals"],
                   timeouts=arrays["timeouts"], next_observations=arrays.get("next_observations"),
                   infos=infos, metadata=metadata, source=str(path))

    @classmethod
    def from_d4rl(cls, name: str) -> OfflineDataset:
        """Load ``hopper-medium-v2`` etc. from the d4rl package's cache (no download)."""
        path = d4rl_path(name)
        if not path.is_file():
            raise DatasetError(f"D4RL dataset {name!r} is not at {path}; download "
                               f"{path.name} from the D4RL release into that directory or set "
                               "D4RL_DATASET_DIR (this toolkit never downloads at run time)")
        return cls.from_hdf5(path)

    @classmethod
    def from_minari(cls, dataset_id: str) -> OfflineDataset:
        """Convert a locally stored Minari dataset (``download=False``) to the flat layout.

        Minari episodes hold T+1 observations; the last one goes to ``next_observations`` only.
        ``terminations -> terminals``, ``truncations -> timeouts``.
        """
        try:
            import minari
        except ImportError as err:
            raise DatasetError("Minari datasets need the 'minari' extra: "
                               "pip install 'rlkit-offmeta[minari]'") from err
        try:
            ds = minari.load_dataset(dataset_id, download=False)
        except (FileNotFoundError, ValueError) as err:
            raise DatasetError(f"Minari dataset {dataset_id!r} is not stored locally ({err}); "
                               "download it with `minari download` on a machine with network "
                               "and copy it under $MINARI_DATASETS_PATH") from err
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("o", "a", "r", "d", "t", "n")}
        for ep in ds.iterate_episodes():
            obs = np.asarray(ep.observations)
            parts["o"].append(obs[:-1])
            parts["n"].append(obs[1:])
            parts["a"].append(np.asarray(ep.actions))
            parts["r"].append(np.asarray(ep.rewards))
            parts["d"].append(np.asarray(ep.terminations))
            trunc = np.asarray(ep.truncations).copy()
            trunc[-1] = trunc[-1] or not ep.terminations[-1]  # every episode ends somewhere
            parts["t"].append(trunc)
        cat = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(observations=cat["o"], actions=cat["a"], rewards=cat["r"], terminals=cat["d"],
                   timeouts=cat["t"], next_observations=cat["n"], source=f"minari:{dataset_id}")

    # ------------------------------------------------------------------ writing
    def to_hdf5(self, path: str | Path) -> Path:
        """Write the D4RL layout (readable by d4rl's own loader and by :meth:`from_hdf5`)."""
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file unique to this writer, renamed into place: concurrent writers (pytest-xdist
        # workers generating the same local: dataset) never see or clobber a half-written file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("observations", data=self.observations, compression="gzip")
                f.create_dataset("actions", data=self.actions, compression="gzip")
                f.create_dataset("rewards", data=self.rewards)
                f.create_dataset("terminals", data=self.terminals)
                f.create_dataset("timeouts", data=self.timeouts)
                if self.next_observations is not None:
                    f.create_dataset("next_observations", data=self.next_observations, compression="gzip")
                for k, v in self.infos.items():
                    f.create_dataset(f"infos/{k}", data=v)
                for k, v in self.metadata.items():
                    f.create_dataset(f"metadata/{k}", data=v)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)   # only left behind when writing failed
        return path

    # ------------------------------------------------------------------ views
    def episode_bounds(self) -> list[tuple[int, int]]:
        """[start, end) of each episode; a trailing unfinished episode is included."""
        ends = np.flatnonzero(self.terminals | self.timeouts) + 1
        if len(ends) == 0 or ends[-1] != len(self):
            ends = np.append(ends, len(self))
        starts = np.concatenate([[0], ends[:-1]])
        return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode."""
        return np.array([self.rewards[s:e].sum() for s, e in self.episode_bounds()], dtype=np.float64)

    def transitions(self) -> dict[str, np.ndarray]:
        """d4rl ``qlearning_dataset`` semantics: next_obs = obs[i+1] (or ``next_observations``);
        the transition at a timeout is dropped unless ``next_observations`` is stored."""
        n = len(self)
        if self.next_observations is not None:
            keep = np.ones(n, dtype=bool)
            nxt = self.next_observations
        else:
            keep = ~self.timeouts
            keep[-1] = False
            nxt = np.concatenate([self.observations[1:], self.observations[-1:]])
        return {"obs": self.observations[keep], "action": self.actions[keep],
                "reward": self.rewards[keep], "next_obs": nxt[keep],
                "terminated": self.terminals[keep].astype(np.float32)}


def _read_metadata(f: Any) -> dict[str, Any]:
    if "metadata" not in f:
        return {}
    out: dict[str, Any] = {}
    f["metadata"].visititems(lambda name, obj: out.__setitem__(name, obj[()])
                             if hasattr(obj, "shape") else None)
    return out


def _split_by_length(terminals: np.ndarray, max_steps: int, n: int) -> np.ndarray:
    timeouts = np.zeros(n, dtype=bool)
    t = 0
    for i in range(n):
        t += 1
        if terminals[i]:
            t = 0
        elif t == max_steps:
            timeouts[i], t = True, 0
    return timeouts


def collect_dataset(env: Any, policy: Callable[[np.ndarray], np.ndarray], num_steps: int,
                    seed: int = 0, progress: bool = True) -> OfflineDataset:
    """Roll out ``policy`` (obs -> action) in a gymnasium env for ``num_steps`` steps.

    ``terminated -> terminals``, ``truncated -> timeouts``; the final step is marked as a timeout
    if its episode is unfinished. Use it to build random / medium / expert style datasets.
    """
    from rlkit.env_spec import env_factory
    from rlkit.logging import Progress

    env = env_factory(env)() if not hasattr(env, "step") else env
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    cols: dict[str, list] = {k: [] for k in ("o", "a", "r", "d", "t", "n")}
    bar = Progress(num_steps, desc="collect", unit="env_step") if progress else None
    for i in range(num_steps):
        action = policy(obs)
        nxt, reward, terminated, truncated, _ = env.step(action)
        truncated = truncated or (i == num_steps - 1 and not terminated)
        for k, v in zip("oardtn", (obs, action, reward, terminated, truncated, nxt), strict=True):
            cols[k].append(v)
        obs = env.reset()[0] if terminated or truncated else nxt
        if bar is not None:
            bar.update(i + 1)
    if bar is not None:
        bar.close()
    arr = {k: np.asarray(v) for k, v in cols.items()}
    return OfflineDataset(observations=arr["o"].astype(np.float32), actions=arr["a"],
                          rewards=arr["r"], terminals=arr["d"], timeouts=arr["t"],
                          next_observations=arr["n"].astype(np.float32),
                          source=f"collected:{getattr(env.spec, 'id', 'env')}")


def data_dir() -> Path:
    """Where ``local:`` datasets live: ``$RLKIT_DATA_DIR`` or ``~/.cache/rlkit/datasets``."""
    return Path(os.environ.get("RLKIT_DATA_DIR", Path.home() / ".cache" / "rlkit" / "datasets"))


def load_dataset(source: str, builder: str | None = None) -> OfflineDataset:
    """Resolve a dataset name: ``d4rl:hopper-medium-v2`` (the d4rl cache), ``minari:<id>``,
    ``local:<name>`` (``data_dir()/<name>.hdf5``) or a path to a D4RL-layout ``.hdf5`` file.

    ``builder`` (a dotted path to a zero-argument function returning an :class:`OfflineDataset`,
    e.g. ``rlkit.dataset_builders.pendulum_mixed``) generates a missing ``local:`` file on first use.
    """
    kind, sep, name = source.partition(":")
    if not sep:
        return OfflineDataset.from_hdf5(source)
    if kind == "d4rl":
        return OfflineDataset.from_d4rl(name)
    if kind == "minari":
        return OfflineDataset.from_minari(name)
    if kind != "local":
        raise DatasetError(f"dataset {source!r}: unknown source {kind!r}; use d4rl:, minari:, local: "
                           "or a path to an .hdf5 file")
    path = data_dir() / f"{name}.hdf5"
    if path.is_file():
        return OfflineDataset.from_hdf5(path)
    if builder is None:
        raise DatasetError(f"local dataset {name!r} is not at {path}; generate it (for the toolkit's own: "
                           f"`python -m rlkit.dataset_builders {name}`, see docs/datasets.md), set "
                           "RLKIT_DATA_DIR, or name its builder in env.dataset_builder")
    build = _resolve_builder(builder)
    print(f"generating local dataset {name!r} into {path} with {builder} (first use)", flush=True)
    build().to_hdf5(path)
    return OfflineDataset.from_hdf5(path)


def _resolve_builder(builder: str) -> Callable[[], OfflineDataset]:
    module, _, attr = builder.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise DatasetError(f"dataset builder {builder!r} not found ({err}); give a dotted path such as "
                           "rlkit.dataset_builders.pendulum_mixed") from err
