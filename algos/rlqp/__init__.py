"""RLQP (Ichnowski et al., NeurIPS 2021): reinforcement-learned per-constraint ADMM step sizes
for an OSQP-exact QP solver. See docs/rlqp.md."""

from algos.rlqp.admm import ADMM, QPDataError, Result, RhoPolicy, Settings, Status, solve
from algos.rlqp.agent import RLQP, RLQPConfig, evaluate_policy
from algos.rlqp.batched import BatchedADMM
from algos.rlqp.policy import ActiveSetRule, LearnedRhoPolicy, OSQPEstimateEveryInterval

__all__ = ["ADMM", "BatchedADMM", "QPDataError", "Result", "RhoPolicy", "Settings", "Status", "solve",
           "RLQP", "RLQPConfig", "evaluate_policy", "LearnedRhoPolicy", "ActiveSetRule",
           "OSQPEstimateEveryInterval"]
