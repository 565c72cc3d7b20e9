"""The rho policy shipped with rlkit, and ``solve(..., rho="learned")``.

The official release ships no trained policy. rlkit ships one (``pretrained/qp_mixed.pt``, a few
kilobytes): the validation-selected actor of an RLQP run on the six small OSQP benchmark classes of
``env=qp_mixed``. Its file says what it was trained on, with which command, and how it scored
against OSQP on held-out problems (``pretrained().meta``; docs/rlqp.md has the table). It was
trained with a rho decision every K iterations and termination checks every ``check_every``;
:func:`solve` uses the same unless told otherwise.

Rebuild the shipped file from a finished run (reads its config.yaml and comparison.json)::

    python -m rlkit.algos.rlqp.shipped RUN_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from rlkit.algos.rlqp.policy import LearnedRhoPolicy
from rlkit.envs.qp import Result, RhoPolicy
from rlkit.envs.qp import solve as solve_qp

PRETRAINED = Path(__file__).parent / "pretrained"


def pretrained(name: str = "qp_mixed") -> LearnedRhoPolicy:
    """A policy shipped in ``rlkit/algos/rlqp/pretrained/`` (loaded with ``weights_only``)."""
    path = PRETRAINED / f"{name}.pt"
    if not path.is_file():
        shipped = sorted(p.stem for p in PRETRAINED.glob("*.pt"))
        raise ValueError(f"no shipped rho policy {name!r}: the shipped ones are {shipped}")
    return LearnedRhoPolicy.load(path)


def solve(P: Any, q: Any, A: Any, l: Any, u: Any, rho: str | RhoPolicy = "osqp", **settings: Any) -> Result:
    """:func:`rlkit.envs.qp.solve` (OSQP's ADMM), with one more choice of ``rho``: ``"learned"``,
    the shipped policy (:func:`pretrained`), deciding every K iterations with termination checks
    every ``check_every`` as in its training (pass ``adaptive_rho_interval`` / ``check_termination``
    to change them)."""
    if isinstance(rho, str) and rho == "learned":
        policy = pretrained()
        settings.setdefault("adaptive_rho_interval", policy.meta["iters_per_step"])
        settings.setdefault("check_termination", policy.meta["check_every"])
        rho = policy
    return solve_qp(P, q, A, l, u, rho, **settings)


def _overrides(run_dir: Path) -> list[str]:
    """The command-line overrides of a run (Hydra's record), without where its folder went."""
    path = run_dir / ".hydra" / "overrides.yaml"
    listed = yaml.safe_load(path.read_text()) if path.is_file() else []
    return [o for o in listed if not o.startswith("hydra.")]


def ship(run_dir: Path, name: str = "qp_mixed") -> Path:
    """Write the validation-selected policy of a finished RLQP run (``policy_best.pt``, else
    ``policy.pt``) as the shipped policy ``name``, with what it was trained on and its held-out
    numbers from the run's ``comparison.json``."""
    best = run_dir / "policy_best.pt"
    policy = LearnedRhoPolicy.load(best if best.is_file() else run_dir / "policy.pt")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    numbers = json.loads((run_dir / "comparison.json").read_text())
    env, algo = config["env"]["kwargs"], config["algo"]
    judged = "best" if best.is_file() else "learned"
    policy.meta = {
        "trained_on": env["classes"], "iters_per_step": env["iters_per_step"],
        "check_every": env["check_every"], "eps": env["eps"], "episodes": config["runner"]["steps"],
        "seed": config["seed"], "schedule": {k: algo[k] for k in ("updates_per_step", "update_every",
                                                                    "batch_size", "lr")},
        "command": "run.py " + " ".join(_overrides(run_dir)),
        "test_iterations": {m: numbers["test"][m] for m in (judged, "osqp")},
        "test_classes": {c: {m: v[m] for m in (judged, "osqp")} for c, v in numbers["test_classes"].items()},
    }
    return policy.save(PRETRAINED / f"{name}.pt")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "comparison.json").is_file():
        sys.exit("usage: python -m rlkit.algos.rlqp.shipped RUN_DIR (a finished RLQP run with comparison.json)")
    print(ship(Path(sys.argv[1])))
