"""Beam-search planning with a Trajectory-Transformer model (TT ``beam_plan``, BooT ``utils/planning.py``).

At every env step, from the prefix ``[context transitions..., s_t]`` (``beam_width`` copies), for
``t = 0 .. H-1``:

1. tile every beam ``n_expand`` times;
2. sample ``act_dim`` action tokens one by one (nucleus filter ``cdf_act``, then top-k ``k_act``);
3. sample the reward and reward-to-go tokens (``k_rew = 1``) and score with the *expectations*
   of their raw predicted distributions: ``r_t = E[r]``, ``V_t = E[R]``;
4. ``score = sum_{i<=t} gamma^i r_i + gamma^(t+1) V_t``; keep the best ``beam_width`` sequences;
5. unless ``t = H-1``, sample ``obs_dim`` observation tokens (``k_obs = 1``: greedy).

The best beam's first action (bin midpoints) is executed. Every model call sees at most
``max_context_transitions * D - 1`` tokens, cropped by whole transitions from the left.

Our additions, which choose the same actions (tested): ``cache=True`` keeps the keys and values
of the current window and feeds only new tokens (the window moves by one transition at each
observation block, where the cache is rebuilt once), and ``plan`` takes a batch of E episodes at
once (one model call serves every episode's beams).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlkit.algos.boot.data import QuantileDiscretizer
from rlkit.algos.boot.model import TrajectoryGPT
from rlkit.nn.gpt import KVCache
from rlkit.precision import reuses_weight_casts


@dataclass
class TokenFilters:
    """Sampling filters per token type (top-k ``k_*``, nucleus ``cdf_*``; None = off). The
    defaults are the official ones for planning and for generation: greedy observations, actions
    from the top 60% of the mass, greedy reward and reward-to-go."""

    k_obs: int | None = 1
    k_act: int | None = None
    k_rew: int | None = 1
    cdf_obs: float | None = None
    cdf_act: float | None = 0.6
    cdf_rew: float | None = None


@dataclass
class PlannerConfig:
    """BooT's planner defaults (``DEFAULT_ARGS`` of the official ``bootorl/utils/argparser.py``)."""

    horizon: int = 10
    beam_width: int = 128
    n_expand: int = 2
    filters: TokenFilters = field(default_factory=TokenFilters)
    max_context_transitions: int = 5
    discount: float = 0.99
    value_placeholder: float = 0.0   # BooT 0, TT 1e6: the R token of context transitions
    prefix_context: bool = True
    cache: bool = True


