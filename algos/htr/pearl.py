"""PEARL (Rakelly et al. 2019, oyster) with optional Hindsight Task Relabelling (Packer et al. 2021).

Networks (oyster): context encoder (algos/htr/encoder.py), tanh-Gaussian policy pi(a|s, z), twin
Q(s, a, z), V(s, z) and a Polyak target V'. One gradient step over a meta-batch of tasks i with
context c_i ~ encoder buffer, z_i ~ q(z|c_i), and an RL batch (s, a, r, s') ~ RL buffer:

    L_KL = kl_lambda sum_i KL(q(z|c_i) || N(0, I))                           (encoder only)
    L_Q  = sum_j E[(Q_j(s, a, z) - (reward_scale r + gamma (1 - d) V'(s', z)))^2]   (Q and encoder)
    L_V  = E[(V(s, z~) - (min_j Q_j(s, a~, z~) - log pi(a~|s, z~)))^2],   a~ ~ pi(.|s, z~)
    L_pi = E[log pi(a~|s, z~) - min_j Q_j(s, a~, z~)] + 1e-3 E[mu^2] + 1e-3 E[log sigma^2]

z~ is z detached: the encoder learns from L_KL + L_Q only. The temperature is fixed at 1 (reward_scale
plays 1/alpha). ``context_reward`` and ``critic_reward`` choose which reward (sparse | dense) the
encoder and the critic see: oyster's "sparse point robot" is context=sparse, critic=dense (a dense
proxy during meta-training); PEARL-sparse and HTR use sparse for both. ``relabel_prob`` > 0 turns on
HTR in the sampler (algos/htr/relabel.py).

``train_step()`` = one meta-training iteration: data collection for ``num_tasks_sample`` tasks (all of
them stepped together as one batch of envs), then ``num_train_steps_per_itr`` gradient steps.
``evaluate()`` = the meta-test protocol: per test task and run, ``num_steps_per_eval`` steps with the
deterministic policy while accumulating online context; a fresh z for every trajectory, from the
prior for the first ``num_exp_traj_eval`` trajectories, then from q(z | all context so far) (oyster's
``collect_paths``: ``sample_z`` after every trajectory, ``infer_posterior`` once the exploration
trajectories are done); the score is the LAST trajectory's return (oyster's
AverageReturn_all_test_tasks).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rlkit.agent import Agent
from rlkit.algos.htr import relabel
from rlkit.algos.htr.buffer import MultiTaskBuffer
from rlkit.algos.htr.encoder import ContextEncoder, kl_to_standard_normal
from rlkit.config import check, check_positive
from rlkit.env_spec import EnvLike, env_factory
from rlkit.nn import MLP, EnsembleMLP
from rlkit.nn.ensemble import EnsembleLinear
from rlkit.nn.optim import adam
from rlkit.rl.common import ActionScaler, polyak_update
from rlkit.rl.sac import SquashedGaussianActor
from rlkit.seeding import eval_seed, own_torch_rng

REWARD_KINDS = ("sparse", "dense")


@dataclass
class PEARLConfig:
    """Defaults: oyster's ``sparse-point-robot.json`` over ``configs/default.py``; HTR keys off."""

    latent_dim: int = 5
    net_size: int = 300                  # width of the hidden layers of pi, Q, V
    net_layers: int = 3
    encoder_hidden: tuple[int, ...] = (200, 200, 200)
    meta_batch: int = 16
    num_initial_steps: int = 200
    num_tasks_sample: int = 10
    num_steps_prior: int = 100
    num_steps_posterior: int = 900
    num_extra_rl_steps_posterior: int = 0
    num_train_steps_per_itr: int = 1000
    batch_size: int = 256
    embedding_batch_size: int = 1024
    discount: float = 0.9
    reward_scale: float = 100.0
    kl_lambda: float = 1.0
    lr: float = 3e-4
    soft_target_tau: float = 0.005
    policy_mean_reg: float = 1e-3
    policy_std_reg: float = 1e-3
    use_next_obs_in_context: bool = False
    update_post_train: int = 1           # trajectories between posterior updates while collecting
    num_exp_traj_eval: int = 5
    num_steps_per_eval: int = 400
    buffer_size: int = 100_000           # per task (oyster: 1e6; the point robot never needs > 1e5)
    context_reward: str = "sparse"       # reward the encoder sees
    critic_reward: str = "dense"         # reward the critic sees (oyster's sparse point robot: dense)
    relabel_prob: float = 0.0            # HTR: probability of relabelling a meta-batch slot
    relabel_strategy: str = "ser"        # ser | ec
    hindsight: str = "train_tasks"       # train_tasks | visited (HER-style, non-default)
    ec_pool: int = 64                    # candidate episodes per EC slot (ours)
    eager_relabel: bool = False          # relabel at collection time instead of in the sampler

    def __post_init__(self) -> None:
        self.encoder_hidden = tuple(self.encoder_hidden)
        check_positive(self, "latent_dim", "net_size", "net_layers", "meta_batch", "num_tasks_sample",
                       "batch_size", "embedding_batch_size", "num_train_steps_per_itr", "num_steps_per_eval",
                       "buffer_size")
        for key in ("context_reward", "critic_reward"):
            check(getattr(self, key) in REWARD_KINDS, key, getattr(self, key), "must be sparse or dense")
        check(0 <= self.relabel_prob <= 1, "relabel_prob", self.relabel_prob, "must be in [0, 1]")
        check(self.relabel_strategy in ("ser", "ec"), "relabel_strategy", self.relabel_strategy,
              "must be ser or ec")
        check(self.hindsight in ("train_tasks", "visited"), "hindsight", self.hindsight,
              "must be train_tasks or visited")
        check(0 < self.discount <= 1, "discount", self.discount, "must be in (0, 1]")


