import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MUJOCO_GL", "egl")          # headless MuJoCo rendering (LS3's reacher)
# one torch thread in the processes the tests start that do not set their own (runs do: threads=null
# is 1), beside the other test worker: two threads on two busy cores made the notebook's BooT cell 57 s
# instead of 3 s
os.environ.setdefault("OMP_NUM_THREADS", "1")
# local: datasets (BooT's pendulum_mixed) are generated once per session here, not in the home dir
# (removed when the session ends; pytest-xdist's workers inherit the controller's)
DATA_DIR = None
if "RLKIT_DATA_DIR" not in os.environ:
    DATA_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"rlkit-test-data-{os.getpid()}"
    os.environ["RLKIT_DATA_DIR"] = str(DATA_DIR)
torch.set_num_threads(1)


def pytest_sessionfinish(session, exitstatus):
    if DATA_DIR is not None:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.fixture
def root() -> Path:
    return ROOT
