"""C-Planning (Zhang et al., ICLR 2022) on C-learning (Eysenbach et al., ICLR 2021). See docs/cplanning.md."""

from rlkit.algos.cplanning.agent import CPlanning, CPlanningConfig
from rlkit.algos.cplanning.clearning import CLearner, CLearningConfig, relabel_batch, targets_and_weights

__all__ = ["CPlanning", "CPlanningConfig", "CLearner", "CLearningConfig", "relabel_batch",
           "targets_and_weights"]
