"""The RLQP agent's configuration (``conf/algo/rlqp.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from rlkit.algos.rlqp.policy import ACTION_DECADES
from rlkit.config import check, check_positive


@dataclass
class RLQPConfig:
    """Defaults: the paper's parametrisation (per-row actor, absolute log10 rho over 12 decades,
    log-space noise) with our CPU schedule (docs/rlqp.md). The released
    trainer's values are in ``conf/experiment/rlqp_paper.yaml``.

    Noise magnitudes are in decades of rho (log10 units).
    """

    param: str = "paper"              # "paper" | "relative"
    features: str = "symlog"          # "symlog" | "mode8" (raw, as released)
    scalar: bool = False              # one rho per problem (mean of the row actions)
    hidden: tuple[int, ...] = (64, 64)
    lr: float = 3e-4
    lr_decay: float = 1.0             # release: x0.999 (StepLR) per epoch of lr_decay_steps env steps
    lr_decay_steps: int = 2000
    batch_size: int = 512
    buffer_rows: int = 2_000_000
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2
    target_noise: float = 0.2
    noise_clip: float = 0.5
    exploration: str = "per_row"      # "per_row" | "shared" (release: one draw for all rows)
    exploration_noise: float = 0.5
    random_episodes: int = 30         # log-uniform scalar rho in [1e-3, 1e3] + per-row noise ...
    random_steps: int = 0             # ... while episodes < random_episodes or env steps < random_steps
    updates_per_step: float = 55.0    # TD3 updates per env step (release: 1.0)
    update_every: int = 0             # env steps per burst of updates (release: 1000); 0: every episode
    update_after: int = 0             # env steps before the first update (release: 1000)
    workers: int = 1                  # processes collecting episodes (one per core; 1: in this process)
    episodes_per_round: int = 1       # episodes collected with one actor snapshot (>= workers to use them)
    eval_per_class: int = 5
    # the end-of-run report (write_report): test problems per class, larger problems per class
    # (report.LARGER: bigger sizes and the unseen Eq QP class), Maros-Meszaros .mat files of a folder
    report_per_class: int | None = None   # default: eval_per_class
    report_larger_per_class: int = 0
    report_maros_meszaros: str | None = None
    report_mm_max: int = 1500             # largest n + m of a Maros-Meszaros problem in the report
    report_shipped: bool = False          # also compare the policy shipped with rlkit (rho="learned")

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        check(self.param in ACTION_DECADES, "param", self.param, "use 'paper' or 'relative'")
        check(self.features in ("symlog", "mode8"), "features", self.features, "use 'symlog' or 'mode8'")
        check(self.exploration in ("per_row", "shared"), "exploration", self.exploration,
              "use 'per_row' or 'shared'")
        check_positive(self, "lr", "lr_decay", "lr_decay_steps", "batch_size", "buffer_rows")
        check(self.updates_per_step >= 0, "updates_per_step", self.updates_per_step, "must be >= 0")
        check(self.workers >= 1, "workers", self.workers, "must be >= 1 (1 collects in this process)")
        check(self.episodes_per_round >= 1, "episodes_per_round", self.episodes_per_round, "must be >= 1")
        check(self.update_every >= 0, "update_every", self.update_every, "must be >= 0 (0: every episode)")
