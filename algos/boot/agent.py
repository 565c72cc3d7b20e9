"""Bootstrapped Transformer (Wang et al., NeurIPS 2022, arXiv 2206.08569) and its baseline, the
Trajectory Transformer (Janner et al. 2021): BooT with ``bootstrap=False``.

``train_step`` = one real-data gradient step on ``batch_size`` windows, in shuffled epochs, then
(once bootstrapping has started, epoch >= ``generation_epoch_thresh * n_epochs``):

- ``once``: generate from the same batch, keep the most confident, one extra step on them;
- ``repeat``: add the kept sequences to a pool; at the start of every later epoch the first
  ``train_step`` runs one shuffled pass over the whole pool before its real batch.

Loss (TT): ``mean_{b,t} w_t CE(logits_bt, y_bt) mask_bt`` with w = 1/5/1/1 for obs/action/reward/
reward-to-go. AdamW (0.9, 0.95), weight decay 0.1 on matrices only, clip 1.0. Learning rate from a
token counter (real batches only): linear warmup over one epoch of tokens, then cosine over
``final_epochs``; BooT drops straight to 0.1x at half the cosine (``lr_step_quirk``), TT floors the
cosine at 0.1x. Epochs: ``int(1e6 / len(windows) * n_epochs_ref)``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from rlkit.agent import Agent
from rlkit.algos.boot.data import TrajectoryWindows, trajectory_windows
from rlkit.algos.boot.generation import GenerationConfig, generate
from rlkit.algos.boot.model import TrajectoryGPT, trajectory_loss
from rlkit.algos.boot.planner import BeamPlanner, PlannerConfig, TokenFilters, rollout
from rlkit.checkpoint import plain
from rlkit.config import ConfigError
from rlkit.data import D4RL_REF_SCORES, load_dataset, normalized_score
from rlkit.env_spec import EnvLike, EnvSpec, eval_env_factory
from rlkit.logging import Progress
from rlkit.nn.optim import adamw
from rlkit.seeding import TorchRNGStream, eval_seed, own_torch_rng


@dataclass
class BooTConfig:
    """Official BooT defaults (``DEFAULT_ARGS`` of the official ``bootorl/utils/argparser.py``); TT's own are
    in ``conf/algo/tt.yaml``."""

    dataset: str | None = None           # overrides the env config's dataset
    # sequences
    n_bins: int = 100
    seq_len: int = 10                     # transitions per window
    discount: float = 0.99
    termination_penalty: float | None = -100.0
    # model (width = n_embd * n_head)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 32
    dropout: float = 0.1
    fused_attention: bool = True
    action_weight: float = 5.0
    reward_weight: float = 1.0
    value_weight: float = 1.0
    # optimisation
    batch_size: int = 256
    learning_rate: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    grad_norm_clip: float = 1.0
    lr_decay: bool = True
    lr_step_quirk: bool = True            # BooT: 0.1x once the cosine passes half; False: TT's floor
    warmup_epochs: float = 1.0
    final_epochs: float = 20.0
    n_epochs_ref: float = 50.0
    n_epochs: int | None = None           # ours: a fixed epoch count instead of 1e6/windows * n_epochs_ref
    # bootstrapping
    bootstrap: bool = True
    bootstrap_type: str = "once"          # once | repeat
    generation_type: str = "autoregressive"  # autoregressive | teacherforcing
    generation_epoch_thresh: float = 0.4
    generation_len: int = 1
    generation_num: int = 1
    generation_confidence_type: str = "ratio"  # ratio | thresh | none
    generation_confidence_factor: float = 0.04
    generation_real_r: bool = False
    generation_real_R: bool = False
    generation_dropout: bool = True       # official: generation runs in train mode (dropout on)
    generation_cache: bool = False        # ours: KV cache for autoregressive generation
    generation_unpadded_only: bool = False   # ours: generate from windows without stop padding only
    generation_reject_stop: bool = False     # ours: drop candidates that generate a stop token
    repeat_pool_cap: int | None = None    # our fix: keep at most this many generated sequences
    bootstrap_control: bool = False       # control arm: the extra step uses as many REAL windows
    # planning (flat for command-line overrides; the defaults are PlannerConfig's and TokenFilters')
    horizon: int = PlannerConfig.horizon
    beam_width: int = PlannerConfig.beam_width
    n_expand: int = PlannerConfig.n_expand
    k_obs: int | None = TokenFilters.k_obs
    k_act: int | None = TokenFilters.k_act
    k_rew: int | None = TokenFilters.k_rew
    cdf_obs: float | None = TokenFilters.cdf_obs
    cdf_act: float | None = TokenFilters.cdf_act
    cdf_rew: float | None = TokenFilters.cdf_rew
    max_context_transitions: int = PlannerConfig.max_context_transitions
    value_placeholder: float = PlannerConfig.value_placeholder
    plan_cache: bool = True
    eval_max_steps: int | None = None
    # evaluation (ours): held-out datasets whose NLL evaluate() reports, and generation checks
    heldout: dict[str, str] = field(default_factory=dict)           # name -> dataset source
    heldout_builders: dict[str, str] = field(default_factory=dict)  # name -> builder of a local: file
    eval_generation_batches: int = 0      # > 0: generated s_t against the data's s_t on this many batches
    eval_open_loop_steps: int = 5         # > 0: open-loop prediction error over this many transitions
    heldout_every: int = 0                # > 0: the held-out metrics every this many real-data steps too

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if self.bootstrap_type not in ("once", "repeat"):
            raise ConfigError(f"algo.bootstrap_type={self.bootstrap_type!r}; use once or repeat")
        if self.generation_type not in ("autoregressive", "ar", "teacherforcing", "tf"):
            raise ConfigError(f"algo.generation_type={self.generation_type!r}; "
                              "use autoregressive or teacherforcing")
        if self.generation_confidence_type not in ("ratio", "thresh", "none"):
            raise ConfigError(f"algo.generation_confidence_type={self.generation_confidence_type!r}; "
                              "use ratio, thresh or none")
        if not 1 <= self.generation_len < self.seq_len:
            raise ConfigError(f"algo.generation_len={self.generation_len} must be in [1, seq_len)")
        if not 0 <= self.eval_open_loop_steps < self.seq_len:
            raise ConfigError(f"algo.eval_open_loop_steps={self.eval_open_loop_steps} must be in [0, seq_len)")
        if self.heldout_every < 0:
            raise ConfigError(f"algo.heldout_every={self.heldout_every} must be >= 0 (0: only at evaluation)")
        for name in ("n_bins", "seq_len", "batch_size", "horizon", "beam_width", "n_expand",
                     "max_context_transitions", "generation_num"):
            if getattr(self, name) < 1:
                raise ConfigError(f"algo.{name}={getattr(self, name)} must be >= 1")

    def generation(self) -> GenerationConfig:
        return GenerationConfig(kind=self.generation_type, length=self.generation_len, num=self.generation_num,
                                confidence_type=self.generation_confidence_type,
                                confidence_factor=self.generation_confidence_factor,
                                real_r=self.generation_real_r, real_R=self.generation_real_R,
                                cache=self.generation_cache, unpadded_only=self.generation_unpadded_only,
                                reject_stop=self.generation_reject_stop)

    def planner(self) -> PlannerConfig:
        return PlannerConfig(horizon=self.horizon, beam_width=self.beam_width, n_expand=self.n_expand,
                             filters=TokenFilters(self.k_obs, self.k_act, self.k_rew, self.cdf_obs,
                                                  self.cdf_act, self.cdf_rew),
                             max_context_transitions=self.max_context_transitions, discount=self.discount,
                             value_placeholder=self.value_placeholder, cache=self.plan_cache)


def lr_multiplier(n_tokens: float, warmup: float, final: float, step_quirk: bool) -> float:
    """Linear warmup, then ``max(0.1, 0.5 (1 + cos(pi * progress)))``; BooT's quirk: 0.1 once
    ``progress > 0.5``."""
    if n_tokens < warmup:
        return n_tokens / max(1.0, warmup)
    progress = (n_tokens - warmup) / max(1.0, final - warmup)
    if step_quirk and progress > 0.5:
        return 0.1
    return max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))


class BooT(Agent):
    """Trains a :class:`TrajectoryGPT` on an offline dataset, with or without bootstrapping."""

    config_class = BooTConfig

    @own_torch_rng
    def __init__(self, cfg: BooTConfig, env: EnvLike, *, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.cfg, self.env, self.seed = cfg, env, seed
        self.device = torch.device(device)
        source = cfg.dataset or (env.dataset if isinstance(env, EnvSpec) else None)
        builder = env.dataset_builder if isinstance(env, EnvSpec) and not cfg.dataset else None
        if source is None:
            raise ConfigError("BooT needs a dataset: set env.dataset (conf/env/<name>.yaml) or "
                              "algo.dataset (d4rl:<name>, minari:<id>, local:<name> or a .hdf5 path)")
        self.source = source
        self.windows, self.discretizer = trajectory_windows(
            load_dataset(source, builder), cfg.n_bins, cfg.seq_len, cfg.discount, cfg.termination_penalty)
        data = self.windows
        D = data.transition_dim
        act_dim = self._act_dim(env, D)
        obs_dim = D - act_dim - 2
        self.model = TrajectoryGPT(obs_dim, act_dim, cfg.n_bins, cfg.seq_len * D - 1, cfg.n_layer, cfg.n_head,
                                   cfg.n_embd * cfg.n_head, cfg.dropout, cfg.fused_attention).to(self.device)
        self.weights = self.model.token_weights(cfg.action_weight, cfg.reward_weight, cfg.value_weight)
        self.optimizer = adamw(self.model.optimizer_groups(cfg.weight_decay), lr=cfg.learning_rate,
                                betas=cfg.betas)
        self.generator = torch.Generator().manual_seed(seed)
        self.sample_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        M = len(data)
        self.steps_per_epoch = math.ceil(M / cfg.batch_size)
        self.n_epochs = cfg.n_epochs or max(1, int(1e6 / M * cfg.n_epochs_ref))
        self.bootstrap_epoch = int(cfg.generation_epoch_thresh * self.n_epochs)
        tokens_per_epoch = M * (cfg.seq_len * D - 1)
        self.warmup_tokens = cfg.warmup_epochs * tokens_per_epoch
        self.final_tokens = cfg.final_epochs * tokens_per_epoch
        self.epoch, self.cursor, self.n_tokens, self.grad_steps = 0, 0, 0, 0
        self.order = torch.randperm(M, generator=self.generator)
        self.pool = torch.zeros(0, cfg.seq_len * D, dtype=torch.long)      # BooT-r generated sequences
        self.pool_mask = torch.zeros(0, cfg.seq_len * D - 1, dtype=torch.bool)
        self.planner = BeamPlanner(self.model, self.discretizer, cfg.planner(),
                                   torch.Generator(device=self.device).manual_seed(eval_seed(seed, None)))
        self.heldout = {name: trajectory_windows(load_dataset(src, cfg.heldout_builders.get(name)), cfg.n_bins,
                                                 cfg.seq_len, cfg.discount, cfg.termination_penalty,
                                                 self.discretizer)[0]
                        for name, src in cfg.heldout.items()}

    @staticmethod
    def _act_dim(env: EnvLike, D: int) -> int:
        from rlkit.env_spec import env_factory

        e = env_factory(env)()
        act_dim = int(np.prod(e.action_space.shape or ()))
        obs_dim = int(np.prod(e.observation_space.shape or ()))
        e.close()
        if obs_dim + act_dim + 2 != D:
            raise ConfigError(f"the dataset has transitions of {D} dims but the env has obs {obs_dim} + "
                              f"action {act_dim} + 2 = {obs_dim + act_dim + 2}; pair the dataset with its env")
        return act_dim

    @property
    def total_steps(self) -> int:
        """Real-data gradient steps of the official schedule: ``n_epochs * ceil(M / batch)``."""
        return self.n_epochs * self.steps_per_epoch

    @property
    def bootstrapping(self) -> bool:
        return self.cfg.bootstrap and self.epoch >= self.bootstrap_epoch

    # ------------------------------------------------------------------ training
    def _step(self, X: torch.Tensor, Y: torch.Tensor, mask: torch.Tensor) -> float:
        self.model.train()
        loss, _ = trajectory_loss(self.model(X), Y, mask, self.weights)   # NaN: the runner stops the run
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_norm_clip)
        self.optimizer.step()
        self.grad_steps += 1
        return loss.item()

    def _repeat_pass(self) -> dict[str, float]:
        """BooT-r: one shuffled pass over every generated sequence kept so far (no LR update)."""
        losses = []
        order = torch.randperm(len(self.pool), generator=self.generator)
        chunks = order.split(self.cfg.batch_size)
        progress = Progress(len(chunks), desc=f"boot repeat pass (epoch {self.epoch})", unit="batch")
        for i, chunk in enumerate(chunks):
            seq, m = self.pool[chunk].to(self.device), self.pool_mask[chunk].to(self.device)
            losses.append(self._step(seq[:, :-1], seq[:, 1:], m))
            progress.update(i + 1)
        progress.close()
        return {"loss/bootstrap": float(np.mean(losses)), "stats/pool_size": float(len(self.pool))}

    def _bootstrap(self, X: torch.Tensor, Y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        cfg = self.cfg
        gen = cfg.generation()
        if cfg.bootstrap_control:   # same extra step, on real windows instead of generated ones
            n = int(X.shape[0] * gen.num * gen.confidence_factor) if gen.confidence_type == "ratio" \
                else X.shape[0]
            if n == 0:      # a short last batch keeps no generation either: no extra step
                return {"stats/generated": 0.0}
            idx = torch.randint(0, len(self.windows), (n,), generator=self.generator)
            Xc, Yc, mc = self.windows.batch(idx, self.device)
            return {"loss/bootstrap": self._step(Xc, Yc, mc), "stats/generated": float(n)}
        self.model.train(cfg.generation_dropout)
        stats: dict[str, float] = {}
        with torch.no_grad():
            seqs, masks, conf = generate(self.model, X, Y, mask, gen, self.sample_generator, stats)
        out = {"stats/generated": float(len(seqs)),
               "stats/confidence": float(conf.mean()) if len(conf) else float("nan"),
               "stats/kept_padded": stats["kept_padded"], "stats/kept_stop": stats["kept_stop"]}
        if len(seqs) == 0:
            return out
        if cfg.bootstrap_type == "once":
            out["loss/bootstrap"] = self._step(seqs[:, :-1], seqs[:, 1:], masks)
        else:
            self.pool = torch.cat([self.pool, seqs.cpu()])
            self.pool_mask = torch.cat([self.pool_mask, masks.cpu()])
            if cfg.repeat_pool_cap is not None and len(self.pool) > cfg.repeat_pool_cap:
                cap = cfg.repeat_pool_cap
                self.pool, self.pool_mask = self.pool[-cap:], self.pool_mask[-cap:]
        return out

    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One real-data step (plus, once bootstrapping, its generated-data step); the counters
        ``train/grad_steps`` (optimizer steps, generated-data steps included) and
        ``train/env_steps`` (0: offline)."""
        cfg, out = self.cfg, {}
        if self.cursor == 0 and self.bootstrapping and cfg.bootstrap_type == "repeat" and len(self.pool):
            out.update(self._repeat_pass())
        idx = self.order[self.cursor:self.cursor + cfg.batch_size]
        X, Y, mask = self.windows.batch(idx, self.device)
        out["loss/train"] = self._step(X, Y, mask)
        if self.bootstrapping:
            if self.cursor == 0 and self.epoch == self.bootstrap_epoch:
                print(f"[boot] bootstrapping from epoch {self.epoch}: {self.cfg.generation_type} generation of "
                      f"{self.cfg.generation_num} candidates per window, {self.cfg.bootstrap_type}", flush=True)
            out.update(self._bootstrap(X, Y, mask))
        if cfg.lr_decay:
            self.n_tokens += int((cfg.n_bins != Y).sum())
            lr = cfg.learning_rate * lr_multiplier(self.n_tokens, self.warmup_tokens, self.final_tokens,
                                                   cfg.lr_step_quirk)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        self.cursor += cfg.batch_size
        if self.cursor >= len(self.order):
            self.epoch, self.cursor = self.epoch + 1, 0
            self.order = torch.randperm(len(self.windows), generator=self.generator)
        real_steps = self.epoch * self.steps_per_epoch + self.cursor // cfg.batch_size
        if cfg.heldout_every and real_steps % cfg.heldout_every == 0:
            out |= self.heldout_metrics()
        out.update({"stats/lr": self.optimizer.param_groups[0]["lr"], "stats/epoch": float(self.epoch),
                    "stats/bootstrapping": float(self.bootstrapping), "train/env_steps": 0.0,
                    "train/grad_steps": float(self.grad_steps)})
        return out

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def nll(self, windows: TrajectoryWindows, batch_size: int = 512) -> dict[str, float]:
        """Teacher-forced next-token NLL (nats/token) on ``windows``: the training loss, the
        unweighted NLL per token type (obs / action / reward / value), and ``model``: the unweighted
        NLL of the observation, reward and reward-to-go tokens together (what a model-based planner
        uses; the behaviour actions are left out), masked positions excluded; from the same forward
        pass, ``argmax_rmse_bins``: the bin RMSE of the argmax observation tokens (positions
        unmasked in the whole batch)."""
        self.model.eval()
        D, od, ad = self.model.transition_dim, self.model.obs_dim, self.model.act_dim
        sums, counts, loss_sum, sq_errs = torch.zeros(4), torch.zeros(4), 0.0, []
        kind = torch.tensor([0] * od + [1] * ad + [2, 3])
        for idx in torch.arange(len(windows)).split(batch_size):
            X, Y, mask = windows.batch(idx, self.device)
            logits = self.model(X)
            loss, weighted = trajectory_loss(logits, Y, mask, self.weights)
            loss_sum += float(loss) * len(idx)
            ce = (weighted / self.weights.to(weighted)[(torch.arange(Y.shape[1]) + 1) % D]).cpu()
            types = kind[(torch.arange(Y.shape[1]) + 1) % D].expand_as(ce)
            m = mask.cpu()
            sums += torch.zeros(4).index_add_(0, types[m], ce[m])
            counts += torch.zeros(4).index_add_(0, types[m], torch.ones(int(m.sum())))
            is_obs = ((torch.arange(Y.shape[1], device=Y.device) + 1) % D < od) & mask.all(0)
            sq_errs.append(((logits.argmax(-1) - Y)[:, is_obs].float() ** 2).reshape(-1).cpu())
        per = (sums / counts.clamp(min=1)).tolist()
        model = [0, 2, 3]
        return {"loss": loss_sum / len(windows), "obs": per[0], "action": per[1], "reward": per[2],
                "value": per[3], "all": float(sums.sum() / counts.sum()),
                "model": float(sums[model].sum() / counts[model].sum().clamp(min=1)),
                "argmax_rmse_bins": float(torch.cat(sq_errs).mean().sqrt())}

    @torch.no_grad()
    def open_loop_error(self, windows: TrajectoryWindows, steps: int, n: int = 256,
                        seed: int = 0) -> dict[str, float]:
        """Multi-step open-loop prediction with the real actions: on ``n`` unpadded windows, keep the
        first K - ``steps`` transitions, then predict the last ``steps`` transitions token by token
        (argmax observation, reward and reward-to-go tokens; the data's own action tokens), each
        conditioned on the model's earlier predictions. Bin RMSE of the predicted observation
        tokens over the ``steps`` transitions (``open_loop_rmse_bins``) and at the last one
        (``open_loop_last_rmse_bins``)."""
        self.model.eval()
        D, od, ad, K = self.model.transition_dim, self.model.obs_dim, self.model.act_dim, self.cfg.seq_len
        unpadded = windows.window_steps + K - 1 < windows.window_lengths     # no stop token in the window
        pool = torch.nonzero(unpadded).squeeze(1)
        idx = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]]
        X, Y, _ = windows.batch(idx, self.device)
        true = torch.cat([X, Y[:, -1:]], 1)                               # [n, K * D]
        x = true[:, :(K - steps) * D]
        for _ in range(steps):
            for j in range(D):
                if od <= j < od + ad:                                    # the data's action
                    tok = true[:, x.shape[1]:x.shape[1] + 1]
                else:
                    tok = self.model(x)[:, -1].argmax(-1, keepdim=True)
                x = torch.cat([x, tok], 1)
        made = x.view(len(idx), K, D)[:, K - steps:, :od].float()
        real = true.view(len(idx), K, D)[:, K - steps:, :od].float()
        err = (made - real) ** 2
        return {"open_loop_rmse_bins": float(err.mean().sqrt()),
                "open_loop_last_rmse_bins": float(err[:, -1].mean().sqrt())}

    @torch.no_grad()
    def generation_error(self, n_batches: int, seed: int | None = None) -> dict[str, float]:
        """How valid BooT's generations are: on ``n_batches`` training batches, generate as in
        training, keep the top ``generation_confidence_factor`` of the candidates by confidence, and
        compare the generated observation tokens of each window's last transition with the data's own
        (bin RMSE). Every window of the batches is generated from and every kept candidate counted:
        those whose true or generated last transition is a stop token are left out of the RMSE and
        counted in ``generated_with_stop``, and ``generated_from_padded`` is the fraction of kept
        candidates made from windows that reach into stop padding (``generation_unpadded_only`` /
        ``generation_reject_stop`` act on the candidates as in training). Generation draws (and its
        dropout) come from a stream seeded by ``seed`` (default: ``rlkit.seeding.eval_seed``)."""
        cfg, data, od = self.cfg, self.windows, self.model.obs_dim
        K, D, stop = cfg.seq_len, data.transition_dim, self.discretizer.n_bins
        gen = cfg.generation()
        gen.confidence_type = "none"                  # score every candidate, keep the top ones below
        gen.unpadded_only = gen.reject_stop = False   # applied below, keeping candidates in window order
        base = eval_seed(self.seed, seed)
        g = torch.Generator().manual_seed(base)
        errors, with_stop, from_padded, counted = [], 0, 0, 0
        with TorchRNGStream(base, self.device).active():
            for _ in range(n_batches):
                idx = torch.randint(0, len(data), (cfg.batch_size,), generator=g)
                X, Y, mask = data.batch(idx, self.device)
                self.model.train(cfg.generation_dropout)
                seqs, _, conf = generate(self.model, X, Y, mask, gen, g)
                window = torch.arange(len(conf)) % len(idx) if gen.kind in ("teacherforcing", "tf") \
                    else torch.arange(len(conf)) // gen.num
                padded = Y.eq(stop).any(1).cpu()[window]
                if cfg.generation_unpadded_only:
                    conf = conf.masked_fill(padded.to(conf.device), -math.inf)
                if cfg.generation_reject_stop:
                    conf = conf.masked_fill((seqs[:, -D:] == stop).any(1), -math.inf)
                n_keep = max(1, int(int(torch.isfinite(conf).sum()) * cfg.generation_confidence_factor))
                kept = torch.topk(conf, n_keep).indices.cpu()
                from_padded, counted = from_padded + int(padded[kept].sum()), counted + len(kept)
                for k, r in zip(kept.tolist(), window[kept].tolist(), strict=True):
                    true = data.tokens[int(data.window_rows[idx[r]]) + K - 1]
                    made = seqs[k].view(K, D)[-1].cpu()
                    if true[0] == stop or (made == stop).any():
                        with_stop += 1
                        continue
                    errors.append(float(((made[:od] - true[:od]).float() ** 2).mean()))
        self.model.eval()
        return {"generated_state_rmse_bins": float(np.sqrt(np.mean(errors))) if errors else float("nan"),
                "generated_checked": float(len(errors)), "generated_with_stop": float(with_stop),
                "generated_from_padded": from_padded / max(counted, 1)}

    def heldout_metrics(self, seed: int | None = None) -> dict[str, float]:
        """On each ``heldout`` dataset: the NLL per token type, the argmax error and the open-loop
        error (``eval/<name>/...``); the open-loop windows are drawn with ``seed`` (default:
        ``rlkit.seeding.eval_seed``), so every call scores the same windows. With ``heldout_every``
        training reports them along the way (learning curves, ``reduce: at_best``)."""
        base, out = eval_seed(self.seed, seed), dict[str, float]()
        for name, windows in self.heldout.items():
            out |= {f"eval/{name}/{k}": v for k, v in self.nll(windows).items()}
            if self.cfg.eval_open_loop_steps:
                out |= {f"eval/{name}/{k}": v for k, v in
                        self.open_loop_error(windows, self.cfg.eval_open_loop_steps, seed=base).items()}
        return out

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """``episodes`` planned episodes in one batch (env k resets with ``seed + k``, the planner
        draws from a generator seeded by ``seed``; default: ``rlkit.seeding.eval_seed``); the NLL
        and argmax error on each ``heldout`` dataset (``eval/<name>/...``) and, with
        ``eval_generation_batches``, the generation checks."""
        base = eval_seed(self.seed, seed)
        make = eval_env_factory(self.env)
        envs = [make() for _ in range(episodes)]
        t0 = time.perf_counter()
        self.planner.generator = torch.Generator(device=self.device).manual_seed(base)
        res = rollout(self.planner, envs, [base + k for k in range(episodes)], self.cfg.eval_max_steps,
                      self.device)
        steps = int(res["length"].max())
        out = {"eval/return": float(res["return"].mean()), "eval/return_std": float(res["return"].std()),
               "eval/length": float(res["length"].mean()), "eval/success": float(res["success"].mean()),
               "time/plan_s_per_step": (time.perf_counter() - t0) / max(1, steps)}
        family = self.source.split(":")[-1].split("/")[-1].split("-")[0].split("_")[0].lower()
        if family in D4RL_REF_SCORES:
            out["eval/normalized_score"] = float(np.mean(normalized_score(family, res["return"])))
        for env in envs:
            env.close()
        out |= self.heldout_metrics(seed)
        if self.cfg.eval_generation_batches:
            checks = self.generation_error(self.cfg.eval_generation_batches, base)
            out |= {f"eval/{k}": v for k, v in checks.items()}
        return out

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Plan from the observation(s) alone (no context; ``evaluate`` keeps one per episode).
        The planner samples, so ``deterministic`` has no effect."""
        obs = np.asarray(obs, np.float64)
        batch = obs.reshape(-1, self.model.obs_dim)
        empty = torch.zeros(len(batch), 0, dtype=torch.long, device=self.device)
        plans, _ = self.planner.plan(self.planner.prefix(empty, batch))
        actions = self.planner.actions(plans).astype(np.float32)
        return actions if obs.ndim > 1 else actions[0]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: model, optimizer, generators, epoch position and order,
        token count, the BooT-r pool, the discretizer (checked on load) and the agent's torch stream."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "sample_generator": self.sample_generator.get_state(),
                "torch_stream": self.torch_stream.state_dict(), "grad_steps": self.grad_steps,
                "epoch": self.epoch,
                "cursor": self.cursor, "n_tokens": self.n_tokens, "order": self.order.clone(),
                "pool": self.pool.clone(), "pool_mask": self.pool_mask.clone(),
                "discretizer": self.discretizer.state_dict(), "config": plain(asdict(self.cfg))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        edges = np.asarray(state["discretizer"]["edges"])
        if edges.shape != self.discretizer.edges.shape or not np.allclose(edges, self.discretizer.edges):
            raise ValueError("checkpoint was trained on a different dataset (its bins differ); "
                             "resume with the dataset it was trained on")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.sample_generator.set_state(state["sample_generator"])
        self.torch_stream.load_state_dict(state["torch_stream"])
        self.grad_steps = int(state["grad_steps"])
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self.n_tokens = int(state["n_tokens"])
        self.order = state["order"].clone()
        self.pool, self.pool_mask = state["pool"].clone(), state["pool_mask"].clone()

