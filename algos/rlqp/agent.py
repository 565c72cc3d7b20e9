"""RLQP: multi-agent TD3 that sets OSQP's per-constraint rho (Ichnowski et al. 2021, arXiv 2107.10847).

Every constraint row is an agent; all rows share one actor and one critic, so the policy works
for any number of constraints. A step of the QP env (``rlkit.envs.qp.env``) yields one transition per
row, ``(o_i, a_i, r, o'_i, done)``, all carrying the shared reward r = -1 per unsolved step.
The update is TD3 (``rlkit.rl.td3.TD3Learner``) on these row transitions:

    y   = r + gamma (1 - done) min_j Q'_j(o'_i, clip(pi'(o'_i) + eps))
    L_Q = sum_j E[(Q_j(o_i, a_i) - y)^2],     L_pi = -E[Q_1(o_i, pi(o_i))]   (every 2nd update)

Actions are a = log10(rho) / 6 (``param="paper"``, ExpTanh) or log10(rho / rho_osqp) / 3
(``"relative"``), see :mod:`rlkit.algos.rlqp.policy`.

``train_step()`` unit: one training episode (one QP solved step by step) followed by the TD3
updates the schedule owes. The schedule is in updates per env step (one env step = one rho decision,
K ADMM iterations, m row transitions): every ``update_every`` env steps after ``update_after``, a
burst of ``updates_per_step x update_every`` updates (the release: 1 update of 100 rows per env step
in bursts of 1000, after 1000 steps, with 5000 random steps first; ``experiment=rlqp_paper``).
``update_every=0`` updates after every episode, ``updates_per_step x`` its length (our CPU
schedule: about 55 updates of 512 rows per env step, 250x the release's replay ratio).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agent import Agent
from rlkit.algos.rlqp.collect import Episode, EpisodeCollector
from rlkit.algos.rlqp.config import RLQPConfig
from rlkit.algos.rlqp.policy import (
    ACTION_DECADES,
    ActiveSetRule,
    Actor,
    LearnedRhoPolicy,
    feature_dim,
)
from rlkit.algos.rlqp.report import (
    class_counts,
    evaluate_policy,
    headline,
    larger_problems,
    maros_meszaros,
    per_class,
    plot_comparison,
    ratio_table,
    solve_all,
    table,
)
from rlkit.algos.rlqp.shipped import pretrained
from rlkit.data import ReplayBuffer
from rlkit.env_spec import EnvLike, env_factory
from rlkit.envs.qp.admm import Settings
from rlkit.envs.qp.env import QPEnv, QPSampler
from rlkit.envs.qp.problems import QP
from rlkit.rl.td3 import TD3Config, TD3Learner
from rlkit.seeding import EVAL_SEED_OFFSET, own_torch_rng

TEST_SEED = 20_000_003   # problem-seed offset of the final report's test set (evaluation: EVAL_SEED_OFFSET)


class RLQP(Agent):
    """The RLQP agent (``algo=rlqp``); ``policy()`` returns the current learned rho policy.

    ``env`` is a :class:`rlkit.envs.qp.env.QPEnv` (or its id/spec, ``rlkit/QP-v0``): it holds the
    training problem distribution and the MDP (K iterations per step, cap, eps).
    """

    config_class = RLQPConfig
    #: fp32 only (not shown safe in bf16): the action a sets rho on a log scale (10^(6a) in the paper's
    #: parameterisation), where bf16's rounding of a (up to 2^-8) moves rho by up to 5%; the ADMM
    #: solver runs in float64 either way.
    precisions = ("fp32",)

    @own_torch_rng
    def __init__(self, cfg: RLQPConfig, env: EnvLike | None = None, *,
                 device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.cfg, self.device, self.seed = cfg, torch.device(device), seed
        made = QPEnv() if env is None else getattr(env_factory(env)(), "unwrapped", None)
        if not isinstance(made, QPEnv):
            raise TypeError("RLQP needs the QP env (env=qp_mixed, id rlkit/QP-v0)")
        self.env: QPEnv = made
        self.decades = ACTION_DECADES[cfg.param]
        td3 = TD3Config(hidden=cfg.hidden, lr=cfg.lr, tau=cfg.tau, gamma=cfg.gamma,
                        policy_delay=cfg.policy_delay, policy_noise=cfg.target_noise / self.decades,
                        noise_clip=cfg.noise_clip / self.decades,
                        exploration_noise=cfg.exploration_noise / self.decades)
        F = feature_dim(cfg.param)
        self.learner = TD3Learner(td3, F, 1, self.device, actor=Actor(F, cfg.hidden))
        self.buffer = ReplayBuffer((F,), (1,), cfg.buffer_rows, device=self.device, seed=seed, gamma=cfg.gamma)
        self.episodes, self.env_steps, self.grad_steps = 0, 0, 0
        self.update_debt = 0.0
        self.collector = EpisodeCollector(self.env, cfg)
        self.pending: list[Episode] = []    # episodes of the current round not yet stored
        self.eval_set = self._held_out(seed + EVAL_SEED_OFFSET, cfg.eval_per_class)
        self._osqp_eval: dict[str, float] | None = None

    # ------------------------------------------------------------------ acting
    def policy(self, actor_state: dict[str, torch.Tensor] | None = None) -> LearnedRhoPolicy:
        """The current policy, or (``actor_state``) a snapshot of the actor's weights."""
        actor = self.learner.actor
        if actor_state is not None:
            actor = Actor(feature_dim(self.cfg.param), self.cfg.hidden)
            actor.load_state_dict(actor_state)
            actor.eval()
        return LearnedRhoPolicy(actor, self.cfg.features, self.cfg.param, self.cfg.scalar)

    # ------------------------------------------------------------------ Algorithm contract
    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One episode on a fresh training QP, storing its per-row transitions; then the TD3 updates
        the schedule owes. Episodes are collected in rounds of ``episodes_per_round`` with the actor
        of the round's start, on ``workers`` processes (``rlkit.algos.rlqp.collect``).
        Counters: ``train/env_steps`` (rho decisions) and ``train/grad_steps`` (TD3 updates)."""
        cfg = self.cfg
        if not self.pending:
            self.pending = self._collect_round()
        ep = self.pending.pop(0)
        self.buffer.extend(ep.obs, ep.action, ep.reward, ep.next_obs, ep.terminated)
        before = self.env_steps
        self.episodes, self.env_steps = self.episodes + 1, self.env_steps + ep.steps
        metrics = {"train/episode_iterations": float(ep.iterations), "train/episode_return": ep.ret,
                   "train/solved": float(ep.solved), "train/rows": float(ep.rows)}
        updates = self._updates_owed(before)
        if updates:
            metrics["train/lr"] = self._decay_lr()
            sums: dict[str, list[float]] = {}
            for _ in range(updates):
                for k, v in self.learner.update(self.buffer.sample(cfg.batch_size)).items():
                    sums.setdefault(k, []).append(v)
            metrics.update({k: float(np.mean(v)) for k, v in sums.items()})
            self.grad_steps += updates
        return metrics | {"train/env_steps": float(self.env_steps), "train/grad_steps": float(self.grad_steps)}

    def _collect_round(self) -> list[Episode]:
        """The next ``episodes_per_round`` episodes with the current actor. Episode e explores at
        random while ``e < random_episodes`` or the env steps at the round's start are fewer than
        ``random_steps``."""
        cfg = self.cfg
        episodes = list(range(self.episodes, self.episodes + cfg.episodes_per_round))
        random_phase = [e < cfg.random_episodes or self.env_steps < cfg.random_steps for e in episodes]
        return self.collector.round(self.learner.actor, self.seed, episodes, random_phase)

    def _updates_owed(self, before: int) -> int:
        """TD3 updates after an episode that took the env-step count from ``before`` to ``env_steps``:
        with ``update_every`` > 0, a burst for every multiple of it crossed (past ``update_after``);
        else ``updates_per_step`` per step of the episode, once the random episodes are over
        (fractions carried to the next episode)."""
        cfg = self.cfg
        if cfg.update_every > 0:
            bursts = sum(1 for t in range(before + 1, self.env_steps + 1)
                         if t % cfg.update_every == 0 and t >= cfg.update_after)
            return round(bursts * cfg.update_every * cfg.updates_per_step)
        if self.episodes < cfg.random_episodes or self.env_steps < max(cfg.update_after, cfg.random_steps):
            return 0
        self.update_debt += cfg.updates_per_step * (self.env_steps - before)
        owed = int(self.update_debt)
        self.update_debt -= owed
        return owed

    def _decay_lr(self) -> float:
        """The release's StepLR: lr_k = lr * lr_decay^k after k epochs of ``lr_decay_steps`` env
        steps (computed from the step count, so a resumed run continues the schedule)."""
        lr = self.cfg.lr * self.cfg.lr_decay ** (self.env_steps // self.cfg.lr_decay_steps)
        for optim in (self.learner.actor_optim, self.learner.critic_optim):
            for group in optim.param_groups:
                group["lr"] = lr
        return lr

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Actions in [-1, 1] for encoded row features ``obs`` [m, F]."""
        o = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        with torch.no_grad():
            a = self.learner.actor(o.reshape(-1, o.shape[-1])).squeeze(-1).cpu().numpy()
        if not deterministic:
            noise = torch.randn(a.shape).numpy()                     # torch's global generator
            a = np.clip(a + self.cfg.exploration_noise / self.decades * noise, -1, 1)
        return a

    def solve_settings(self, **overrides: Any) -> Settings:
        """Solver settings of evaluation: the env's eps and checks, a rho decision every K
        iterations, and the env's cap (first chunk + max_steps chunks)."""
        env = self.env
        base = {"eps_abs": env.settings.eps_abs, "eps_rel": env.settings.eps_rel,
                "adaptive_rho_interval": env.K, "check_termination": env.settings.check_termination,
                "max_iter": env.K * (env.max_steps + 1)}
        return Settings(**{**base, **overrides})

    def _held_out(self, seed: int, per_class: int) -> list[QP]:
        classes = self.env.sampler.classes
        sampler = QPSampler(classes, seed)
        return [sampler() for _ in range(per_class * len(classes))]

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """Solve the evaluation QPs with the learned policy (``eval_per_class`` per class, drawn with
        ``rlkit.seeding.eval_seed``; an explicit ``seed`` draws another set); ``eval/return`` =
        -mean iterations / K. ``episodes`` is not used: the set is the unit of evaluation."""
        problems = self.eval_set if seed is None else self._held_out(seed, self.cfg.eval_per_class)
        out = evaluate_policy(problems, self.policy(), self.solve_settings())
        if seed is not None:
            osqp = evaluate_policy(problems, "osqp", self.solve_settings())
        else:
            self._osqp_eval = self._osqp_eval or evaluate_policy(problems, "osqp", self.solve_settings())
            osqp = self._osqp_eval
        return {"eval/return": -out["iterations"] / self.env.K,
                "eval/length": out["iterations"] / self.env.K, "eval/iterations": out["iterations"],
                "eval/success": out["solved"],
                "eval/osqp_iterations": osqp["iterations"],
                "eval/speedup_vs_osqp": osqp["iterations"] / max(out["iterations"], 1.0)}

    def write_report(self, run_dir: Path) -> None:
        """End of a run: save ``policy.pt``, and ``comparison.md`` / ``comparison.json`` (mean
        iterations per set and method: osqp default, fixed rho, the hand active-set rule, the
        learned policy and, with ``report_shipped``, the policy shipped with rlkit) on test problems
        of the training distribution drawn apart from the evaluation set, and on the larger /
        Maros-Meszaros sets when configured. When the runner kept a best checkpoint (highest
        ``eval/return`` on the evaluation set, i.e. the validation-selected snapshot), its policy is
        saved as ``policy_best.pt`` and reported as ``best`` beside the final one."""
        from rlkit.checkpoint import load_checkpoint

        cfg = self.cfg
        self.policy().save(run_dir / "policy.pt")
        methods = {"osqp": "osqp", "fixed": "fixed", "hand_rule": ActiveSetRule(), "learned": self.policy()}
        if cfg.report_shipped:
            methods["shipped"] = pretrained()
        best = run_dir / "checkpoints" / "best.pt"
        if best.is_file():
            methods["best"] = self.policy(load_checkpoint(best)["policy"]["modules"]["learner.actor"])
            methods["best"].save(run_dir / "policy_best.pt")
        sets = {"test": self._held_out(self.seed + TEST_SEED, cfg.report_per_class or cfg.eval_per_class)}
        if cfg.report_larger_per_class:
            sets["larger"] = larger_problems(cfg.report_larger_per_class, self.seed + TEST_SEED + 1)
        if cfg.report_maros_meszaros:
            sets["maros_meszaros"] = maros_meszaros(cfg.report_maros_meszaros, cfg.report_mm_max)
        lines, numbers = [], {}
        judged = "best" if "best" in methods else "learned"
        for name, problems in sets.items():
            results = solve_all(problems, methods, self.solve_settings())
            classes = per_class(problems, results, self.env.K, self.env.settings.check_termination)
            numbers[name] = {method: r["iterations"] for method, r in results.items()}
            pooled = classes.get("all") or next(iter(classes.values()))
            numbers[name]["floor"] = pooled["floor"]["mean"]
            numbers[f"{name}_classes"] = classes
            numbers[f"{name}_counts"] = {m: class_counts(classes, m) for m in ("learned", judged)}
            lines += table(problems, results, f"{name} problems")
            lines += [f"Per class against OSQP and the floor ({judged} policy; the floor: the first "
                      f"{self.env.K} iterations run at OSQP's default rho, checks every "
                      f"{self.env.settings.check_termination}):", "", *ratio_table(classes, judged)]
            if name == "test":
                lines = [headline(results, len(problems)), "", *lines]
                plot_comparison(problems, results, run_dir / "comparison.png",
                                f"rho strategies on {len(problems)} fresh QPs of the training classes")
        (run_dir / "comparison.md").write_text("\n".join(lines) + "\n")
        (run_dir / "comparison.json").write_text(json.dumps(numbers, indent=1))
        print("\n".join(lines))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: the TD3 learner, the row replay, the counters, the
        episodes of the round not yet stored, the seed (it names the training problems) and the
        agent's torch stream."""
        return {"learner": self.learner.state_dict(), "buffer": self.buffer.state_dict(),
                "episodes": self.episodes, "env_steps": self.env_steps, "grad_steps": self.grad_steps,
                "update_debt": self.update_debt, "torch_stream": self.torch_stream.state_dict(),
                "pending": [ep.state() for ep in self.pending], "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        self.learner.load_state_dict(state["learner"])
        self.buffer.load_state_dict(state["buffer"])
        self.episodes = int(state["episodes"])
        self.env_steps, self.grad_steps = int(state["env_steps"]), int(state["grad_steps"])
        self.update_debt = float(state["update_debt"])
        self.torch_stream.load_state_dict(state["torch_stream"])
        self.pending = [Episode(**ep) for ep in state["pending"]]
        if int(state["seed"]) != self.seed:      # the training and evaluation problems follow the seed
            self.seed = int(state["seed"])
            self.eval_set = self._held_out(self.seed + EVAL_SEED_OFFSET, self.cfg.eval_per_class)
            self._osqp_eval = None
