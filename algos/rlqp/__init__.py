"""RLQP (Ichnowski et al., NeurIPS 2021): reinforcement-learned per-constraint ADMM step sizes
for an OSQP-exact QP solver. See docs/rlqp.md.

The solver is the QP env's simulator and lives in :mod:`rlkit.envs.qp`; it is re-exported here,
and ``from rlkit.algos.rlqp import solve`` adds ``rho="learned"``, the policy shipped with rlkit
(:mod:`rlkit.algos.rlqp.shipped`)."""

from rlkit.algos.rlqp.agent import RLQP, RLQPConfig
from rlkit.algos.rlqp.policy import ActiveSetRule, LearnedRhoPolicy, OSQPEstimateEveryInterval
from rlkit.algos.rlqp.report import evaluate_policy
from rlkit.algos.rlqp.shipped import pretrained, solve
from rlkit.envs.qp import ADMM, BatchedADMM, QPDataError, Result, RhoPolicy, Settings, Status

__all__ = ["ADMM", "BatchedADMM", "QPDataError", "Result", "RhoPolicy", "Settings", "Status", "solve",
           "pretrained", "RLQP", "RLQPConfig", "evaluate_policy", "LearnedRhoPolicy", "ActiveSetRule",
           "OSQPEstimateEveryInterval"]
