"""One seed -> python / numpy / torch / env seeds, and capture/restore of every RNG state.

Captured states contain only tensors, numbers, strings, lists and dicts, so checkpoints load with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import numpy as np
import torch

F = TypeVar("F", bound=Callable[..., Any])

#: Evaluation never draws from a run's training streams: ``evaluate(n)`` of an agent with seed s
#: resets its dedicated evaluation env with seeds ``s + EVAL_SEED_OFFSET + k``, k = 0..n-1, and
#: seeds its evaluation generators (policy sampling, planner noise, latent samples, held-out
#: problem draws) from ``s + EVAL_SEED_OFFSET``, afresh at every call; ``evaluate(n, seed=e)``
#: uses e instead. One constant for every algorithm.
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
    name, keys, pos, has_gauss, cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
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
    """A stream of torch's global generators of its own (CPU, and the CUDA device when given), for
    code that draws with the global generators (``torch.randn_like``, dropout, ``multinomial``).
    Under :meth:`active` the global generators hold this stream's state; afterwards they are back
    where they were, and the stream has advanced. Nested ``active`` calls share the outer one."""

    def __init__(self, seed: int, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.state = torch.Generator().manual_seed(seed).get_state()
        self.cuda_state = None
        if self.device.type == "cuda":
            self.cuda_state = torch.Generator(device=self.device).manual_seed(seed).get_state()
        self._depth = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        if self._depth:
            yield
            return
        cuda = [self.device] if self.cuda_state is not None else []
        with torch.random.fork_rng(devices=cuda, device_type="cuda"):
            torch.set_rng_state(self.state)
            if self.cuda_state is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                self.state = torch.get_rng_state()
                if cuda:
                    self.cuda_state = torch.cuda.get_rng_state(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"cpu": self.state, "cuda": self.cuda_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = state["cpu"]
        if state.get("cuda") is not None and self.cuda_state is not None:
            self.cuda_state = state["cuda"]


def own_torch_rng(method: F) -> F:
    """Run an agent's method on the agent's own torch stream ``self.torch_stream``, so that the
    agent is determined by its seed alone (no global ``seed_everything`` needed) and leaves the
    global generators alone. Decorating ``__init__(self, cfg, env, *, device, seed)`` creates the
    stream from ``seed`` first, so network initialisation draws from it too, and records the env
    the agent was built on (``init_env``, for ``agent.save``)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if method.__name__ == "__init__" and not hasattr(self, "torch_stream"):
            self.torch_stream = TorchRNGStream(int(kwargs.get("seed", 0)), kwargs.get("device"))
            self.init_env = args[1] if len(args) > 1 else kwargs.get("env")
        with self.torch_stream.active():
            return method(self, *args, **kwargs)

    return call  # type: ignore[return-value]


def eval_seed(agent_seed: int, seed: int | None) -> int:
    """The seed of an evaluation call: ``seed`` when given, else the run's documented evaluation
    seed ``agent_seed + EVAL_SEED_OFFSET`` (so the same call always returns the same numbers)."""
    return agent_seed + EVAL_SEED_OFFSET if seed is None else int(seed)
