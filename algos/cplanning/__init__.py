"""C-Planning (Zhang et al., ICLR 2022) on C-learning (Eysenbach et al., ICLR 2021). Work in progress:
the C-learning learner and the 2D point mazes are built and tested; the graph-search E-step, the
agent loop and the experiments are not yet (issue 6)."""

from algos.cplanning.clearning import CLearner, CLearningConfig, relabel_batch, targets_and_weights

__all__ = ["CLearner", "CLearningConfig", "relabel_batch", "targets_and_weights"]
