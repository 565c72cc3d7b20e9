"""Intraday order execution, the OPD / Qlib MDP (Fang et al. 2021; EPPO's real-world task).

One episode liquidates (sell) or acquires (buy) an order of Q shares within one trading day of
240 minutes: 48 ticks of 5 minutes, T = 8 decisions of 30 minutes (6 ticks each). Action ``a``
trades the fraction ``a / action_levels`` of the ORIGINAL order (Qlib's
``CategoricalActionInterpreter(values=4)``), at most the remaining position; the last decision
trades whatever remains. Inside a decision the volume is split evenly over its 6 ticks.

Execution price of a tick with traded volume ``v`` and market volume ``V`` (square-root temporary
impact, no permanent impact): ``p_exec = p * (1 + side * (half_spread + eta * sqrt(v / V)))``,
``side`` = +1 for a buy, -1 for a sell. Reward (Qlib ``PAPenaltyReward``):

    r_t = scale * [ PA_t * q_t / Q  -  penalty * sum_ticks (v_tick / Q)^2 ],
    PA_t = 1e4 * (-side) * (pbar_t / ptilde - 1)        (price advantage, bps)

with ``pbar_t`` the mean execution price of decision t and ``ptilde`` the day's TWAP market price.
The episode's price advantage ``PA = sum_t PA_t q_t / Q`` is in ``info["episode_metrics"]["pa_bps"]``
at the end.

Markets: :func:`synthetic_days` draws days from a :class:`MarketRegime` (U-shaped volume profile,
a per-period return factor of which the agent sees a noisy signal, regimes that can be shifted),
and :func:`load_minute_bars` reads real minute bars from a CSV the user provides. Baselines: TWAP,
VWAP and an oracle that plans with the day's future prices (:func:`baseline_pa`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action

TICKS, DECISIONS = 48, 8
TICKS_PER_DECISION = TICKS // DECISIONS


@dataclass(frozen=True)
class MarketRegime:
    """Parameters of the synthetic market; ``sigma`` is the daily volatility of log prices.

    The return of decision period j is ``sigma_p * (signal_corr * f_j + sqrt(1 - corr^2) e_j)``
    with ``sigma_p = sigma / sqrt(8)``; the agent sees ``f_j + signal_noise * n_j`` before it.
    """

    sigma: float = 0.02
    signal_corr: float = 0.25
    signal_noise: float = 0.5
    drift_std: float = 0.005
    tick_noise: float = 0.3        # within-period tick noise, as a fraction of sigma_p
    volume_sigma: float = 0.3      # lognormal day-level and tick-level volume noise
    half_spread_bps: float = 2.0
    impact: float = 0.01           # eta of the square-root impact


REGIMES = {"train": MarketRegime(),
           "shifted": MarketRegime(sigma=0.03, signal_corr=0.15, signal_noise=1.0, drift_std=0.01)}


@dataclass
class MarketDays:
    """Tick prices and volumes [D, 48] and the per-decision signal [D, 8]; day d-1 is day d's
    yesterday, so episodes use days 1..D-1."""

    price: np.ndarray
    volume: np.ndarray
    signal: np.ndarray
    regime: MarketRegime

    def __len__(self) -> int:
        return len(self.price)


def volume_profile() -> np.ndarray:
    """U-shaped intraday volume profile over the 48 ticks, mean 1."""
    x = np.linspace(-1.0, 1.0, TICKS)
    profile = 1.0 + 1.5 * x**2
    return profile / profile.mean()


def synthetic_days(regime: MarketRegime, days: int, seed: int) -> MarketDays:
    """``days`` consecutive synthetic days (vectorised numpy)."""
    rng = np.random.default_rng(seed)
    sigma_p = regime.sigma / np.sqrt(DECISIONS)
    factor = rng.standard_normal((days, DECISIONS))
    period_ret = sigma_p * (regime.signal_corr * factor
                            + np.sqrt(1 - regime.signal_corr**2) * rng.standard_normal((days, DECISIONS)))
    period_ret += rng.normal(0.0, regime.drift_std, (days, 1)) / DECISIONS
    tick_ret = np.repeat(period_ret / TICKS_PER_DECISION, TICKS_PER_DECISION, axis=1)
    tick_ret += regime.tick_noise * sigma_p * rng.standard_normal((days, TICKS)) / np.sqrt(TICKS_PER_DECISION)
    open_price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, regime.sigma, days)))
    price = open_price[:, None] * np.exp(np.cumsum(tick_ret, axis=1))
    level = np.exp(rng.normal(0.0, regime.volume_sigma, (days, 1)))
    volume = 1e6 * level * volume_profile() * np.exp(rng.normal(0.0, regime.volume_sigma, (days, TICKS)))
    signal = factor + regime.signal_noise * rng.standard_normal((days, DECISIONS))
    return MarketDays(price, volume, signal, regime)


CSV_COLUMNS = ("datetime", "close", "volume")


def load_minute_bars(path: str | Path, regime: MarketRegime | None = None) -> MarketDays:
    """Minute bars of one instrument from a CSV with columns ``datetime, close, volume`` (and an
    optional ``signal``). Bars are grouped by calendar date and resampled to 5-minute ticks (last
    close, summed volume); days without exactly 48 ticks are dropped. The regime only supplies the
    spread and impact parameters."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"minute-bar file {path} does not exist; pass env.kwargs.data_path "
                                f"pointing to a CSV with columns {', '.join(CSV_COLUMNS)}")
    frame = pd.read_csv(path)
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing; expected {', '.join(CSV_COLUMNS)} "
                         f"(+ optional signal), found {list(frame.columns)}")
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    frame = frame.set_index("datetime").sort_index()
    agg = {"close": "last", "volume": "sum"} | ({"signal": "last"} if "signal" in frame else {})
    ticks = [g.resample("5min").agg(agg).dropna() for _, g in frame.groupby(frame.index.date)]
    ticks = [t for t in ticks if len(t) == TICKS]
    if len(ticks) < 2:
        raise ValueError(f"{path}: fewer than 2 days with 240 minutes of bars ({TICKS} 5-minute ticks)")
    price = np.stack([t["close"].to_numpy(float) for t in ticks])
    volume = np.maximum(np.stack([t["volume"].to_numpy(float) for t in ticks]), 1.0)
    if "signal" in frame:
        signal = np.stack([t["signal"].to_numpy(float)[::TICKS_PER_DECISION] for t in ticks])
    else:
        signal = np.zeros((len(ticks), DECISIONS))
    if not (np.isfinite(price).all() and (price > 0).all()):
        raise ValueError(f"{path}: close prices must be positive and finite")
    return MarketDays(price, volume, signal, regime or MarketRegime())


