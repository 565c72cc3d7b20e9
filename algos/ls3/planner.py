"""LS3's CEM model-predictive planner in latent space (LS3 paper Sec. 4.4; official ``CEMSafeSetPolicy``),
batched over candidates x particles.

Per env step, from the current latent z_0:

1. Iteration 0 samples ``population`` action sequences uniformly in the action box; later
   iterations sample N(mean, std) fitted to the elites, clipped to the box.
2. Every sequence is rolled out for ``particles`` particles through the dynamics ensemble
   (P x N rows batched, in cache-sized blocks; official: one random member per time step for every row).
3. Score = mean_p V(z_H) + #{t : goal(z_t) > goal_thresh}
           - 1e5 #{t : max_p sigmoid(f_C(z_t)) > delta_C}       (chance constraint, worst particle)
           - 1e5 [mean_p sigmoid(f_S(z_H)) < delta_S]           (safe set at the last step, particle mean)
   ``goal_on_logits`` (official) compares the particle-mean goal *logit* with the threshold.
4. Elites: the best min(elites, #feasible) feasible sequences. ``feasibility="score"`` (official)
   calls a sequence feasible when its score > -1e5, which a single violation near the goal can pass;
   ``"mask"`` tracks violations as booleans (the fix).
5. No feasible sequence: delta_S *= ``relax_factor`` and restart from uniform sampling; after
   ``max_relax`` relaxations, a uniformly random action.
6. The first action of the best sequence of the last scored population is returned.
   ``score_last_iteration=False`` (official) scores only ``iterations - 1`` populations (the last refit
   is sampled but never evaluated); ``True`` scores all ``iterations``.

``safe_set_ignore`` / ``constr_ignore`` drop the respective terms (the paper's ablations).
Under ``precision=bf16`` (``rlkit.precision``) the networks' matrix products run in bfloat16; their
outputs come back in fp32, so latents, sums, thresholds and the CEM stay fp32.
``dynamics_model`` / ``value_model`` / ``safe_set_model`` = ``"oracle"`` swap a learned part for the
navigation task's ground truth (:mod:`rlkit.algos.ls3.oracle`; diagnostics, not LS3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlkit.algos.ls3.models import DynamicsEnsemble, LatentClassifier, SafeSet, ValueEnsemble
from rlkit.algos.ls3.oracle import NavigationOracle, latent_position
from rlkit.precision import reuses_weight_casts

PENALTY = 1e5


@dataclass
class PlannerConfig:
    population: int = 1000
    elites: int = 100
    particles: int = 20
    horizon: int = 5
    iterations: int = 5
    delta_s: float = 0.8              # safe_set_thresh
    delta_c: float = 0.2              # constraint threshold
    goal_thresh: float = 0.5
    goal_on_logits: bool = True       # official quirk; False compares sigmoid(logit)
    relax_factor: float = 0.8
    max_relax: int = 5
    feasibility: str = "score"        # score (official) | mask (fix)
    score_last_iteration: bool = False  # official: the last refit is never scored
    sampling: str = "per_step_member"   # per_step_member (official) | ts1
    dynamics_noise: bool = True       # official: sample dz ~ N(m, s^2); False rolls out the mean dz
    cem_std_unbiased: bool = True     # official: torch's default (unbiased) std of the elites
    safe_set_ignore: bool = False
    constr_ignore: bool = False
    dynamics_model: str = "learned"   # learned | oracle (diagnostic: noise-free navigation dynamics)
    value_model: str = "learned"      # learned | oracle (diagnostic: optimal value)
    safe_set_model: str = "learned"   # learned | oracle (diagnostic: the free space)


class SafeSetCEM:
    """CEM over action sequences with LS3's chance constraints (module docstring)."""

    def __init__(self, cfg: PlannerConfig, dynamics: DynamicsEnsemble, value: ValueEnsemble, safe_set: SafeSet,
                 constraint: LatentClassifier, goal: LatentClassifier, action_low: np.ndarray,
                 action_high: np.ndarray, seed: int = 0, block_rows: int = 1024,
                 oracle: NavigationOracle | None = None) -> None:
        if cfg.feasibility not in ("score", "mask") or cfg.sampling not in ("per_step_member", "ts1"):
            raise ValueError(f"feasibility={cfg.feasibility!r} (score|mask), sampling={cfg.sampling!r} "
                             "(per_step_member|ts1)")
        self.cfg, self.dynamics, self.value = cfg, dynamics, value
        self.safe_set, self.constraint, self.goal = safe_set, constraint, goal
        device = next(dynamics.parameters()).device
        self.low = torch.as_tensor(action_low, dtype=torch.float32, device=device)
        self.high = torch.as_tensor(action_high, dtype=torch.float32, device=device)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.delta_s = cfg.delta_s        # the current (possibly relaxed) safe-set threshold
        self.block_rows = block_rows
        self.oracle = oracle              # ground truth for the ``*_model="oracle"`` diagnostics

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator).to(self.low.device)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator).to(self.low.device)

    @torch.no_grad()
    def score(self, z0: torch.Tensor, actions: torch.Tensor, s0: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores [N] and feasibility [N] of action sequences [N, H, k] from latent z0 [d] (and, for
        the true dynamics, the position s0 [2]). The particles x candidates rows run in blocks of
        about ``block_rows`` (same result, kept in cache)."""
        cfg = self.cfg
        N, H, _ = actions.shape
        P = cfg.particles
        true_dynamics = cfg.dynamics_model == "oracle"
        if true_dynamics and s0 is None:
            raise ValueError("dynamics_model=oracle rolls out true positions: pass the position s0")
        if true_dynamics or (not cfg.dynamics_noise and cfg.sampling == "per_step_member"):
            P = 1   # every particle follows the same rollout: one gives the particle means and max
        members = torch.randint(self.dynamics.members, (H,), generator=self.generator).tolist()
        goal_sum = torch.zeros(H, N, device=z0.device)
        worst = torch.zeros(H, N, device=z0.device)
        value_sum = torch.zeros(N, device=z0.device)
        safe_sum = torch.zeros(N, device=z0.device)
        block = max(1, min(P, self.block_rows // N))
        for first in range(0, P, block):
            c = min(block, P - first)
            z = z0.expand(c * N, -1)
            position = s0.expand(c * N, -1) if true_dynamics and s0 is not None else None
            for t in range(H):
                a = actions[:, t].repeat(c, 1)
                if position is not None:            # the true dynamics
                    position = self.truth.step(position, a)
                    z = self.truth.latent(position)
                else:
                    member = members[t] if cfg.sampling == "per_step_member" else None
                    z = self.dynamics.sample_next(z, a, member, self.generator, cfg.dynamics_noise)
                goal = self.goal(z).view(c, N)
                goal_sum[t] += (goal if cfg.goal_on_logits else torch.sigmoid(goal)).sum(0)
                if not cfg.constr_ignore:
                    violation = torch.sigmoid(self.constraint(z)).view(c, N).amax(0)
                    worst[t] = torch.maximum(worst[t], violation)
            value_sum += self._value(z, position).view(c, N).sum(0)
            if not cfg.safe_set_ignore:
                safe_sum += self._safe(z, position).view(c, N).sum(0)
        goal_steps = (goal_sum / P > cfg.goal_thresh).sum(0)
        constraint_steps = (worst > cfg.delta_c).sum(0)
        value = torch.nan_to_num(value_sum / P, nan=-PENALTY)
        unsafe = torch.zeros(N, dtype=torch.bool, device=z0.device)
        if not cfg.safe_set_ignore:
            unsafe = safe_sum / P < self.delta_s
        score = value + goal_steps - PENALTY * (constraint_steps + unsafe.float())
        feasible = score > -PENALTY if cfg.feasibility == "score" else (constraint_steps == 0) & ~unsafe
        return score, feasible

    @property
    def truth(self) -> NavigationOracle:
        if self.oracle is None:
            raise RuntimeError("a *_model=oracle diagnostic needs the planner's oracle (LS3 builds it)")
        return self.oracle

    def _position(self, z: torch.Tensor, position: torch.Tensor | None) -> torch.Tensor:
        """Positions of imagined states: the true rollout's, else the state latent's own."""
        return latent_position(z) if position is None else position

    def _value(self, z: torch.Tensor, position: torch.Tensor | None) -> torch.Tensor:
        if self.cfg.value_model == "oracle":
            return self.truth.value(self._position(z, position))
        return self.value(z)

    def _safe(self, z: torch.Tensor, position: torch.Tensor | None) -> torch.Tensor:
        """P(z in the safe set)."""
        if self.cfg.safe_set_model == "oracle":
            return self.truth.safe(self._position(z, position))
        return torch.sigmoid(self.safe_set(z))

    def refit(self, elites: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sampling distribution of the next CEM iteration: per (t, action dim) mean and standard
        deviation of the elites [E, H, k]; unbiased (E - 1) as torch's default std in the official
        ``cem_policy.py``, or biased (E) with ``cem_std_unbiased=False``."""
        return elites.mean(0), elites.std(0, unbiased=self.cfg.cem_std_unbiased)

    @torch.no_grad()
    @reuses_weight_casts
    def plan(self, z0: torch.Tensor, s0: torch.Tensor | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """First action of the best feasible sequence from latent z0 [d] (position s0 [2] for the true
        dynamics), and diagnostics:
        ``relaxations`` (delta_S decays), ``random_action`` (fallback taken), ``feasible`` (count in
        the last scored population)."""
        cfg = self.cfg
        H, k = cfg.horizon, self.low.numel()
        scored = cfg.iterations if cfg.score_last_iteration else cfg.iterations - 1
        self.delta_s = cfg.delta_s
        for relax in range(cfg.max_relax + 1):
            mean = std = best = None
            for it in range(max(scored, 1)):
                if it == 0:
                    cand = self.low + (self.high - self.low) * self._rand(cfg.population, H, k)
                else:
                    assert mean is not None and std is not None     # the elites of iteration it - 1
                    cand = torch.clamp(mean + std * self._randn(cfg.population, H, k), self.low, self.high)
                score, feasible = self.score(z0, cand, s0)
                n_feasible = int(feasible.sum())
                if n_feasible == 0:
                    break
                elite_idx = torch.where(feasible, score, -torch.inf).topk(min(cfg.elites, n_feasible)).indices
                elites = cand[elite_idx]
                mean, std = self.refit(elites)
                best = cand[elite_idx[0], 0]
            if n_feasible > 0 and best is not None:
                return best.cpu().numpy(), {"relaxations": float(relax), "random_action": 0.0,
                                            "feasible": float(n_feasible)}
            self.delta_s *= cfg.relax_factor
        action = self.low + (self.high - self.low) * self._rand(k)
        return action.cpu().numpy(), {"relaxations": float(cfg.max_relax), "random_action": 1.0,
                                      "feasible": 0.0}