def filter_cdf(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Drop the low-probability tail whose total mass is below ``threshold`` (official rule:
    every bin with ``p <= p*`` gets logit -1000, ``p*`` the largest sorted probability whose
    cumulative sum from the bottom is still ``< threshold``; the smallest bin when none is)."""
    probs = logits.softmax(-1)
    sorted_p, _ = probs.sort(-1)
    below = sorted_p.cumsum(-1) < threshold
    last = (below * torch.arange(logits.shape[-1], device=logits.device)).argmax(-1, keepdim=True)
    return logits.masked_fill(probs <= sorted_p.gather(-1, last), -1000.0)


def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits (ties with the k-th included)."""
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_token(logits: torch.Tensor, k: int | None, cdf: float | None,
                 generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One token per row from ``logits`` [N, V] (nucleus, then top-k); returns (tokens [N, 1],
    the raw, unfiltered probabilities [N, V])."""
    raw = logits.softmax(-1)
    if cdf is not None:
        logits = filter_cdf(logits, cdf)
    if k is not None:
        logits = top_k_logits(logits, k)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator), raw


class WindowDecoder:
    """Next-token logits for the rows of a growing token sequence.

    The model sees ``x[:, start:]`` with ``start`` a multiple of D chosen so that at most
    ``max_block`` tokens remain (TT's crop). With ``cache``, the keys and values of the window
    are kept, only tokens not yet seen are fed, and a moved window is re-encoded once.
    """

    def __init__(self, model: TrajectoryGPT, max_block: int, cache: bool) -> None:
        self.model, self.max_block, self.use_cache = model, max_block, cache
        self.D = model.transition_dim
        self.cache: KVCache | None = None
        self.pending: torch.Tensor | None = None   # row selection not yet applied to the cache
        self.start = -1
        self.calls = 0

    def crop_start(self, length: int) -> int:
        excess = max(0, length - self.max_block)
        return -(-excess // self.D) * self.D

    def prefill(self, x: torch.Tensor) -> None:
        """Encode all but the last token of ``x`` (before the rows are tiled into beams)."""
        if self.use_cache:
            self.start = self.crop_start(x.shape[1])
            self.cache = self.model.new_cache(self.max_block)
            if x.shape[1] - 1 > self.start:
                self.model(x[:, self.start:-1], self.cache)
                self.calls += 1

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the token after ``x`` [N, L] -> [N, V]."""
        start = self.crop_start(x.shape[1])
        self.calls += 1
        if not self.use_cache:
            return self.model(x[:, start:])[:, -1]
        if self.cache is None or start != self.start:
            self.cache, self.start, self.pending = self.model.new_cache(self.max_block), start, None
        elif self.pending is not None:
            self.cache, self.pending = self.cache.index_select(self.pending), None
        seen = self.start + self.cache.length
        return self.model(x[:, seen:], self.cache)[:, -1]

    def select(self, index: torch.Tensor) -> None:
        """Reorder / tile the rows (beam bookkeeping). Applied lazily: consecutive selections are
        composed, and a selection followed by a moved window (re-encoded anyway) costs nothing."""
        if self.cache is not None:
            self.pending = index if self.pending is None else self.pending[index]


class BeamPlanner:
    """Beam search over E episodes at once; ``plan`` returns each episode's best H transitions."""

    def __init__(self, model: TrajectoryGPT, discretizer: QuantileDiscretizer, cfg: PlannerConfig,
                 generator: torch.Generator | None = None) -> None:
        self.model, self.disc, self.cfg = model, discretizer, cfg
        self.generator = generator
        self.obs_dim, self.act_dim, self.D = model.obs_dim, model.act_dim, model.transition_dim
        self.model_calls = 0

    def _sample(self, dec: WindowDecoder, x: torch.Tensor, n: int, k: int | None, cdf: float | None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        probs = []
        for _ in range(n):
            tok, p = sample_token(dec.logits(x), k, cdf, self.generator)
            x = torch.cat([x, tok], dim=1)
            probs.append(p)
        return x, probs

    @torch.no_grad()
    @reuses_weight_casts
    def plan(self, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """prefix [E, L] tokens (context transitions + current observation) ->
        (best plans [E, H, D] tokens, their scores [E])."""
        cfg, D, f = self.cfg, self.D, self.cfg.filters
        self.model.eval()
        E, L = prefix.shape
        B, n, H = cfg.beam_width, cfg.n_expand, cfg.horizon
        dec = WindowDecoder(self.model, cfg.max_context_transitions * D - 1, cfg.cache)
        dec.prefill(prefix)
        tile = torch.arange(E, device=prefix.device).repeat_interleave(B)
        x = prefix[tile]
        dec.select(tile)
        dtype = self.model.pos_emb.dtype
        rewards = torch.zeros(E * B, H + 1, dtype=dtype, device=prefix.device)
        discounts = cfg.discount ** torch.arange(H + 1, dtype=dtype, device=prefix.device)
        for t in range(H):
            rows = x.shape[0] // E
            expand = (torch.arange(E, device=x.device)[:, None] * rows
                      + torch.arange(rows, device=x.device).repeat(n)[None]).reshape(-1)
            x, rewards = x[expand], rewards[expand]
            dec.select(expand)
            x, _ = self._sample(dec, x, self.act_dim, f.k_act, f.cdf_act)
            x, (p_r, p_R) = self._sample(dec, x, 2, f.k_rew, f.cdf_rew)
            rewards[:, t] = self.disc.expectation(p_r, D - 2)
            rewards[:, t + 1] = self.disc.expectation(p_R, D - 1)
            values = (rewards * discounts).sum(-1).view(E, -1)
            values, inds = values.topk(B, dim=1)
            keep = (inds + torch.arange(E, device=x.device)[:, None] * (rows * n)).reshape(-1)
            x, rewards = x[keep], rewards[keep]
            dec.select(keep)
            if t < H - 1:
                x, _ = self._sample(dec, x, self.obs_dim, f.k_obs, f.cdf_obs)
        self.model_calls += dec.calls
        best = values.argmax(1)
        plans = x.view(E, B, -1, D)[torch.arange(E), best, -H:]
        return plans, values[torch.arange(E), best]

    def actions(self, plans: torch.Tensor) -> np.ndarray:
        """The first planned action of each plan [E, H, D], at bin midpoints."""
        return self.disc.reconstruct(plans[:, 0, self.obs_dim:self.obs_dim + self.act_dim], start=self.obs_dim)

    def prefix(self, context: torch.Tensor, obs: np.ndarray) -> torch.Tensor:
        """[E, c*D] context tokens + the discretised observations [E, obs_dim]."""
        tok = torch.as_tensor(self.disc.discretize(obs), device=context.device)
        return torch.cat([context, tok], 1) if self.cfg.prefix_context else tok

    def context_tokens(self, obs: np.ndarray, act: np.ndarray, rew: np.ndarray) -> np.ndarray:
        """Tokens of executed transitions ``[s, a, r, placeholder]`` [E, D]."""
        R = np.full((len(obs), 1), self.cfg.value_placeholder)
        return self.disc.discretize(np.concatenate([obs, act, np.asarray(rew)[:, None], R], 1))


def rollout(planner: BeamPlanner, envs: list[Any], seeds: list[int], max_steps: int | None = None,
            device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """Plan-and-act in ``len(envs)`` episodes in lockstep (one ``plan`` call per step for all the
    episodes still running). Returns per-episode ``return``, ``length`` and ``success`` (if the
    env reports ``info["success"]``)."""
    E = len(envs)
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)]).astype(np.float64)
    limit = max_steps or min(getattr(env.spec, "max_episode_steps", None) or 1000 for env in envs)
    active = np.arange(E)
    returns, lengths, success = np.zeros(E), np.zeros(E, dtype=np.int64), np.zeros(E)
    context = torch.zeros(E, 0, dtype=torch.long, device=device)
    cmax = planner.cfg.max_context_transitions * planner.D
    for _ in range(limit):
        plans, _ = planner.plan(planner.prefix(context, obs[active]))
        acts = planner.actions(plans)
        rew, done = np.zeros(len(active)), np.zeros(len(active), dtype=bool)
        nxt = obs[active].copy()
        for k, e in enumerate(active):
            o, r, term, trunc, info = envs[e].step(acts[k].astype(np.float32))
            nxt[k], rew[k], done[k] = o, r, term or trunc
            returns[e] += r
            lengths[e] += 1
            success[e] = max(success[e], float(info.get("success", 0.0)))
        tok = torch.as_tensor(planner.context_tokens(obs[active], acts, rew), device=device)
        context = torch.cat([context, tok], 1)[:, -cmax:]
        obs[active] = nxt
        context, active = context[~torch.as_tensor(done)], active[~done]
        if len(active) == 0:
            break
    return {"return": returns, "length": lengths, "success": success}
