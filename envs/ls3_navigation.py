"""LS3's navigation task ("SimplePointBot" of the official code), pure numpy, with image observations.

World 180 (x) x 150 (y), y down as in image coordinates. Start (30, 75) + N(0, 1) per coordinate,
goal (150, 75), success ||s - goal|| < 3. Obstacle: the open rectangle x in (75, 100), y in (55, 95),
on the straight line from start to goal. Action (dx, dy) in [-3, 3]^2;
s' = clip(s + a + 0.125 N(0, I), [0, 180] x [0, 150]); once inside the obstacle the state is frozen
for the rest of the episode. Reward -1 if the current (pre-move) state is outside the goal ball, else 0;
100 steps, no early termination. ``info``: ``constraint`` (next state in the obstacle), ``success``
(the pre-move state is in the goal ball, i.e. reward 0), ``state``, ``next_state`` and ``progress``
(:func:`route_progress` of the next state: how far along the demos' route it is).

Observation: uint8 RGB [3, S, S] (S = 64, or 32 for CPU runs): black background, red disc of radius
10 at the robot, blue rectangle with a 1-unit black outline for the obstacle drawn over it (as the
official PIL code draws them; ``obstacle_on_top=False`` draws the robot last), goal not drawn; the
180 x 150 world is stretched to S x S. Rendered by a numpy rasteriser with 4x supersampling and
cached per integer position (the official code caches on the truncated position too).

Teachers (official ``collect_data.py``): :func:`teacher_action` (waypoints (30, 15) for t < 20, (150, 15)
until t = 60,
then the goal; first action uniform; Gaussian action noise std 1.2) and :func:`constraint_teacher_action`
(random start, a random constant direction for 15 steps, then half speed to the obstacle centre).
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action

WORLD = np.array([180.0, 150.0])
START, GOAL, GOAL_RADIUS = np.array([30.0, 75.0]), np.array([150.0, 75.0]), 3.0
OBSTACLE = ((75.0, 100.0), (55.0, 95.0))          # open intervals in x and y
MAX_ACTION, NOISE, ROBOT_RADIUS, HORIZON = 3.0, 0.125, 10.0, 100
TEACHER_NOISE = 1.2                                # (high - low) / 5
DEMO_ROUTE = np.array([START, [30.0, 15.0], [150.0, 15.0], GOAL])   # the teacher's waypoints


def in_obstacle(s: np.ndarray) -> np.ndarray:
    (x0, x1), (y0, y1) = OBSTACLE
    s = np.asarray(s)
    return (s[..., 0] > x0) & (s[..., 0] < x1) & (s[..., 1] > y0) & (s[..., 1] < y1)


def in_goal(s: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(s) - GOAL, axis=-1) < GOAL_RADIUS


def move(s: np.ndarray, a: np.ndarray, noise: np.ndarray | float = 0.0) -> np.ndarray:
    """clip(s + clip(a) + noise, world) for positions and actions [..., 2] (outside the obstacle)."""
    return np.clip(s + np.clip(a, -MAX_ACTION, MAX_ACTION) + noise, 0, WORLD)


def noise_free_step(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The dynamics without noise: frozen inside the obstacle, else :func:`move`."""
    return np.where(in_obstacle(s)[..., None], s, move(s, a))


def route_progress(s: np.ndarray) -> np.ndarray:
    """Fraction in [0, 1] of the demos' route (start, (30, 15), (150, 15), goal; 240 units) up to its
    point nearest to each position [..., 2]: 0 at the start, 1 at the goal."""
    s = np.asarray(s, dtype=float)[..., None, :]
    a, b = DEMO_ROUTE[:-1], DEMO_ROUTE[1:]
    length = np.linalg.norm(b - a, axis=-1)
    u = np.clip(((s - a) * (b - a)).sum(-1) / length**2, 0, 1)                 # [..., segments]
    distance = np.linalg.norm(s - (a + u[..., None] * (b - a)), axis=-1)
    nearest = distance.argmin(-1)
    before = np.concatenate([[0.0], np.cumsum(length)])
    along = before[nearest] + np.take_along_axis(u * length, nearest[..., None], -1)[..., 0]
    return along / length.sum()


