"""LS3's latent-space models (LS3 paper Sec. 4; official ``latentsafesets/modules``), all on latents z of the
frozen VAE.

- :class:`LatentReplay`: FIFO rows of (mu, log_std) for obs and next obs plus labels; every batch
  draws a fresh z = mu + exp(log_std) * eps.
- :class:`DynamicsEnsemble`: E probabilistic MLPs, p(dz | z, a) = N(m, exp(s)^2), trained by the
  negative log-likelihood, each member on its own batch.
- :class:`ValueEnsemble`: V(z) = mean_e V_e(z), Huber loss; Monte-Carlo targets (undiscounted
  reward-to-go) for pretraining, then TD(0) targets (r + gamma (1 - done) V_targ(z')) * [r != 0].
- :class:`SafeSet`: Bellman safe-set classifier, target max(label, gamma_S sigmoid(f_targ(z')))
  (``reduction=add``: gamma_S sigmoid(f_targ(z')) + (1 - gamma_S) label; ``kind=bc``: the label).
- :class:`LatentClassifier`: constraint and goal indicators on z', BCE with logits.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.data.storage import PackedTensor
from rlkit.nn import MLP, EnsembleMLP


class LatentReplay:
    """Ring buffer of latent transitions; ``sample`` re-draws z and z' from the stored posteriors."""

    def __init__(self, latent_dim: int, action_dim: int, capacity: int, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        d = latent_dim
        self.storage = PackedTensor({"mu": (d,), "log_std": (d,), "next_mu": (d,), "next_log_std": (d,),
                                     "action": (action_dim,), "reward": (), "constraint": (), "safe": (),
                                     "on_policy": (), "done": (), "rtg": ()}, capacity, device)
        self.size, self.pos = 0, 0
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def add(self, rows: dict[str, torch.Tensor]) -> None:
        n = len(rows["reward"])
        index = (self.pos + torch.arange(n)) % self.storage.capacity
        self.storage.write(index, rows)
        self.pos = int((self.pos + n) % self.storage.capacity)
        self.size = min(self.size + n, self.storage.capacity)

    def sample(self, batch_size: int, on_policy_only: bool = False, members: int | None = None
               ) -> dict[str, torch.Tensor]:
        """A batch with fresh latent samples ``z``/``next_z``; ``members=E`` gives [E, B, ...]
        (an independent batch per ensemble member)."""
        if on_policy_only:
            flags = self.storage.data[: self.size, self.storage.slices["on_policy"]].squeeze(-1)
            pool = torch.nonzero(flags > 0.5).squeeze(-1).cpu()
            if len(pool) == 0:
                raise RuntimeError("no on-policy transitions in the LS3 replay (demos missing?)")
        shape = (members, batch_size) if members else (batch_size,)
        rows = torch.randint(len(pool) if on_policy_only else self.size, shape, generator=self.generator)
        if on_policy_only:
            rows = pool[rows]
        b = self.storage.read(rows)
        b["z"] = b["mu"] + b["log_std"].exp() * torch.randn_like(b["mu"])
        b["next_z"] = b["next_mu"] + b["next_log_std"].exp() * torch.randn_like(b["mu"])
        return b

    def state_dict(self) -> dict[str, Any]:
        return {"data": self.storage.data[: self.size].clone(), "size": self.size, "pos": self.pos,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.pos = int(state["size"]), int(state["pos"])
        self.storage.data[: self.size] = state["data"].to(self.storage.data.device)
        self.generator.set_state(state["generator"])


def trajectory_labels(rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Safe-set labels and reward-to-go of one trajectory (official ``latentsafesets``).

    safe[t] = 1 for t up to the last step with reward 0 (goal reached), else 0 (all 0 when the goal
    is never reached); rtg[t] = sum_{k > t} r_k (undiscounted, strictly after t, as the official code)."""
    reached = torch.nonzero(rewards == 0)
    safe = torch.zeros_like(rewards)
    if len(reached):
        safe[: int(reached[-1]) + 1] = 1.0
    after = rewards.flip(0).cumsum(0).flip(0) - rewards
    return safe, after


STD_FLOOR = 1e-6        # the official model's std = exp(log_std) + 1e-6


class DynamicsEnsemble(nn.Module):
    """E Gaussian MLPs over [z, a] -> (mean, std = exp(log_std) + 1e-6) of dz; official size 2 x 128
    (official ``PETSDynamics``)."""

    def __init__(self, latent_dim: int, action_dim: int, members: int = 5, hidden: Sequence[int] = (128, 128)):
        super().__init__()
        self.latent_dim, self.members = latent_dim, members
        self.net = EnsembleMLP(members, latent_dim + action_dim, 2 * latent_dim, hidden)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [E, B, d], a [E, B, k] -> mean and log-std of dz, each [E, B, d]."""
        return self.net(torch.cat([z, a], -1)).chunk(2, -1)

    def loss(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """Negative mean log N(z' - z; m, exp(s)^2) over members, batch and dims (batch [E, B, ...])."""
        mean, log_std = self(b["z"], b["action"])
        dist = torch.distributions.Normal(mean, log_std.exp() + STD_FLOOR)
        return -dist.log_prob(b["next_z"] - b["z"]).mean()

    def member_step(self, member: int, z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One member on a flat batch [N, d] (the official per-time-step member choice)."""
        x = torch.cat([z, a], -1)
        layers = self.net.linears
        for i, layer in enumerate(layers):
            x = torch.addmm(layer.bias[member], x, layer.weight[member])
            if i < len(layers) - 1:
                x = self.net.act(x)
        mean, log_std = x.chunk(2, -1)
        return mean, log_std

    def sample_next(self, z: torch.Tensor, a: torch.Tensor, member: int | None, generator: torch.Generator,
                    noise: bool = True) -> torch.Tensor:
        """Next latents for [N, d] states: with ``member``, that member for all rows (the official
        per-time-step choice); ``None`` gives every row its own random member (PETS TS-1).
        z' = z + m + s * eps (reparameterised sample of dz, official), or z + m without ``noise``."""
        if member is not None:
            mean, log_std = self.member_step(member, z, a)
        else:
            zs = z.unsqueeze(0).expand(self.members, -1, -1)
            mean_all, log_std_all = self(zs, a.unsqueeze(0).expand(self.members, -1, -1))
            pick = torch.randint(self.members, (len(z),), generator=generator).to(z.device)
            rows = torch.arange(len(z), device=z.device)
            mean, log_std = mean_all[pick, rows], log_std_all[pick, rows]
        if not noise:
            return z + mean
        eps = torch.randn(mean.shape, generator=generator).to(z.device)   # the planner's own stream, fp32
        return z + mean + (log_std.exp() + STD_FLOOR) * eps


class TargetMixin:
    """A hard-copied target network, refreshed every ``target_every`` updates."""

    def init_target(self, net: nn.Module, target_every: int) -> None:
        self.target = copy.deepcopy(net).requires_grad_(False)
        self.target_every, self.updates = target_every, 0

    def after_update(self, net: nn.Module) -> None:
        self.updates += 1
        if self.updates % self.target_every == 0:
            self.target.load_state_dict(net.state_dict())


class ValueEnsemble(nn.Module, TargetMixin):
    """V(z) = mean over E MLPs (official 5 x (3 x 200)); Huber loss (official ``ValueEnsemble``).

    ``targets="per_member"`` (official): every member trains on its own batch ([E, B] rows from the
    replay) against its own target network, V_e <- r + gamma (1 - done) V'_e(z'). ``"ensemble_mean"``
    (our first version): one shared batch and the ensemble-mean target V' = mean_e V'_e."""

    def __init__(self, latent_dim: int, members: int = 5, hidden: Sequence[int] = (200, 200, 200),
                 gamma: float = 0.99, target_every: int = 100, targets: str = "per_member") -> None:
        super().__init__()
        if targets not in ("per_member", "ensemble_mean"):
            raise ValueError(f"value_targets={targets!r} must be per_member or ensemble_mean")
        self.gamma, self.targets, self.members = gamma, targets, members
        self.net = EnsembleMLP(members, latent_dim, 1, hidden)
        self.init_target(self.net, target_every)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean value of [N, d] latents -> [N]."""
        return self.net(z).mean(0).squeeze(-1)

    @property
    def batch_members(self) -> int | None:
        """Rows to sample per member ([E, B] batches) or None (one shared [B] batch)."""
        return self.members if self.targets == "per_member" else None

    def loss(self, b: dict[str, torch.Tensor], target_kind: str) -> torch.Tensor:
        """``mc``: regress every member on the reward-to-go. ``td``: (r + gamma (1 - done) V_targ(z')),
        times 0 where r = 0 (goal states pinned to 0; the time limit counts as terminal). ``b`` holds
        [E, B] rows (per-member batches) or [B] rows (shared)."""
        if target_kind == "mc":
            target = b["rtg"]
        else:
            with torch.no_grad():
                v_next = self.target(b["next_z"]).squeeze(-1)                  # [E, B]
                if self.targets == "ensemble_mean":
                    v_next = v_next.mean(0)
                target = (b["reward"] + self.gamma * (1 - b["done"]) * v_next) * (b["reward"] != 0)
        prediction = self.net(b["z"]).squeeze(-1)                      # [E, B]
        return F.smooth_l1_loss(prediction, target.expand_as(prediction))


class SafeSet(nn.Module, TargetMixin):
    """Bellman safe-set classifier f_S(z) (logit), official 3 x 200 (``BellmanSSEnsemble``)."""

    def __init__(self, latent_dim: int, hidden: Sequence[int] = (200, 200, 200), gamma_s: float = 0.3,
                 kind: str = "bellman", reduction: str = "max", target_every: int = 100,
                 target_init: str = "random") -> None:
        super().__init__()
        if kind not in ("bellman", "bc") or reduction not in ("max", "add"):
            raise ValueError(f"safe_set_type={kind!r} must be bellman or bc; "
                             f"reduction={reduction!r} must be max or add")
        if target_init not in ("random", "copy"):
            raise ValueError(f"safe_set_target_init={target_init!r} must be random or copy")
        self.gamma_s, self.kind, self.reduction = gamma_s, kind, reduction
        self.net = MLP(latent_dim, 1, hidden)
        self.init_target(self.net, target_every)
        if target_init == "random":      # official BellmanSafeSet: its own random net until update 100
            self.target.load_state_dict(MLP(latent_dim, 1, hidden).state_dict())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)

    def bellman_target(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.kind == "bc":
            return b["safe"]
        with torch.no_grad():
            backup = self.gamma_s * torch.sigmoid(self.target(b["next_z"]).squeeze(-1))
        if self.reduction == "max":
            return torch.maximum(b["safe"], backup)
        return backup + (1 - self.gamma_s) * b["safe"]

    def loss(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self(b["z"]), self.bellman_target(b))


class LatentClassifier(nn.Module):
    """Indicator logit on the next latent: the constraint (``label=constraint``) or goal
    (``label=goal``: reward == 0) classifier, official 3 x 200."""

    def __init__(self, latent_dim: int, label: str, hidden: Sequence[int] = (200, 200, 200)) -> None:
        super().__init__()
        if label not in ("constraint", "goal"):
            raise ValueError(f"label={label!r} must be constraint or goal")
        self.label = label
        self.net = MLP(latent_dim, 1, hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)

    def loss(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        y = b["constraint"] if self.label == "constraint" else (b["reward"] == 0).float()
        return F.binary_cross_entropy_with_logits(self(b["next_z"]), y)

