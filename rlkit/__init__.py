"""rlkit: shared core of the offline / meta-RL toolkit (distribution name ``rlkit-offmeta``).

Submodules: :mod:`rlkit.runner` (the experiment loop), :mod:`rlkit.checkpoint`,
:mod:`rlkit.logging`, :mod:`rlkit.seeding`, :mod:`rlkit.data`, :mod:`rlkit.nn`, :mod:`rlkit.rl`.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlkit.agent import Agent

__version__ = "0.1.0"


def load_run(run_dir: str | PathLike[str], device: str = "cpu") -> Agent:
    """The trained agent of a run directory (``best.pt``'s policy, else ``last.pt``); see
    :func:`rlkit.agent.load_run`."""
    from rlkit.agent import load_run as _load_run

    return _load_run(run_dir, device)
