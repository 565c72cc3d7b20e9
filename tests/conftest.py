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
# local: datasets (BooT's pendulum_mixed) are generated once per session here, not in the home dir
os.environ.setdefault("RLKIT_DATA_DIR",
                      str(Path(os.environ.get("TMPDIR", "/tmp")) / f"rlkit-test-data-{os.getpid()}"))
torch.set_num_threads(1)


@pytest.fixture
def root() -> Path:
    return ROOT
