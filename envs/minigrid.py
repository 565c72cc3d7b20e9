"""MiniGrid tasks with a train/held-out layout split (EPPO's generalisation setting).

The agent sees MiniGrid's 7x7x3 egocentric view, flattened to 147 floats and divided by 10 (the
object/colour/state indices are <= 10). Training draws every episode's layout from a fixed set of
``train_layouts`` layout seeds ``layout_offset .. layout_offset + train_layouts - 1`` (the role
of ``minigrid.wrappers.ReseedWrapper``, but drawn at random per episode so the sub-envs of a
vector env do not replay the same sequence); ``train_layouts=None`` lets the reset seed pick the
layout, which the evaluation env uses so that it meets layouts never seen in training.
``info["success"]`` is 1 when the episode ends with MiniGrid's positive success reward.

The seed split leaks: DoorKey-6x6 has only 36 distinct grids (wall, door, key, goal), and 50
training seeds already cover 27 of them, so most "unseen" layouts share a training grid and only
the agent's start differs. ``train_grids=k`` splits by grid instead: training resets draw from the
seeds of the first k grids, the evaluation env (``grid_set=heldout``) from the seeds of the others.

``fast_view=True`` (default) replaces MiniGrid's observation builder by ``EgocentricView``, which
returns the identical 7x7x3 image (tested against ``gen_obs`` on every step of random episodes on
five tasks, and through box, door and pickup/drop changes) 4-8x faster (15-25 against 96-116 us
per call on six tasks, ``benchmarks/minigrid_view_speed.py``): MiniGrid slices, rotates and masks
the grid cell by cell through Python objects, which dominated the cost of a training step on these
small tasks.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from minigrid.core.world_object import Wall, WorldObj  # importing minigrid registers MiniGrid-*

from rlkit.envs.checks import finite_action


class FixedLayouts(gym.Wrapper):
    """Resets to a layout seed drawn uniformly from a fixed list (an RNG seeded by ``reset``)."""

    def __init__(self, env: gym.Env, seeds: list[int]) -> None:
        super().__init__(env)
        self.layout_seeds = list(seeds)
        self.layout_rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.layout_rng = np.random.default_rng(seed)
        layout = self.layout_seeds[int(self.layout_rng.integers(len(self.layout_seeds)))]
        return self.env.reset(seed=layout, options=options)


WALL_CODE = (2, 5, 0)   # MiniGrid's encoding of Wall() (grey), what lies outside the grid
EMPTY_CODE = (1, 0, 0)  # an empty cell


class EgocentricView:
    """MiniGrid's ``gen_obs`` for one ``MiniGridEnv``, in numpy.

    The encoding of the whole grid (walls beyond its edge) is kept between calls and rebuilt
    when the grid changes: a new ``Grid``, a cell holding another object (pickup, drop, a box
    opened, an obstacle moved) or a new state of an object whose class defines its own
    ``encode`` or ``see_behind`` (a door opened or unlocked). Each call then cuts the agent's
    view out of it with one index per direction (``Grid.slice`` and ``rotate_left``
    ``agent_dir + 1`` times), propagates visibility from the agent's cell as
    ``Grid.process_vis`` (one memoised pass per row, ``_light_row``), zeroes the unseen cells
    and shows the carried object at the agent's cell.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        V = self.size = env.agent_view_size
        self.agent = (V // 2, V - 1)
        self._bits = 1 << np.arange(V)
        self._unpack = (np.arange(2**V)[:, None] >> np.arange(V) & 1).astype(np.uint8)  # [bits, x]
        self._grid: Any = None
        self._height = -1                                                 # of the padded grid
        self._cells: list[Any] = []
        self._stateful: list[Any] = []
        self._states: list[tuple] = []

    def __call__(self) -> dict[str, Any]:
        env, V = self.env, self.size
        if env.grid is not self._grid or env.grid.grid != self._cells or self._read_states() != self._states:
            self._encode_grid()
        top_x, top_y, _, _ = env.get_view_exts()
        index = self._offsets[env.agent_dir] + ((top_x + V) * self._height + top_y + V)
        image = self._codes[index]                                      # [x, y, 3]
        if not env.see_through_walls:
            image *= self._visible(self._transparent[index])[..., None]
        image[self.agent] = env.carrying.encode() if env.carrying else EMPTY_CODE
        return {"image": image, "direction": env.agent_dir, "mission": env.mission}

    def _read_states(self) -> list[tuple]:
        return [(c.encode(), c.see_behind()) for c in self._stateful]

    def _encode_grid(self) -> None:
        grid, V = self.env.grid, self.size
        W, H = grid.width, grid.height
        cells = grid.grid                                                 # row-major: y * W + x
        codes = np.empty((W + 2 * V, H + 2 * V, 3), dtype=np.uint8)
        codes[:] = WALL_CODE
        codes[V:V + W, V:V + H] = np.array([EMPTY_CODE if c is None else c.encode() for c in cells],
                                           dtype=np.uint8).reshape(H, W, 3).transpose(1, 0, 2)
        transparent = np.zeros(codes.shape[:2], dtype=np.int64)
        transparent[V:V + W, V:V + H] = np.array([c is None or c.see_behind() for c in cells]).reshape(H, W).T
        self._codes, self._transparent = codes.reshape(-1, 3), transparent.reshape(-1)
        if codes.shape[1] != self._height:
            self._height = codes.shape[1]
            relative = np.arange(V)[:, None] * self._height + np.arange(V)  # [x, y] of a slice
            self._offsets = [np.rot90(relative, -(d + 1)) for d in range(4)]  # rotate_left d + 1 times
        self._grid, self._cells = grid, list(cells)
        self._stateful = [c for c in cells if c is not None and (
            type(c).encode is not WorldObj.encode
            or type(c).see_behind not in (WorldObj.see_behind, Wall.see_behind))]
        self._states = self._read_states()

    def _visible(self, transparent: np.ndarray) -> np.ndarray:
        """``Grid.process_vis`` on the view's see-through cells ``transparent[x, y]``: rows
        from the agent's outwards; returns the mask [x, y] (uint8)."""
        V = self.size
        row_bits = (self._bits @ transparent).tolist()                  # bit x of row y
        lit = [0] * V
        lit[self.agent[1]] = 1 << self.agent[0]
        for y in reversed(range(V)):
            lit[y], below = _light_row(lit[y], row_bits[y], V)
            if y > 0:
                lit[y - 1] |= below
        return self._unpack[lit].T


@functools.cache
def _light_row(lit: int, transparent: int, width: int) -> tuple[int, int]:
    """One row of ``Grid.process_vis`` on bit masks (bit i = cell i): light spreads right, then
    left, from lit see-through cells; returns the row's lit cells and those it lights in the
    row beyond (the cell and its neighbour in the direction of travel)."""
    beyond = 0
    for i in range(width - 1):
        if lit >> i & transparent >> i & 1:
            lit |= 1 << (i + 1)
            beyond |= 3 << i
    for i in reversed(range(1, width)):
        if lit >> i & transparent >> i & 1:
            lit |= 1 << (i - 1)
            beyond |= 3 << (i - 1)
    return lit, beyond


class FlatView(gym.Wrapper):
    """Image view -> float32 vector / 10; adds ``info["success"]``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        shape = env.observation_space["image"].shape
        self.observation_space = gym.spaces.Box(0.0, 25.5, (int(np.prod(shape)),), np.float32)

    def _obs(self, obs: dict[str, Any]) -> np.ndarray:
        return np.divide(obs["image"].reshape(-1), np.float32(10.0), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._obs(obs), info

    def step(self, action):
        # MiniGrid compares the action with up to seven IntEnum members; a numpy integer (what a
        # vector env passes) takes ~4 us per comparison, a Python int ~0.1 us.
        obs, reward, terminated, truncated, info = self.env.step(int(finite_action(self, action)))
        info["success"] = float(terminated and reward > 0)
        return self._obs(obs), reward, terminated, truncated, info


@functools.lru_cache(maxsize=8)
def seeds_by_grid(task: str, scan: int) -> tuple[tuple[int, ...], ...]:
    """Reset seeds 0 .. scan - 1 of ``task`` grouped by the grid they generate (walls, doors, keys,
    goal: MiniGrid's grid encoding without the agent), groups in order of first appearance.
    DoorKey-6x6 has 36 grids; within a grid, seeds differ in the agent's start."""
    env = gym.make(task)
    groups: dict[bytes, list[int]] = {}
    for seed in range(scan):
        env.reset(seed=seed)
        groups.setdefault(env.unwrapped.grid.encode().tobytes(), []).append(seed)
    return tuple(tuple(g) for g in groups.values())


def grid_split_seeds(task: str, train_grids: int, grid_set: str, scan: int = 2000) -> list[int]:
    """The reset seeds whose grid is one of the first ``train_grids`` grids (``grid_set="train"``)
    or one of the others (``"heldout"``): a split with no grid shared between training and test."""
    groups = seeds_by_grid(task, scan)
    if not 0 < train_grids < len(groups):
        raise ValueError(f"train_grids={train_grids} must leave held-out grids: {task} has {len(groups)} "
                         f"grids in its first {scan} seeds")
    if grid_set not in ("train", "heldout"):
        raise ValueError(f"grid_set={grid_set!r} must be train or heldout")
    chosen = groups[:train_grids] if grid_set == "train" else groups[train_grids:]
    return sorted(s for group in chosen for s in group)


def make_minigrid(task: str = "MiniGrid-DoorKey-6x6-v0", train_layouts: int | None = 50,
                  layout_offset: int = 0, max_steps: int | None = None, fast_view: bool = True,
                  train_grids: int | None = None, grid_set: str = "train") -> gym.Env:
    """A MiniGrid task (``task`` is a MiniGrid id) with flat observations and a layout split: by seed
    (``train_layouts`` seeds from ``layout_offset``; None: any seed), or, with ``train_grids``, by
    grid (:func:`grid_split_seeds`: the ``grid_set`` side of the first ``train_grids`` grids)."""
    if train_layouts is not None and train_layouts <= 0:
        raise ValueError(f"train_layouts={train_layouts} must be a positive count or None")
    kwargs = {} if max_steps is None else {"max_steps": max_steps}
    env = gym.make(task, **kwargs)  # MiniGrid truncates at its own max_steps (10 * size^2)
    if fast_view:
        env.unwrapped.gen_obs = EgocentricView(env.unwrapped)   # MiniGrid's step and reset call gen_obs
    if train_grids is not None:
        env = FixedLayouts(env, grid_split_seeds(task, train_grids, grid_set))
    elif train_layouts is not None:
        env = FixedLayouts(env, list(range(layout_offset, layout_offset + train_layouts)))
    return FlatView(env)
