"""EPPO: ensemble PPO with a diversity regulariser (Yang et al., IJCAI 2022). See docs/eppo.md."""

from rlkit.algos.eppo.agent import EPPO, EPPOConfig
from rlkit.algos.eppo.ensemble import (
    EnsembleActorCritic,
    categorical_diversity,
    categorical_member_entropy,
    categorical_mixture_entropy,
    gaussian_diversity,
)

__all__ = ["EPPO", "EPPOConfig", "EnsembleActorCritic", "categorical_diversity", "categorical_member_entropy",
           "categorical_mixture_entropy", "gaussian_diversity"]
