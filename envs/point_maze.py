"""SoRB-style 2D point mazes (Eysenbach et al. 2019; C-learning / C-Planning's 2D tasks), pure numpy.

State (row, col) is continuous in [0, H] x [0, W] grid units over a binary wall map (``resize``
up-scales every cell to f x f cells). An action a in [-1, 1]^2 plus Gaussian noise (``action_noise``
per axis), clipped, moves the point in ``substeps`` = 10 sub-steps of 0.1 a, axis by axis; a
sub-move into a wall or out of the map is dropped (no bounce), so a step moves at most one cell
per axis. Starts are the centre of cell ``start_cell`` + U(0, 1)^2 jitter (``start="fixed"``) or a
uniformly drawn free cell + jitter (``start="uniform"``); goals are a uniformly drawn free cell +
jitter, among the cells at least ``goal_min_fraction`` x the longest BFS distance from the start
cell (0: every free cell; 0.6: the "far goals" of an evaluation split). Success: ||s - g|| <
``success_radius`` (1.0). Observation: [s / (H, W), g / (H, W)].
Reward 1 on success, else 0 (goal-conditioned learners relabel goals and ignore it).

Maps (``#`` wall, ``.`` free, row 0 on top): FourRooms, Maze6x6 and Maze11x11 of the SoRB
notebook. :func:`geodesic_distances` gives BFS distances between free cells (4-connected), used for
oracle edge costs and for choosing far evaluation goals.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action

MAPS = {
    "FourRooms": [".....#.....",
                  ".....#.....",
                  "...........",
                  ".....#.....",
                  ".....#.....",
                  "#.####.....",
                  ".....###.##",
                  ".....#.....",
                  ".....#.....",
                  "...........",
                  ".....#....."],
    "Maze6x6": ["..#...",
                "#.#.#.",
                "..#.##",
                ".##..#",
                "..##.#",
                "#....#"],
    "Maze11x11": [".#...#...#.",
                  ".#.#.#.#.#.",
                  ".#.#.#.#.#.",
                  ".#.#.#.#.#.",
                  "...#...#.#.",
                  "########.#.",
                  "###...#..#.",
                  "###.#.#.##.",
                  "....#...##.",
                  ".#########.",
                  "..........."],
}


def wall_map(name: str, resize: int = 1) -> np.ndarray:
    """Binary walls [H, W] of a named map, each cell up-scaled to ``resize`` x ``resize``."""
    if name not in MAPS:
        raise ValueError(f"maze {name!r} is unknown; choose one of {sorted(MAPS)}")
    walls = np.array([[c == "#" for c in row] for row in MAPS[name]], dtype=bool)
    return np.kron(walls, np.ones((resize, resize), dtype=bool))


def geodesic_distances(walls: np.ndarray) -> np.ndarray:
    """BFS distance (4-connected, in cells) between every pair of cells [H*W, H*W]; inf for walls
    and unreachable pairs."""
    H, W = walls.shape
    dist = np.full((H * W, H * W), np.inf)
    for start in np.flatnonzero(~walls.ravel()):
        d = dist[start]
        d[start] = 0
        queue = deque([start])
        while queue:
            c = queue.popleft()
            r, col = divmod(c, W)
            for nr, nc in ((r - 1, col), (r + 1, col), (r, col - 1), (r, col + 1)):
                n = nr * W + nc
                if 0 <= nr < H and 0 <= nc < W and not walls[nr, nc] and d[n] == np.inf:
                    d[n] = d[c] + 1
                    queue.append(n)
    return dist


class PointMazeEnv(gym.Env):
    """Goal-reaching point in a maze (module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, maze: str = "Maze6x6", resize: int = 2, max_steps: int = 60, action_noise: float = 0.1,
                 success_radius: float = 1.0, start: str = "fixed", start_cell: tuple[int, int] = (0, 0),
                 substeps: int = 10, terminate_on_success: bool = False,
                 goal_min_fraction: float = 0.0) -> None:
        if start not in ("fixed", "uniform"):
            raise ValueError(f"start={start!r} must be fixed or uniform")
        self.walls = wall_map(maze, resize)
        self.H, self.W = self.walls.shape
        if self.walls[tuple(start_cell)]:
            raise ValueError(f"start_cell={tuple(start_cell)} is a wall of {maze}")
        self.free = np.argwhere(~self.walls)
        self.max_steps, self.action_noise, self.success_radius = max_steps, action_noise, success_radius
        self.start, self.start_cell, self.substeps = start, np.asarray(start_cell), substeps
        self.terminate_on_success = terminate_on_success
        if not 0.0 <= goal_min_fraction <= 1.0:
            raise ValueError(f"goal_min_fraction={goal_min_fraction} must be in [0, 1]")
        from_start = self.geodesic_between(self.start_cell[None] + 0.5, self.free + 0.5)
        self.goal_cells = self.free[from_start >= goal_min_fraction * from_start.max()]
        self.scale = np.array([self.H, self.W], dtype=float)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    # ------------------------------------------------------------------ geometry
    def is_blocked(self, pos: np.ndarray) -> bool:
        r, c = pos
        if not (0 <= r < self.H and 0 <= c < self.W):
            return True
        return bool(self.walls[int(r), int(c)])

    def _jittered(self, cell: np.ndarray) -> np.ndarray:
        return cell + self.np_random.uniform(0.0, 1.0, 2)

    def sample_free_state(self) -> np.ndarray:
        return self._jittered(self.free[self.np_random.integers(len(self.free))].astype(float))

    def far_threshold(self, fraction: float = 0.6) -> float:
        """``fraction`` x the longest BFS distance (cells) from the start cell."""
        return fraction * float(self.geodesic_between(self.start_cell[None] + 0.5, self.free + 0.5).max())

    def move(self, pos: np.ndarray, action: np.ndarray) -> np.ndarray:
        """``substeps`` sub-moves of 0.1 a, axis by axis; blocked sub-moves are dropped."""
        pos = pos.copy()
        for _ in range(self.substeps):
            for axis in (0, 1):
                trial = pos.copy()
                trial[axis] += 0.1 * action[axis]
                if not self.is_blocked(trial):
                    pos = trial
        return pos

    def normalise(self, pos: np.ndarray) -> np.ndarray:
        return pos / self.scale

    def unnormalise(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x) * self.scale

    def cell_index(self, pos: np.ndarray) -> np.ndarray:
        """Flat index of the cell containing each position [..., 2] (grid units)."""
        pos = np.asarray(pos)
        r = np.clip(np.floor(pos[..., 0]), 0, self.H - 1).astype(int)
        c = np.clip(np.floor(pos[..., 1]), 0, self.W - 1).astype(int)
        return r * self.W + c

    def geodesic_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """BFS distance in cells between the cells of positions a and b (broadcast, grid units)."""
        if getattr(self, "_geodesic", None) is None:
            self._geodesic = geodesic_distances(self.walls)
        return self._geodesic[self.cell_index(a), self.cell_index(b)]

    def geodesic_from(self, start: np.ndarray, states: np.ndarray) -> np.ndarray:
        return self.geodesic_between(np.asarray(start)[None], states)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.normalise(self.pos), self.normalise(self.goal)])

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "start" in options:
            self.pos = np.asarray(options["start"], float)
        elif self.start == "fixed":
            self.pos = self._jittered(self.start_cell.astype(float))
        else:
            self.pos = self.sample_free_state()
        if "goal" in options:
            self.goal = np.asarray(options["goal"], float)
        else:
            cell = self.goal_cells[self.np_random.integers(len(self.goal_cells))]
            self.goal = self._jittered(cell.astype(float))
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        a = np.clip(finite_action(self, action) + self.action_noise * self.np_random.standard_normal(2), -1, 1)
        self.pos = self.move(self.pos, a)
        self.t += 1
        success = float(np.linalg.norm(self.pos - self.goal) < self.success_radius)
        terminated = bool(success) and self.terminate_on_success
        return self._obs(), success, terminated, self.t >= self.max_steps, {"success": success}