@functools.cache
def optimal_steps() -> np.ndarray:
    """Fewest noise-free steps from every integer position to the goal ball, [181, 151] indexed by
    (x, y), integer actions in [-3, 3]^2 (inf inside the obstacle, which is absorbing). With reward -1
    per step outside the goal, the optimal value is V*(s) = -(1 - gamma^n(s)) / (1 - gamma).
    Computed once (read-only)."""
    xs, ys = np.meshgrid(np.arange(WORLD[0] + 1), np.arange(WORLD[1] + 1), indexing="ij")
    cells = np.stack([xs, ys], -1)
    blocked = in_obstacle(cells)
    steps = np.where(in_goal(cells), 0.0, np.inf)
    moves = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)]
    targets = [tuple(np.clip(cells + m, 0, WORLD).astype(int).transpose(2, 0, 1)) for m in moves]
    while True:
        best = np.min([steps[t] for t in targets], axis=0) + 1
        new = np.where(blocked, np.inf, np.minimum(steps, best))
        if np.array_equal(new, steps):
            steps.setflags(write=False)
            return steps
        steps = new


class NavigationEnv(gym.Env):
    """The LS3 navigation task (module docstring)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, image_size: int = 64, horizon: int = HORIZON, supersample: int = 4,
                 obstacle_on_top: bool = True, constraint_teacher: str = "official") -> None:
        if constraint_teacher not in ("official", "clipped"):
            raise ValueError(f"constraint_teacher={constraint_teacher!r} must be official or clipped")
        self.image_size, self.horizon, self.supersample = image_size, horizon, supersample
        self.obstacle_on_top, self.constraint_teacher = obstacle_on_top, constraint_teacher
        self.observation_space = gym.spaces.Box(0, 255, (3, image_size, image_size), np.uint8)
        self.action_space = gym.spaces.Box(-MAX_ACTION, MAX_ACTION, (2,), np.float32)
        self.render_mode = "rgb_array"
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._background = self._draw_background()

    # ------------------------------------------------------------------ rendering
    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.image_size * self.supersample
        xs = (np.arange(n) + 0.5) / n * WORLD[0]
        ys = (np.arange(n) + 0.5) / n * WORLD[1]
        return np.meshgrid(xs, ys)                  # [n, n], rows = y

    def _draw_background(self) -> np.ndarray:
        X, Y = self._grid()
        (x0, x1), (y0, y1) = OBSTACLE
        inside = (x0 + 1 < X) & (x1 - 1 > X) & (y0 + 1 < Y) & (y1 - 1 > Y)     # 1-unit black outline
        img = np.zeros((*X.shape, 3))
        img[inside] = (0.0, 0.0, 1.0)
        return img

    def render_state(self, s: np.ndarray, cache: bool = True) -> np.ndarray:
        """uint8 [3, S, S] image of position ``s`` (cached on the integer-truncated position unless
        ``cache`` is false)."""
        key = (int(s[0]), int(s[1]))
        if key not in self._cache:
            X, Y = self._grid()
            img = self._background.copy()
            robot = (X - key[0]) ** 2 + (Y - key[1]) ** 2 <= ROBOT_RADIUS**2
            if self.obstacle_on_top:          # official: the rectangle (with its outline) is drawn last
                (x0, x1), (y0, y1) = OBSTACLE
                covered = (abs(X - (x0 + x1) / 2) <= (x1 - x0) / 2) & (abs(Y - (y0 + y1) / 2) <= (y1 - y0) / 2)
                robot &= ~covered
            img[robot] = (1.0, 0.0, 0.0)
            k, n = self.supersample, self.image_size
            img = img.reshape(n, k, n, k, 3).mean((1, 3))
            image = np.round(255 * img).astype(np.uint8).transpose(2, 0, 1)
            if not cache:
                return image
            self._cache[key] = image
        return self._cache[key].copy()

    def render(self) -> np.ndarray:
        return self.render_state(self.state).transpose(1, 2, 0)

    def teacher(self, kind: str, rng: np.random.Generator):
        """A fresh teacher policy ``(info, t) -> action`` for one episode (``demo`` or ``constraint``)
        and the reset options it needs. ``info`` is the latest reset/step info."""
        current = lambda info: info.get("next_state", info["state"])
        if kind == "demo":
            return (lambda info, t: teacher_action(current(info), t, rng)), {}
        if kind == "constraint":
            policy = ConstraintTeacher(rng, unit_direction=self.constraint_teacher == "official")
            return (lambda info, t: policy(current(info), t)), {"random_start": True}
        raise ValueError(f"navigation has no {kind!r} teacher (demo, constraint)")

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if options.get("random_start", False):
            self.state = self.np_random.uniform(0, WORLD)
            while in_obstacle(self.state):
                self.state = self.np_random.uniform(0, WORLD)
        else:
            self.state = START + self.np_random.standard_normal(2)
        self.t, self.frozen = 0, False
        return self.render_state(self.state), {"state": self.state.copy()}

    def step(self, action):
        a = np.clip(finite_action(self, action), -MAX_ACTION, MAX_ACTION)
        state = self.state
        reward = 0.0 if in_goal(state) else -1.0
        if not self.frozen:
            nxt = move(state, a, NOISE * self.np_random.standard_normal(2))
            self.frozen = bool(in_obstacle(nxt))
            self.state = nxt
        self.t += 1
        info = {"constraint": float(in_obstacle(self.state)), "success": float(reward == 0.0),
                "state": state.copy(), "next_state": self.state.copy(),
                "progress": float(route_progress(self.state))}
        return self.render_state(self.state), reward, False, self.t >= self.horizon, info


def teacher_action(state: np.ndarray, t: int, rng: np.random.Generator,
                   noise: float = TEACHER_NOISE) -> np.ndarray:
    """The official demo teacher: P-control to (30, 15), then (150, 15), then the goal; noisy."""
    if t == 0:
        action = rng.uniform(-MAX_ACTION, MAX_ACTION, 2)
    else:
        waypoint = DEMO_ROUTE[1] if t < 20 else DEMO_ROUTE[2] if t < 60 else GOAL
        action = np.clip(waypoint - state, -MAX_ACTION, MAX_ACTION)
    return np.clip(action + noise * rng.standard_normal(2), -MAX_ACTION, MAX_ACTION)


class ConstraintTeacher:
    """Constraint-violating data: a random constant direction for 15 steps, then half speed to the
    obstacle centre (88, 75); noisy. Use with ``reset(options={"random_start": True})``.
    ``unit_direction`` (official ``ConstraintTeacher``): the unit vector to the centre times
    MAX_ACTION / 2 = 1.5; otherwise (our first version) the offset clipped per component, halved."""

    def __init__(self, rng: np.random.Generator, noise: float = TEACHER_NOISE,
                 unit_direction: bool = True) -> None:
        self.rng, self.noise, self.unit_direction = rng, noise, unit_direction
        self.direction = rng.uniform(-MAX_ACTION, MAX_ACTION, 2)

    def __call__(self, state: np.ndarray, t: int) -> np.ndarray:
        to_centre = np.array([88.0, 75.0]) - state
        if t < 15:
            action = self.direction
        elif self.unit_direction:
            action = to_centre / np.linalg.norm(to_centre) * MAX_ACTION / 2
        else:
            action = np.clip(to_centre, -MAX_ACTION, MAX_ACTION) / 2
        return np.clip(action + self.noise * self.rng.standard_normal(2), -MAX_ACTION, MAX_ACTION)