def execution_prices(price: np.ndarray, volume: np.ndarray, traded: np.ndarray, side: float,
                     regime: MarketRegime) -> np.ndarray:
    """p_exec per tick (module docstring) for traded volume ``traded`` (same shape)."""
    cost = regime.half_spread_bps * 1e-4 + regime.impact * np.sqrt(traded / volume)
    return price * (1.0 + side * cost)


def schedule_pa(day: MarketDays, d: int, fractions: np.ndarray, side: float, Q: float) -> float:
    """Price advantage (bps) of trading ``fractions`` [8] of Q evenly inside each decision."""
    traded = np.repeat(fractions * Q / TICKS_PER_DECISION, TICKS_PER_DECISION)
    exec_p = execution_prices(day.price[d], day.volume[d], traded, side, day.regime)
    ptilde = day.price[d].mean()
    return float(1e4 * -side * ((exec_p * traded).sum() / traded.sum() / ptilde - 1.0))


class OrderExecutionEnv(gym.Env):
    """Single-order execution MDP (module docstring). Observation (float32, 8 + 48 * 3 + 8):
    [t/T, remaining/Q, side, signal of the next period, executed fraction so far, 3 pad],
    today's tick log-prices vs open (zero after now), today's log volume vs profile (zero after
    now), yesterday's tick log-prices vs its open, the signals revealed so far (zero after now)."""

    metadata = {"render_modes": []}

    def __init__(self, regime: str | dict[str, Any] = "train", num_days: int = 2000, day_seed: int = 0,
                 data_path: str | None = None, action_levels: int = 4, penalty: float = 4.0,
                 scale: float = 0.01, order_size: tuple[float, float] = (-3.28, 1.14)) -> None:
        base = REGIMES.get(regime) if isinstance(regime, str) else replace(REGIMES["train"], **regime)
        if base is None:
            raise ValueError(f"regime={regime!r} is unknown; choose one of {sorted(REGIMES)} or a dict")
        self.days = (load_minute_bars(data_path, base) if data_path
                     else synthetic_days(base, num_days + 1, day_seed))
        self.action_levels, self.penalty, self.scale = action_levels, penalty, scale
        self.order_size = order_size
        self.action_space = gym.spaces.Discrete(action_levels + 1)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (8 + 3 * TICKS + DECISIONS,), np.float32)

    # --------------------------------------------------------------------------- episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.d = int(self.np_random.integers(1, len(self.days)))
        self.side = float(self.np_random.choice([-1.0, 1.0]))
        mean_tick_volume = self.days.volume[self.d].mean()
        self.Q = float(np.exp(self.np_random.normal(*self.order_size)) * mean_tick_volume)
        self.t, self.remaining = 0, 1.0
        self.fractions = np.zeros(DECISIONS)
        return self._obs(), {}

    def step(self, action):
        frac = min(int(finite_action(self, action)) / self.action_levels, self.remaining)
        if self.t == DECISIONS - 1:
            frac = self.remaining
        self.fractions[self.t] = frac
        reward = self.scale * (self._period_pa(self.t, frac) * frac - self.penalty * self._tick_penalty(frac))
        self.remaining = max(self.remaining - frac, 0.0)
        self.t += 1
        terminated = self.t == DECISIONS or self.remaining <= 1e-12
        info: dict[str, Any] = {}
        if terminated:
            pa = schedule_pa(self.days, self.d, self.fractions, self.side, self.Q)
            info["episode_metrics"] = {"pa_bps": pa}
        return self._obs(), float(reward), terminated, False, info

    def _period_pa(self, t: int, frac: float) -> float:
        """PA_t (bps) of trading ``frac`` of Q during decision t."""
        if frac <= 0:
            return 0.0
        ticks = slice(t * TICKS_PER_DECISION, (t + 1) * TICKS_PER_DECISION)
        v = np.full(TICKS_PER_DECISION, frac * self.Q / TICKS_PER_DECISION)
        day = self.days
        exec_p = execution_prices(day.price[self.d, ticks], day.volume[self.d, ticks], v, self.side, day.regime)
        return float(1e4 * -self.side * (exec_p.mean() / day.price[self.d].mean() - 1.0))

    def _tick_penalty(self, frac: float) -> float:
        return TICKS_PER_DECISION * (frac / TICKS_PER_DECISION) ** 2

    def _obs(self) -> np.ndarray:
        day, d, now = self.days, self.d, self.t * TICKS_PER_DECISION
        t = min(self.t, DECISIONS - 1)
        today = np.zeros(TICKS)
        today[:now] = np.log(day.price[d, :now] / day.price[d, 0]) * 100
        vol = np.zeros(TICKS)
        vol[:now] = np.log(day.volume[d, :now] / (day.volume[d - 1].mean() * volume_profile()[:now]))
        yesterday = np.log(day.price[d - 1] / day.price[d - 1, 0]) * 100
        signals = np.zeros(DECISIONS)
        signals[:t + 1] = day.signal[d, :t + 1]
        head = [self.t / DECISIONS, self.remaining, self.side, day.signal[d, t], 1.0 - self.remaining, 0, 0, 0]
        return np.concatenate([head, today, vol, yesterday, signals]).astype(np.float32)

    # --------------------------------------------------------------------------- baselines
    def baseline_schedules(self) -> dict[str, np.ndarray]:
        """Fractions of Q per decision for the current order: TWAP, VWAP (the volume profile) and
        the oracle (dynamic programming over the agent's own action set with the day's future
        prices: the upper bound of any policy)."""
        profile = volume_profile().reshape(DECISIONS, TICKS_PER_DECISION).sum(1)
        return {"twap": np.full(DECISIONS, 1 / DECISIONS), "vwap": profile / profile.sum(),
                "oracle": self._oracle()}

    def _oracle(self) -> np.ndarray:
        levels = self.action_levels
        best = np.zeros(levels + 1)      # value of remaining k / levels after the last decision
        best[1:] = -np.inf
        choice = np.zeros((DECISIONS, levels + 1), dtype=np.int64)
        for t in reversed(range(DECISIONS)):
            new = np.full(levels + 1, -np.inf)
            for rem in range(levels + 1):
                trades = [rem] if t == DECISIONS - 1 else range(rem + 1)
                for a in trades:
                    f = a / levels
                    r = self._period_pa(t, f) * f - self.penalty * self._tick_penalty(f) + best[rem - a]
                    if r > new[rem]:
                        new[rem], choice[t, rem] = r, a
            best = new
        fractions, rem = np.zeros(DECISIONS), levels
        for t in range(DECISIONS):
            fractions[t] = choice[t, rem] / levels
            rem -= choice[t, rem]
        return fractions


def baseline_pa(env: gym.Env, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """PA (bps) per episode of TWAP, VWAP and the oracle on the orders ``env`` draws."""
    inner = env.unwrapped
    out: dict[str, list[float]] = {}
    for k in range(episodes):
        env.reset(seed=seed + k)
        for name, frac in inner.baseline_schedules().items():
            out.setdefault(name, []).append(schedule_pa(inner.days, inner.d, frac, inner.side, inner.Q))
    return {k: np.asarray(v) for k, v in out.items()}


def gain_loss_ratio(pa: np.ndarray) -> float:
    """GLR = E[PA | PA > 0] / |E[PA | PA < 0]| (inf without losses)."""
    pa = np.asarray(pa)
    gains, losses = pa[pa > 0], pa[pa < 0]
    if len(losses) == 0:
        return float("inf")
    return float(gains.mean() / -losses.mean()) if len(gains) else 0.0
