"""One seed -> python / numpy / torch / env seeds, and capture/restore of every RNG state.

Captured states contain only tensors, numbers, strings, lists and dicts, so checkpoints load with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

#: Evaluation never draws from a run's training streams: evaluation episode k of a run with seed s
#: resets its dedicated evaluation env with seed ``s + EVAL_SEED_OFFSET + k``, and evaluation
#: generators (planner noise, latent samples, held-out problem draws) are seeded from
#: ``s + EVAL_SEED_OFFSET``. One constant for every algorithm.
EVAL_SEED_OFFSET = 1_000_003


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python's ``random``, numpy's legacy global RNG and torch (CPU and CUDA).

    ``deterministic`` switches cuDNN to deterministic kernels; bitwise equality is only
    promised on CPU.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """State of a numpy ``Generator`` as plain data (big ints are stored as strings)."""
    return _ints_to_str(gen.bit_generator.state)


def set_generator_state(gen: np.random.Generator, state: dict[str, Any]) -> None:
    gen.bit_generator.state = _str_to_ints(state)


def _ints_to_str(obj: Any) -> Any:
    # PCG64 states are 128-bit integers; keep them exact and loader-safe as decimal strings.
    if isinstance(obj, dict):
        return {k: _ints_to_str(v) for k, v in obj.items()}
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return f"int:{obj}"
    return obj


def _str_to_ints(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _str_to_ints(v) for k, v in obj.items()}
    if isinstance(obj, str) and obj.startswith("int:"):
        return int(obj[4:])
    return obj


def rng_state() -> dict[str, Any]:
    """Global RNG states of python, numpy (legacy) and torch (CPU and every CUDA device)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state((npst["name"], keys, npst["pos"], npst["has_gauss"], npst["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TorchRNGStream:
    """A stream of torch's global CPU generator of its own, for code that draws with the global
    generator (``torch.randn_like``, ``torch.multinomial``) but must not consume the training
    stream, e.g. evaluating a stochastic policy. Under :meth:`active` the global generator holds
    this stream's state; afterwards it is back where it was, and the stream has advanced."""

    def __init__(self, seed: int) -> None:
        self.state = torch.Generator().manual_seed(seed).get_state()

    @contextmanager
    def active(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.state)
            yield
            self.state = torch.get_rng_state()
