"""Atomic save and safe load of the whole training state.

A checkpoint is a nested dict of tensors, numbers, strings, lists and dicts. It is written to a
temporary file in the same directory and moved into place with ``os.replace``, so a run killed
mid-write leaves the previous checkpoint intact. Loading uses ``weights_only=True``: no code from
the file is ever executed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or holds objects other than plain data."""


def plain(value: Any) -> Any:
    """``value`` with every tuple turned into a list, recursively (configs in checkpoints)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; start without resume= or "
                              "point resume= at a run directory that holds checkpoints/last.pt")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # corrupted or unsafe file: name it and the fix
        raise CheckpointError(f"checkpoint {path} could not be loaded safely ({err}); delete it to "
                              "restart from scratch, or resume from another run directory") from err