def oyster_init(mlp: nn.Module) -> None:
    """rlkit's init: hidden weights U(+-1/sqrt(size(0))) (rlkit's fan-in quirk: the OUTPUT size),
    biases 0.1; last layer weights and bias U(+-3e-3). Ensemble layers (weight [E, in, out]) get the
    same per member (the twin Q networks)."""
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear | EnsembleLinear)]
    with torch.no_grad():
        for lin in linears[:-1]:
            out_size = lin.weight.shape[0] if isinstance(lin, nn.Linear) else lin.weight.shape[2]
            bound = 1.0 / math.sqrt(out_size)
            lin.weight.uniform_(-bound, bound)
            lin.bias.fill_(0.1)
        linears[-1].weight.uniform_(-3e-3, 3e-3)
        linears[-1].bias.uniform_(-3e-3, 3e-3)


class PEARL(Agent):
    """Meta-training and meta-testing on a task env (``set_task``, ``batch``, pure ``reward``)."""

    config_class = PEARLConfig
    env: Any                       # a meta-RL task env (duck-typed: train_tasks, batch, reward, ...)

    @own_torch_rng
    def __init__(self, cfg: PEARLConfig, env: EnvLike, *, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.cfg, self.device, self.seed = cfg, torch.device(device), seed
        self.env = env_factory(env)().unwrapped          # a meta-RL task env (module docstring)
        for attr in ("train_tasks", "test_tasks", "batch", "reward", "task_goal", "achieved"):
            if not hasattr(self.env, attr):
                raise TypeError(f"PEARL needs a meta-RL task env with `{attr}` (see envs/point_robot.py)")
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        self.act_dim = int(np.prod(self.env.action_space.shape))
        self.horizon = int(self.env.max_steps)
        self.scaler = ActionScaler(self.env.action_space)      # oyster's NormalizedBoxEnv
        self.train_goals = torch.as_tensor(self.env.task_goal(self.env.train_tasks), dtype=torch.float32)
        self._build_networks()
        fields = {"obs": (self.obs_dim,), "action": (self.act_dim,), "next_obs": (self.obs_dim,),
                  "reward_sparse": (), "reward_dense": (), "done": ()}
        n = len(self.env.train_tasks)
        self.rl_buffer = MultiTaskBuffer(n, fields, cfg.buffer_size, seed=seed)
        self.enc_buffer = MultiTaskBuffer(n, fields, cfg.buffer_size, seed=seed + 7919)
        self.iteration, self.env_steps = 0, 0

    def _build_networks(self) -> None:
        cfg, L, h = self.cfg, self.cfg.latent_dim, (self.cfg.net_size,) * self.cfg.net_layers
        ctx_dim = self.obs_dim + self.act_dim + 1 + (self.obs_dim if cfg.use_next_obs_in_context else 0)
        self.encoder = ContextEncoder(ctx_dim, L, cfg.encoder_hidden).to(self.device)
        self.policy = SquashedGaussianActor(self.obs_dim + L, self.act_dim, h, log_std_bounds=(-20.0, 2.0))
        self.qf = EnsembleMLP(2, self.obs_dim + self.act_dim + L, 1, h)
        self.vf = MLP(self.obs_dim + L, 1, h)
        for net in (self.encoder.net, self.policy.net, self.qf, self.vf):
            oyster_init(net)
        self.policy = self.policy.to(self.device)
        self.qf = self.qf.to(self.device)
        self.vf = self.vf.to(self.device)
        self.vf_target = copy.deepcopy(self.vf).requires_grad_(False)
        self.optims = {name: adam(net.parameters(), lr=cfg.lr)
                       for name, net in (("encoder", self.encoder), ("policy", self.policy), ("qf", self.qf),
                                         ("vf", self.vf))}

    # ------------------------------------------------------------------ context and z
    def context_tensor(self, batch: dict[str, torch.Tensor], reward: torch.Tensor) -> torch.Tensor:
        """c = (s, a, r) or (s, a, r, s') along the last dimension."""
        parts = [batch["obs"], batch["action"], reward.unsqueeze(-1)]
        if self.cfg.use_next_obs_in_context:
            parts.append(batch["next_obs"])
        return torch.cat(parts, -1)

    def sample_z(self, mu: torch.Tensor, var: torch.Tensor, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """z ~ N(mu, var), from the training generator unless ``generator`` is given."""
        return mu + var.sqrt() * torch.randn(mu.shape, generator=generator or self.gen).to(mu)

    def posterior_from_buffer(self, tasks: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, var) of q(z | a context batch of each task's encoder buffer), each [len(tasks), L]."""
        batch = self.enc_buffer.sample(tasks, self.cfg.embedding_batch_size)
        b = {k: v.to(self.device) for k, v in batch.items()}
        with torch.no_grad():
            return self.encoder(self.context_tensor(b, b[f"reward_{self.cfg.context_reward}"]))

    # ------------------------------------------------------------------ rollouts
    @torch.no_grad()
    def rollout(self, tasks: list[int], z: torch.Tensor, deterministic: bool) -> dict[str, torch.Tensor]:
        """One trajectory per task, all tasks stepped together: fields [N, H, ...]."""
        envs = self.env.batch(tasks)
        obs = envs.reset()
        steps: dict[str, list] = {k: [] for k in ("obs", "action", "next_obs", "reward_sparse", "reward_dense",
                                                  "done", "success")}
        for _ in range(self.horizon):
            o = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            x = torch.cat([o, z], -1)
            action = torch.tanh(self.policy(x)[0]) if deterministic else self.policy.sample(x)[0]
            out = envs.step(self.scaler.to_env(action.cpu().numpy()))
            steps["obs"].append(obs)
            steps["action"].append(action.cpu().numpy())
            for k in ("next_obs", "reward_sparse", "reward_dense", "done", "success"):
                steps[k].append(out[k])
            obs = out["next_obs"]
        return {k: torch.as_tensor(np.stack(v, 1), dtype=torch.float32) for k, v in steps.items()}

    def _store(self, tasks: list[int], traj: dict[str, torch.Tensor], encoder_too: bool) -> None:
        for i, task in enumerate(tasks):
            episode = {k: v[i] for k, v in traj.items() if k != "success"}
            self.rl_buffer.add_episode(task, episode)
            if encoder_too:
                self.enc_buffer.add_episode(task, episode)
            if self.cfg.eager_relabel and self.rng.random() < self.cfg.relabel_prob:
                self._store_eager(episode)
        self.env_steps += traj["obs"].shape[0] * traj["obs"].shape[1]

    def _store_eager(self, episode: dict[str, torch.Tensor]) -> None:
        """Eager HTR: a copy relabelled to a solved train task goes into that task's buffers."""
        hits = relabel.solved_tasks(episode["next_obs"], self.train_goals, self.env.reward)
        if len(hits) == 0:
            return
        j = int(hits[int(self.rng.integers(len(hits)))])
        goal = self.train_goals[j]
        copy_ = dict(episode)
        for kind in REWARD_KINDS:
            copy_[f"reward_{kind}"] = self.env.reward(episode["next_obs"], goal, kind).float()
        self.rl_buffer.add_episode(j, copy_)
        self.enc_buffer.add_episode(j, copy_)

    def collect(self, tasks: list[int], steps: int, posterior: bool, encoder_too: bool) -> None:
        """Whole trajectories until >= ``steps`` per task, z resampled for every trajectory (oyster's
        ``collect_data`` with ``resample_z_rate`` 1): from the prior, or (``posterior``) from the prior
        for the first ``update_post_train`` trajectories and then from q(z|c), c re-drawn from the
        encoder buffer every ``update_post_train`` trajectories (oyster starts every collection from
        ``clear_z``, the prior)."""
        n_traj = math.ceil(steps / self.horizon)
        mu = torch.zeros(len(tasks), self.cfg.latent_dim, device=self.device)
        var = torch.ones_like(mu)
        for k in range(n_traj):
            if posterior and k > 0 and k % self.cfg.update_post_train == 0:
                mu, var = self.posterior_from_buffer(tasks)
            z = self.sample_z(mu, var)
            self._store(tasks, self.rollout(tasks, z, deterministic=False), encoder_too)

    # ------------------------------------------------------------------ meta-batch sampling
    def sample_meta_batch(self) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, float]]:
        """Context [T, C, ctx_dim] and RL batch [T, B, ...] (reward = the critic's kind); HTR slots
        are relabelled here (lazy relabelling)."""
        cfg = self.cfg
        tasks = [int(t) for t in self.rng.integers(len(self.env.train_tasks), size=cfg.meta_batch)]
        ctx = self.enc_buffer.sample(tasks, cfg.embedding_batch_size)
        rl = self.rl_buffer.sample(tasks, cfg.batch_size)
        ctx["reward"], rl["reward"] = ctx[f"reward_{cfg.context_reward}"], rl[f"reward_{cfg.critic_reward}"]
        relabelled = 0
        if cfg.relabel_prob > 0 and not cfg.eager_relabel:
            for i, task in enumerate(tasks):
                if self.rng.random() < cfg.relabel_prob:
                    slot = self._relabel_slot(task)
                    if slot is not None:
                        relabelled += 1
                        for k in ("obs", "action", "next_obs", "reward", "done"):
                            ctx[k][i], rl[k][i] = slot[0][k], slot[1][k]
        context = self.context_tensor(ctx, ctx["reward"])
        stats = {"htr/relabelled_slots": relabelled / cfg.meta_batch,
                 "htr/context_reward_positive": float((ctx["reward"] > 0).float().mean()),
                 "htr/rl_reward_positive": float((rl["reward"] > 0).float().mean())}
        return context.to(self.device), {k: v.to(self.device) for k, v in rl.items()}, stats

    def _relabel_slot(self, task: int):
        cfg = self.cfg
        buf = self.rl_buffer.buffers[task]
        episode = buf.episode(int(self.rng.integers(buf.num_episodes)))
        goal = relabel.propose_goal(episode, self.train_goals, self.env.reward, self.env.achieved,
                                    cfg.hindsight, self.gen)
        if goal is None:
            return None
        source = episode
        if cfg.relabel_strategy == "ec":
            pool = []
            for _ in range(cfg.ec_pool):
                b = self.rl_buffer.buffers[int(self.rng.integers(len(self.env.train_tasks)))]
                pool.append(b.episode(int(self.rng.integers(b.num_episodes))))
            source = relabel.cluster(episode, pool, goal, self.env.reward)
        ctx = relabel.with_rewards(relabel.draw(source, cfg.embedding_batch_size, self.gen), goal,
                                   self.env.reward, cfg.context_reward)
        rl = relabel.with_rewards(relabel.draw(source, cfg.batch_size, self.gen), goal, self.env.reward,
                                  cfg.critic_reward)
        return ctx, rl

    # ------------------------------------------------------------------ gradient step
    def update(self, context: torch.Tensor, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """One gradient step of the module docstring's losses on a meta-batch."""
        cfg = self.cfg
        T, B = b["obs"].shape[:2]
        mu, var = self.encoder(context)
        z = self.sample_z(mu, var)                                           # [T, L]
        zb = z.unsqueeze(1).expand(T, B, -1).reshape(T * B, -1)
        flat = {k: v.reshape(T * B, -1) if v.dim() > 2 else v.reshape(T * B) for k, v in b.items()}
        obs, act, nxt = flat["obs"], flat["action"], flat["next_obs"]
        z_det = zb.detach()
        new_act, log_pi, pre_mu, log_std = self.policy.rsample(torch.cat([obs, z_det], -1))
        # encoder + critic
        kl = kl_to_standard_normal(mu, var).sum()
        with torch.no_grad():
            target_v = self.vf_target(torch.cat([nxt, zb], -1)).squeeze(-1)
            q_target = cfg.reward_scale * flat["reward"] + (1.0 - flat["done"]) * cfg.discount * target_v
        q = self.qf(torch.cat([obs, act, zb], -1)).squeeze(-1)               # [2, T*B]
        q_loss = ((q - q_target) ** 2).mean(1).sum()
        for name in ("encoder", "qf"):
            self.optims[name].zero_grad(set_to_none=True)
        (cfg.kl_lambda * kl + q_loss).backward()
        self.optims["qf"].step()
        self.optims["encoder"].step()
        # value: target min_j Q_j(s, a~, z~) - log pi(a~|s, z~), with the updated critics
        min_q_new = self.qf(torch.cat([obs, new_act, z_det], -1)).squeeze(-1).min(0).values
        v = self.vf(torch.cat([obs, z_det], -1)).squeeze(-1)
        v_loss = ((v - (min_q_new - log_pi).detach()) ** 2).mean()
        self.optims["vf"].zero_grad(set_to_none=True)
        v_loss.backward()
        self.optims["vf"].step()
        polyak_update(self.vf_target, self.vf, cfg.soft_target_tau)
        # policy
        pi_loss = ((log_pi - min_q_new).mean() + cfg.policy_mean_reg * (pre_mu**2).mean()
                   + cfg.policy_std_reg * (log_std**2).mean())
        self.optims["policy"].zero_grad(set_to_none=True)
        pi_loss.backward()
        self.optims["policy"].step()
        return {"loss/kl": kl.item(), "loss/q": q_loss.item(), "loss/v": v_loss.item(),
                "loss/policy": pi_loss.item(), "stats/q": q.mean().item(), "stats/log_pi": log_pi.mean().item()}

    # ------------------------------------------------------------------ Algorithm contract
    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One meta-training iteration (collection, then ``num_train_steps_per_itr`` gradient steps);
        counters ``train/env_steps`` and ``train/grad_steps`` (meta-gradient steps)."""
        cfg = self.cfg
        if self.iteration == 0:                      # every train task: prior-z data for both buffers
            self.collect(list(range(len(self.env.train_tasks))), cfg.num_initial_steps, False, True)
        tasks = [int(t) for t in self.rng.integers(len(self.env.train_tasks), size=cfg.num_tasks_sample)]
        for t in set(tasks):
            self.enc_buffer.clear(t)
        if cfg.num_steps_prior:
            self.collect(tasks, cfg.num_steps_prior, False, True)
        if cfg.num_steps_posterior:
            self.collect(tasks, cfg.num_steps_posterior, True, True)
        if cfg.num_extra_rl_steps_posterior:
            self.collect(tasks, cfg.num_extra_rl_steps_posterior, True, False)
        stats: dict[str, list[float]] = {}
        for _ in range(cfg.num_train_steps_per_itr):
            context, batch, sample_stats = self.sample_meta_batch()
            out = self.update(context, batch) | sample_stats
            for k, v in out.items():
                stats.setdefault(k, []).append(v)
        self.iteration += 1
        metrics = {k: float(np.mean(v)) for k, v in stats.items()}
        if not all(math.isfinite(v) for v in metrics.values()):
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            raise FloatingPointError(f"PEARL losses {bad} are not finite at iteration {self.iteration}; "
                                     "lower lr or reward_scale")
        metrics["train/env_steps"] = float(self.env_steps)
        metrics["train/grad_steps"] = float(self.iteration * cfg.num_train_steps_per_itr)
        return metrics

    @torch.no_grad()
    def meta_test(self, tasks: list[int], runs: int, seed: int | None = None) -> dict[str, np.ndarray]:
        """The meta-test protocol of the module docstring for every (task, run), batched; z draws
        come from a generator seeded by ``seed`` (default: ``rlkit.seeding.eval_seed``).

        Returns per (task, run) [N] arrays: the last trajectory's return (``context_reward`` kind),
        its success, the return of the first trajectory (prior z, before any adaptation), and the
        success rate of the trajectories after the exploration ones (posterior z)."""
        cfg = self.cfg
        gen = torch.Generator().manual_seed(eval_seed(self.seed, seed))
        all_tasks = [t for t in tasks for _ in range(runs)]
        mu = torch.zeros(len(all_tasks), cfg.latent_dim, device=self.device)
        var = torch.ones_like(mu)
        contexts: list[torch.Tensor] = []
        n_traj = math.ceil(cfg.num_steps_per_eval / self.horizon)
        returns, successes = [], []
        for k in range(n_traj):
            z = self.sample_z(mu, var, gen)              # oyster: sample_z after every trajectory
            traj = self.rollout(all_tasks, z, deterministic=True)
            reward = traj[f"reward_{cfg.context_reward}"]
            contexts.append(self.context_tensor(traj, reward))
            returns.append(reward.sum(1))
            successes.append(traj["success"].max(1).values)
            if k + 1 >= cfg.num_exp_traj_eval:            # infer_posterior on all context so far
                mu, var = self.encoder(torch.cat(contexts, 1).to(self.device))
        post = successes[cfg.num_exp_traj_eval:] or successes[-1:]
        return {"return": returns[-1].numpy(), "success": successes[-1].numpy(),
                "first_return": returns[0].numpy(), "post_success": torch.stack(post).mean(0).numpy()}

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """Meta-test on the test tasks with ``episodes`` runs per task (oyster's num_evals), and
        one run on as many train tasks; z draws seeded by ``seed`` (default: ``eval_seed``)."""
        base = eval_seed(self.seed, seed)
        test = self.meta_test(list(self.env.test_tasks), max(episodes, 1), base)
        train = self.meta_test(list(self.env.train_tasks)[: len(self.env.test_tasks)], 1, base + 1)
        return {"eval/return": float(test["return"].mean()), "eval/success": float(test["success"].mean()),
                "eval/post_exploration_success": float(test["post_success"].mean()),
                "eval/first_return": float(test["first_return"].mean()),
                "eval/length": float(self.horizon), "eval/train_tasks_return": float(train["return"].mean())}

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Action for ``obs`` with z from the prior mean (no context): z = 0."""
        o = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        single = o.dim() == 1
        o = o.reshape(-1, self.obs_dim)
        x = torch.cat([o, torch.zeros(len(o), self.cfg.latent_dim, device=self.device)], -1)
        with torch.no_grad():
            a = torch.tanh(self.policy(x)[0]) if deterministic else self.policy.sample(x)[0]
        action = a.cpu().numpy()
        return action[0] if single else action

    def _modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "policy": self.policy, "qf": self.qf, "vf": self.vf,
                "vf_target": self.vf_target}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: networks, optimizers, the RL and encoder buffers, the
        counters, the generators and the agent's torch stream."""
        from rlkit.seeding import generator_state

        return {**{k: m.state_dict() for k, m in self._modules().items()},
                "optims": {k: o.state_dict() for k, o in self.optims.items()},
                "rl_buffer": self.rl_buffer.state_dict(), "enc_buffer": self.enc_buffer.state_dict(),
                "iteration": self.iteration, "env_steps": self.env_steps,
                "rng": generator_state(self.rng), "gen": self.gen.get_state(),
                "torch_stream": self.torch_stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        from rlkit.seeding import set_generator_state

        for k, m in self._modules().items():
            m.load_state_dict(state[k])
        for k, o in self.optims.items():
            o.load_state_dict(state["optims"][k])
        self.rl_buffer.load_state_dict(state["rl_buffer"])
        self.enc_buffer.load_state_dict(state["enc_buffer"])
        self.iteration, self.env_steps = int(state["iteration"]), int(state["env_steps"])
        set_generator_state(self.rng, state["rng"])
        self.gen.set_state(state["gen"])
        self.torch_stream.load_state_dict(state["torch_stream"])
