"""LS3 (Wilcox et al., CoRL 2021): latent-space safe sets for long-horizon visuomotor control.

Stages (LS3 paper Alg. 1; official ``latent-space-safe-sets``), each resumable after a kill (files under
``<run_dir>/ls3/``, or under ``stage_dir`` to share them across runs, e.g. the arms of an ablation;
``dataset`` / ``vae_checkpoint`` name single files to reuse):

1. offline data from the scripted teachers (``dataset.npz``);
2. the VAE, trained on every offline image, then frozen (``vae.pt``, saved every
   ``stage_checkpoint_every`` iterations);
3. the latent replay: each image becomes its posterior (mu, log_std), trajectories shuffled;
4. pretraining of dynamics, value (Monte-Carlo, then TD), safe set, constraint and goal models
   (``modules.pt``, saved every ``stage_checkpoint_every`` gradient steps);
5. online: ``train_step`` is one episode with the CEM planner; after every ``episodes_per_iter``
   episodes every latent model gets its fixed number of updates (the VAE never).

The run's own checkpoint (the runner's ``last.pt``) holds everything after stage 5 starts.
Diagnostics (navigation only; :mod:`rlkit.algos.ls3.oracle`): ``latent="state"`` replaces the VAE's
latent by the true position (no VAE is trained); ``dynamics_model`` / ``value_model`` /
``safe_set_model`` = ``"oracle"`` give the planner the ground truth in place of that learned part.
Defaults are the official code's with the navigation README overrides (H = 5,
gamma_S = 0.3); conf/algo/ls3.yaml and the ``ls3_*`` presets set the others.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch

from rlkit.agent import Agent
from rlkit.algos.ls3.data import collect_offline, load_dataset, random_crops, save_dataset
from rlkit.algos.ls3.models import (
    DynamicsEnsemble,
    LatentClassifier,
    LatentReplay,
    SafeSet,
    ValueEnsemble,
    trajectory_labels,
)
from rlkit.algos.ls3.oracle import STATE_LOG_STD, NavigationOracle, image_latent_table, state_latent
from rlkit.algos.ls3.planner import PlannerConfig, SafeSetCEM
from rlkit.algos.ls3.vae import VAE
from rlkit.checkpoint import load_checkpoint, save_checkpoint
from rlkit.config import ConfigError, check, check_positive
from rlkit.env_spec import EnvLike, env_factory, eval_env_factory
from rlkit.envs.ls3_navigation import NavigationEnv
from rlkit.logging import Progress
from rlkit.nn.optim import adam
from rlkit.seeding import eval_seed, own_torch_rng


@dataclass
class LS3Config(PlannerConfig):
    """Official defaults (``latentsafesets/utils/arg_parser.py``); planner keys are :class:`PlannerConfig`'s."""

    # offline data and VAE
    n_demos: int = 50
    n_constraint: int = 50
    n_random: int = 0                 # reacher: 100 random-walk episodes of ``random_horizon`` steps
    random_horizon: int = 20
    dataset: str | None = None
    latent_dim: int = 32
    vae_arch: str = "ls3"
    vae_beta: float = 1e-6
    vae_lr: float = 1e-4
    vae_batch: int = 256
    vae_iters: int = 100_000
    enc_data_aug: bool = True
    vae_checkpoint: str | None = None
    latent: str = "image"             # image (LS3) | state (diagnostic: z = the true position)
    stage_dir: str | None = None      # where the stage files go (default <run_dir>/ls3)
    # latent models
    buffer_size: int = 35_000
    batch_size: int = 256
    dyn_members: int = 5
    dyn_hidden: tuple[int, ...] = (128, 128)
    dyn_lr: float = 1e-3
    val_members: int = 5
    val_hidden: tuple[int, ...] = (200, 200, 200)
    val_lr: float = 1e-4
    gamma: float = 0.99
    target_every: int = 100
    head_hidden: tuple[int, ...] = (200, 200, 200)
    head_lr: float = 1e-4
    safe_set_type: str = "bellman"
    safe_set_reduction: str = "max"
    safe_set_bellman_coef: float = 0.3
    value_targets: str = "per_member"     # official: own batch + own target per member; ensemble_mean: ours
    safe_set_target_init: str = "random"  # official: a random target net until update 100; copy: ours
    # update counts: pretraining, then per online iteration
    dyn_pretrain: int = 10_000
    val_mc_pretrain: int = 10_000
    val_td_pretrain: int = 10_000
    safe_pretrain: int = 10_000
    constr_pretrain: int = 10_000
    goal_pretrain: int = 10_000
    dyn_updates: int = 512
    val_updates: int = 2000
    safe_updates: int = 512
    constr_updates: int = 512
    goal_updates: int = 512
    episodes_per_iter: int = 10
    stage_checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        for name in ("dyn_hidden", "val_hidden", "head_hidden"):
            setattr(self, name, tuple(getattr(self, name)))
        check(self.safe_set_type in ("bellman", "bc"), "safe_set_type", self.safe_set_type,
              "must be bellman or bc")
        check(self.feasibility in ("score", "mask"), "feasibility", self.feasibility, "must be score or mask")
        check(self.value_targets in ("per_member", "ensemble_mean"), "value_targets", self.value_targets,
              "must be per_member (official) or ensemble_mean")
        check(self.safe_set_target_init in ("random", "copy"), "safe_set_target_init",
              self.safe_set_target_init, "must be random (official) or copy")
        check(self.sampling in ("per_step_member", "ts1"), "sampling", self.sampling,
              "must be per_step_member or ts1")
        check(self.latent in ("image", "state"), "latent", self.latent, "must be image (LS3) or state")
        for name in ("dynamics_model", "value_model", "safe_set_model"):
            value = getattr(self, name)
            check(value in ("learned", "oracle"), name, value, "must be learned or oracle")
        check(self.latent == "state" or self.dynamics_model == "oracle"
              or (self.value_model, self.safe_set_model) == ("learned", "learned"), "value_model",
              f"{self.value_model} (safe_set_model={self.safe_set_model})",
              "an oracle value or safe set needs the imagined positions: "
              "set dynamics_model=oracle or latent=state")
        check(self.elites <= self.population, "elites", self.elites, "must be <= population")
        check_positive(self, "population", "elites", "particles", "horizon", "iterations", "latent_dim",
                       "vae_batch", "batch_size", "episodes_per_iter", "buffer_size")

    def planner(self) -> PlannerConfig:
        return PlannerConfig(**{f.name: getattr(self, f.name) for f in fields(PlannerConfig)})

    @property
    def uses_oracle(self) -> bool:
        """Whether any ground-truth diagnostic is on (module docstring)."""
        models = (self.dynamics_model, self.value_model, self.safe_set_model)
        return self.latent == "state" or "oracle" in models


