"""Replay storage, sequence windows, hindsight relabelling, task buffers and offline datasets."""

from rlkit.data.episodes import EpisodeBuffer, discounted_cumsum
from rlkit.data.offline import (
    D4RL_REF_SCORES,
    DatasetError,
    OfflineDataset,
    collect_dataset,
    d4rl_path,
    data_dir,
    load_dataset,
    normalized_score,
)
from rlkit.data.relabel import MultiTaskBuffer, relabel_tasks, sample_her
from rlkit.data.replay import ReplayBuffer
from rlkit.data.storage import PackedTensor

__all__ = ["PackedTensor", "ReplayBuffer", "EpisodeBuffer", "discounted_cumsum", "sample_her",
           "relabel_tasks", "MultiTaskBuffer", "OfflineDataset", "DatasetError",
           "collect_dataset", "normalized_score", "d4rl_path", "D4RL_REF_SCORES",
           "load_dataset", "data_dir"]
