"""Bootstrapped Transformer (BooT, arXiv 2206.08569) and the Trajectory Transformer baseline."""

from rlkit.algos.boot.agent import BooT, BooTConfig
from rlkit.algos.boot.data import QuantileDiscretizer, TrajectoryWindows, reward_to_go, trajectory_windows
from rlkit.algos.boot.planner import BeamPlanner, PlannerConfig, rollout

__all__ = ["BooT", "BooTConfig", "QuantileDiscretizer", "TrajectoryWindows", "reward_to_go",
           "trajectory_windows", "BeamPlanner", "PlannerConfig", "rollout"]