def to_float_images(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), device=device).float().div_(255.0)


class LS3(Agent):
    """LS3 on an image env with ``info["constraint"]``, ``info["state"]`` and teachers (module docstring)."""

    config_class = LS3Config

    @own_torch_rng
    def __init__(self, cfg: LS3Config, env: EnvLike, *, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.cfg, self.device, self.seed = cfg, torch.device(device), seed
        self.env = env_factory(env)()
        self.env.reset(seed=seed)
        shape = tuple(self.env.observation_space.shape or ())
        self.adim = int(np.prod(self.env.action_space.shape or ()))
        if cfg.uses_oracle and not isinstance(self.env.unwrapped, NavigationEnv):
            raise ValueError("algo.latent=state and algo.*_model=oracle are diagnostics of the navigation task "
                             "(env=ls3_navigation); set them back to image / learned")
        d = 2 if cfg.latent == "state" else cfg.latent_dim
        self.vae = VAE(cfg.latent_dim, shape[0], shape[-1], cfg.vae_arch, cfg.vae_beta).to(self.device)
        self.dynamics = DynamicsEnsemble(d, self.adim, cfg.dyn_members, cfg.dyn_hidden).to(self.device)
        self.value = ValueEnsemble(d, cfg.val_members, cfg.val_hidden, cfg.gamma,
                                   cfg.target_every, cfg.value_targets).to(self.device)
        self.safe_set = SafeSet(d, cfg.head_hidden, cfg.safe_set_bellman_coef, cfg.safe_set_type,
                                cfg.safe_set_reduction, cfg.target_every,
                                cfg.safe_set_target_init).to(self.device)
        self.constraint = LatentClassifier(d, "constraint", cfg.head_hidden).to(self.device)
        self.goal = LatentClassifier(d, "goal", cfg.head_hidden).to(self.device)
        lr = {"dynamics": cfg.dyn_lr, "value": cfg.val_lr, "safe_set": cfg.head_lr, "constraint": cfg.head_lr,
              "goal": cfg.head_lr}
        self.optims = {name: adam(getattr(self, name).parameters(), lr=lr[name]) for name in lr}
        self.vae_optim = adam(self.vae.parameters(), lr=cfg.vae_lr)
        self.replay = LatentReplay(d, self.adim, cfg.buffer_size, seed, self.device)
        self.planner = self._planner(seed)
        self.generator = torch.Generator().manual_seed(seed)
        # evaluation: its own env, and a planner whose generator each evaluation seeds afresh
        self.eval_env = eval_env_factory(env)()
        self.eval_planner = self._planner(eval_seed(seed, None))
        self.env_steps, self.grad_steps = 0, 0          # online env steps, online model updates
        self.run_dir: Path | None = None
        self.ready, self.episodes = False, 0

    def _planner(self, seed: int) -> SafeSetCEM:
        """A CEM planner over the shared models with its own generator."""
        space = cast(gym.spaces.Box, self.env.action_space)
        return SafeSetCEM(self.cfg.planner(), self.dynamics, self.value, self.safe_set, self.constraint,
                          self.goal, space.low, space.high, seed)

    # ------------------------------------------------------------------ stage files
    def set_run_dir(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def _stage_path(self, configured: str | None, name: str) -> Path | None:
        if configured:
            return Path(configured).expanduser()
        if self.cfg.stage_dir:
            return Path(self.cfg.stage_dir).expanduser() / name
        return None if self.run_dir is None else self.run_dir / "ls3" / name

    # ------------------------------------------------------------------ stage 1-3
    def offline_data(self) -> dict[str, np.ndarray]:
        path = self._stage_path(self.cfg.dataset, "dataset.npz")
        if path is not None and path.exists():
            data = load_dataset(path)
            if data["obs"].shape[1:] != self.env.observation_space.shape:
                raise ConfigError(f"LS3 dataset {path} holds images of shape {data['obs'].shape[1:]} but the "
                                  f"env renders {self.env.observation_space.shape}; point algo.dataset "
                                  "elsewhere or delete the file to re-collect")
            return data
        cfg = self.cfg
        counts = {"demo": cfg.n_demos, "constraint": cfg.n_constraint, "random": cfg.n_random}
        data = collect_offline(self.env, {k: n for k, n in counts.items() if n}, self.seed, cfg.random_horizon)
        if path is not None:
            save_dataset(path, data)
        return data

    def train_vae(self, images: np.ndarray) -> dict[str, float]:
        """Mean-MSE + beta KL on random offline images; ``enc_data_aug``: the input is a second
        random crop of the target crop (official ``enc_data_aug``). Resumes from its stage file."""
        cfg, path = self.cfg, self._stage_path(self.cfg.vae_checkpoint, "vae.pt")
        start = 0
        if path is not None and path.exists():
            state = load_checkpoint(path)
            try:
                self.vae.load_state_dict(state["vae"])
            except RuntimeError as err:
                raise ConfigError(f"VAE checkpoint {path} does not fit this VAE (latent_dim, vae_arch, image "
                                  f"size or channels differ): {err}") from err
            self.vae_optim.load_state_dict(state["optim"])
            start = int(state["iteration"])
        if cfg.vae_checkpoint:
            self._check_reused_vae(path, start)
        losses = {}
        progress = Progress(cfg.vae_iters, start, desc="ls3 vae", unit="iteration")
        for it in range(start, cfg.vae_iters):
            rows = torch.randint(len(images), (cfg.vae_batch,), generator=self.generator)
            target = random_crops(to_float_images(images[rows.numpy()], self.device), self.generator)
            x = random_crops(target, self.generator) if cfg.enc_data_aug else target
            out = self.vae.loss(x, target)
            self.vae_optim.zero_grad()
            out["loss"].backward()
            self.vae_optim.step()
            losses = {f"vae/{k}": float(v.detach()) for k, v in out.items()}
            if path is not None and ((it + 1) % cfg.stage_checkpoint_every == 0 or it + 1 == cfg.vae_iters):
                save_checkpoint({"vae": self.vae.state_dict(), "optim": self.vae_optim.state_dict(),
                                 "iteration": it + 1}, path)
            progress.update(it + 1)
        progress.close()
        self.vae.requires_grad_(False)
        return losses

    def _check_reused_vae(self, path: Path | None, trained: int) -> None:
        """``vae_checkpoint`` names a trained VAE to reuse, never one to train: runs that share it
        (the seeds of a sweep, in parallel) would otherwise all train into the same file."""
        cfg = self.cfg
        if path is None or not path.exists():
            raise ConfigError(f"algo.vae_checkpoint={cfg.vae_checkpoint} does not exist; train the VAE once "
                              "with algo.stage_dir=<folder> (it saves <folder>/vae.pt), or leave "
                              "algo.vae_checkpoint unset")
        if trained < cfg.vae_iters:
            raise ConfigError(f"algo.vae_checkpoint={cfg.vae_checkpoint} has trained {trained} of "
                              f"algo.vae_iters={cfg.vae_iters} iterations; finish it first (rerun the run that "
                              f"trains it) or set algo.vae_iters={trained} to use it as it is")

    @torch.no_grad()
    def encode(self, images: np.ndarray, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior (mu, log_std) of uint8 images [N, C, S, S]."""
        parts = [self.vae.encode(to_float_images(images[i:i + chunk], self.device))
                 for i in range(0, len(images), chunk)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def posterior(self, images: np.ndarray, positions: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log_std) of observations: the VAE's posterior of the images, or (``latent="state"``)
        the scaled true positions with a negligible std."""
        if self.cfg.latent == "image":
            return self.encode(images)
        if positions is None:
            raise ValueError("algo.latent=state needs the positions of the observations: the LS3 dataset was "
                             "collected without them; delete it (algo.dataset / the stage dir) to re-collect")
        mu = state_latent(positions).to(self.device)
        return mu, torch.full_like(mu, STATE_LOG_STD)

    def add_episode(self, ep: dict[str, Any], on_policy: float) -> None:
        """Latent rows of one episode with its safe-set labels and reward-to-go."""
        reward = torch.as_tensor(np.asarray(ep["reward"]), dtype=torch.float32, device=self.device)
        safe, rtg = trajectory_labels(reward)
        n = len(reward)
        self.replay.add({"mu": ep["mu"], "log_std": ep["log_std"], "next_mu": ep["next_mu"],
                         "next_log_std": ep["next_log_std"],
                         "action": torch.as_tensor(np.asarray(ep["action"])),
                         "reward": reward, "constraint": torch.as_tensor(np.asarray(ep["constraint"])),
                         "safe": safe, "rtg": rtg, "on_policy": torch.full((n,), on_policy),
                         "done": torch.as_tensor(np.asarray(ep["done"]))})

    def fill_replay(self, data: dict[str, np.ndarray]) -> None:
        mu, log_std = self.posterior(data["obs"], data.get("state"))
        next_mu, next_log_std = self.posterior(data["next_obs"], data.get("next_state"))
        episodes = np.unique(data["episode"])
        for e in episodes[np.random.default_rng(self.seed).permutation(len(episodes))]:
            rows = np.flatnonzero(data["episode"] == e)
            ep: dict[str, Any] = {k: data[k][rows] for k in ("action", "reward", "constraint", "done")}
            ep |= {"mu": mu[rows], "log_std": log_std[rows], "next_mu": next_mu[rows],
                   "next_log_std": next_log_std[rows]}
            self.add_episode(ep, float(data["on_policy"][rows[0]]))

    # ------------------------------------------------------------------ stage 4-5: model updates
    def update(self, name: str, steps: int) -> float:
        """``steps`` gradient steps on one latent model; returns its last loss."""
        cfg, loss = self.cfg, torch.tensor(float("nan"))
        key = "value" if name.startswith("value") else name
        model, optim = getattr(self, key), self.optims[key]
        for _ in range(steps):
            if name == "dynamics":
                loss = model.loss(self.replay.sample(cfg.batch_size, members=cfg.dyn_members))
            elif name.startswith("value"):
                loss = model.loss(self.replay.sample(cfg.batch_size, on_policy_only=True,
                                                     members=model.batch_members),
                                  "mc" if name == "value_mc" else "td")
            else:
                loss = model.loss(self.replay.sample(cfg.batch_size))
            optim.zero_grad()
            loss.backward()
            optim.step()
            if hasattr(model, "after_update"):
                model.after_update(model.net)
        return float(loss.detach())

    def pretrain(self) -> dict[str, float]:
        """Stage 4, in chunks of ``stage_checkpoint_every`` steps saved to ``modules.pt``."""
        cfg, path = self.cfg, self._stage_path(None, "modules.pt")
        plan = [("dynamics", cfg.dyn_pretrain), ("value_mc", cfg.val_mc_pretrain),
                ("value_td", cfg.val_td_pretrain), ("safe_set", cfg.safe_pretrain),
                ("constraint", cfg.constr_pretrain), ("goal", cfg.goal_pretrain)]
        done: dict[str, int] = {}
        if path is not None and path.exists():
            state = load_checkpoint(path)
            self.load_models(state["models"])
            done = state["done"]
        losses = {}
        progress = Progress(sum(t for _, t in plan), sum(done.values()), desc="ls3 pretrain", unit="update")
        for name, total in plan:
            while done.get(name, 0) < total:
                steps = min(cfg.stage_checkpoint_every, total - done.get(name, 0))
                losses[f"pretrain/{name}"] = self.update(name, steps)
                done[name] = done.get(name, 0) + steps
                if path is not None:
                    save_checkpoint({"models": self.models_state(), "done": done}, path)
                progress.update(sum(done.values()))
        progress.close()
        return losses

    @own_torch_rng
    def prepare(self) -> dict[str, float]:
        """Stages 1-4 (each skipped when its file says it is complete)."""
        data = self.offline_data()
        metrics = {}
        if self.cfg.latent == "image":
            metrics = self.train_vae(np.concatenate([data["obs"], data["next_obs"][data["done"] > 0]]))
        self.fill_replay(data)
        metrics |= self.pretrain()
        self.ready = True
        return metrics

    # ------------------------------------------------------------------ stage 5: online episodes
    def run_episode(self, store: bool, eval_reset: int | None = None,
                    eval_generator: torch.Generator | None = None) -> dict[str, float]:
        """One planner episode: a training episode, or (``eval_reset``, the reset seed) one in the
        evaluation env with the evaluation planner and the latent samples of ``eval_generator``."""
        if eval_reset is not None:
            env, planner, generator = self.eval_env, self.eval_planner, eval_generator
            obs, reset_info = env.reset(seed=eval_reset)
        else:
            env, planner, generator = self.env, self.planner, self.generator
            obs, reset_info = env.reset()
        if self.cfg.uses_oracle and planner.oracle is None:
            self.build_oracle()
        position = reset_info.get("state")
        mu, log_std = self.posterior(obs[None], None if position is None else position[None])
        keys = ("mu", "log_std", "next_mu", "next_log_std", "action", "reward", "constraint", "done")
        ep: dict[str, list] = {k: [] for k in keys}
        diag = {"relaxations": 0.0, "random_action": 0.0, "feasible": 0.0}
        done, success, progress = False, 0.0, []
        while not done:
            z = mu[0] + log_std[0].exp() * torch.randn(mu.shape[1], generator=generator).to(self.device)
            s0 = None
            if self.cfg.dynamics_model == "oracle":
                s0 = torch.as_tensor(position, dtype=torch.float32, device=self.device)
            action, info = planner.plan(z, s0)
            for k in diag:
                diag[k] += info[k]
            obs, reward, terminated, truncated, step_info = env.step(action)
            done = terminated or truncated
            success = max(success, float(step_info.get("success", 0.0)))
            position = step_info.get("next_state")
            next_mu, next_log_std = self.posterior(obs[None], None if position is None else position[None])
            if "progress" in step_info:
                progress.append(step_info["progress"])
            for k, v in (("mu", mu[0]), ("log_std", log_std[0]), ("next_mu", next_mu[0]),
                         ("next_log_std", next_log_std[0]), ("action", action), ("reward", reward),
                         ("constraint", step_info["constraint"]), ("done", float(done))):
                ep[k].append(v)
            mu, log_std = next_mu, next_log_std
        steps = len(ep["reward"])
        if store:
            latents = {k: torch.stack(v) for k, v in ep.items() if k.endswith(("mu", "std"))}
            self.add_episode(ep | latents, 1.0)
        out = {"return": float(np.sum(ep["reward"])), "constraint": float(max(ep["constraint"])),
               "success": success, "length": float(steps), "relaxations": diag["relaxations"],
               "random_actions": diag["random_action"], "feasible": diag["feasible"] / steps}
        if progress:        # navigation: where the episode ended, along the demos' route and in the world
            assert position is not None
            out |= {"progress": progress[-1], "max_progress": max(progress), "end_x": float(position[0]),
                    "end_y": float(position[1])}
        return out

    def build_oracle(self) -> None:
        """The navigation ground truth for the ``latent="state"`` / ``*_model="oracle"`` diagnostics; with
        the image latent, the posterior means of every integer position's image (the frozen VAE)."""
        table = None
        if self.cfg.latent == "image":
            env = cast(NavigationEnv, self.env.unwrapped)
            table = image_latent_table(lambda p: env.render_state(p, cache=False), lambda x: self.encode(x)[0])
        oracle = NavigationOracle(table, self.cfg.gamma, self.device)
        self.planner.oracle = self.eval_planner.oracle = oracle

    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One online episode (after stages 1-4 on the first call); updates every ``episodes_per_iter``.
        Counters: ``train/env_steps`` (online) and ``train/grad_steps`` (online model updates)."""
        metrics = {} if self.ready else self.prepare()
        out = self.run_episode(store=True)
        self.episodes += 1
        self.env_steps += int(out["length"])
        metrics |= {f"ls3/{k}": v for k, v in out.items()} | {"train/episode_return": out["return"]}
        if self.episodes % self.cfg.episodes_per_iter == 0:
            cfg = self.cfg
            for name, steps in (("dynamics", cfg.dyn_updates), ("value_td", cfg.val_updates),
                                ("safe_set", cfg.safe_updates), ("constraint", cfg.constr_updates),
                                ("goal", cfg.goal_updates)):
                metrics[f"loss/{name}"] = self.update(name, steps)
                self.grad_steps += steps
        return metrics | {"train/env_steps": float(self.env_steps), "train/grad_steps": float(self.grad_steps)}

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """Planner episodes in the evaluation env that are not stored (LS3 reports its online
        episodes; this is the same planner without learning from them). Episode k resets with
        ``seed + k``; the planner and the latent samples draw from generators seeded by ``seed``
        (default: ``rlkit.seeding.eval_seed``)."""
        if not self.ready:
            self.prepare()
        base = eval_seed(self.seed, seed)
        self.eval_planner.generator = torch.Generator().manual_seed(base)
        latents = torch.Generator().manual_seed(base + 1)
        runs = [self.run_episode(store=False, eval_reset=base + k, eval_generator=latents)
                for k in range(episodes)]
        mean = lambda k: float(np.mean([r[k] for r in runs]))
        out = {"eval/return": mean("return"), "eval/length": mean("length"), "eval/success": mean("success"),
               "eval/constraint": mean("constraint"), "eval/random_actions": mean("random_actions")}
        if "progress" in runs[0]:
            out |= {"eval/progress": mean("progress"), "eval/max_progress": mean("max_progress")}
        return out

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """The evaluation planner's first action from the posterior mean of one image [C, S, S] or
        of each image of a batch [N, C, S, S]."""
        if self.cfg.uses_oracle:
            raise ValueError("act() sees images only; the ground-truth diagnostics (algo.latent=state, "
                             "algo.*_model=oracle) run through train_step and evaluate")
        images = np.asarray(obs)
        single = images.ndim == 3
        mu, _ = self.encode(images[None] if single else images)
        actions = [self.eval_planner.plan(m)[0] for m in mu]
        return actions[0] if single else np.stack(actions)

    # ------------------------------------------------------------------ state
    MODELS = ("dynamics", "value", "safe_set", "constraint", "goal")

    def models_state(self) -> dict[str, Any]:
        out = {name: getattr(self, name).state_dict() for name in self.MODELS}
        out |= {f"{name}_optim": opt.state_dict() for name, opt in self.optims.items()}
        out |= {"value_target": self.value.target.state_dict(),
                "safe_set_target": self.safe_set.target.state_dict(),
                "target_updates": torch.tensor([self.value.updates, self.safe_set.updates])}
        return out | {"replay": self.replay.state_dict(), "generator": self.generator.get_state()}

    def load_models(self, state: dict[str, Any]) -> None:
        for name in self.MODELS:
            getattr(self, name).load_state_dict(state[name])
        for name, opt in self.optims.items():
            opt.load_state_dict(state[f"{name}_optim"])
        self.value.target.load_state_dict(state["value_target"])
        self.safe_set.target.load_state_dict(state["safe_set_target"])
        self.value.updates, self.safe_set.updates = (int(x) for x in state["target_updates"])
        self.replay.load_state_dict(state["replay"])
        self.generator.set_state(state["generator"])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: the latent models and their optimizers and targets, the
        latent replay, the frozen VAE, the stage flag, the counters, the training env and the agent's torch
        stream."""
        from rlkit.env_state import env_state

        return {"models": self.models_state(), "vae": self.vae.state_dict(), "ready": self.ready,
                "episodes": self.episodes, "planner_generator": self.planner.generator.get_state(),
                "env": env_state(self.env), "torch_stream": self.torch_stream.state_dict(),
                "counters": torch.tensor([self.env_steps, self.grad_steps])}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        from rlkit.env_state import load_env_state

        self.load_models(state["models"])
        self.vae.load_state_dict(state["vae"])
        self.vae.requires_grad_(False)
        self.ready, self.episodes = bool(state["ready"]), int(state["episodes"])
        self.planner.generator.set_state(state["planner_generator"])
        load_env_state(self.env, state["env"])
        self.torch_stream.load_state_dict(state["torch_stream"])
        self.env_steps, self.grad_steps = (int(x) for x in state["counters"])
