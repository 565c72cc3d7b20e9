"""LS3: latent-space safe sets (Wilcox et al., CoRL 2021). See docs/ls3.md."""

from rlkit.algos.ls3.agent import LS3, LS3Config
from rlkit.algos.ls3.models import DynamicsEnsemble, LatentClassifier, LatentReplay, SafeSet, ValueEnsemble
from rlkit.algos.ls3.planner import PlannerConfig, SafeSetCEM

__all__ = ["LS3", "LS3Config", "DynamicsEnsemble", "LatentClassifier", "LatentReplay", "SafeSet",
           "ValueEnsemble",
           "PlannerConfig", "SafeSetCEM"]
