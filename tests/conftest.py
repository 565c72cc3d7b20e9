import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MUJOCO_GL", "egl")          # headless MuJoCo rendering (LS3's reacher)
torch.set_num_threads(1)


@pytest.fixture
def root() -> Path:
    return ROOT
