"""Replay storage, episode storage and offline datasets."""

from rlkit.data.episodes import EpisodeBuffer
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
from rlkit.data.replay import ReplayBuffer
from rlkit.data.storage import PackedTensor

__all__ = ["PackedTensor", "ReplayBuffer", "EpisodeBuffer", "OfflineDataset", "DatasetError",
           "collect_dataset", "normalized_score", "d4rl_path", "D4RL_REF_SCORES",
           "load_dataset", "data_dir"]
