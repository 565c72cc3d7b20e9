"""Capture and restore the state of gymnasium environments for exact resume.

Gymnasium has no state API, so this walks the objects that make up an env: a vector env, its
sub-envs, each wrapper and the unwrapped env. From each it keeps the plain attributes (arrays,
numbers, strings, ``None``, numpy ``Generator`` states, and lists/tuples of those). MuJoCo envs add
their full integration state (``mj_getState``). An env that needs more implements
``state_dict()`` / ``load_state_dict(state)`` itself, which takes precedence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.seeding import generator_state, set_generator_state

_SCALARS = (bool, int, float, str, type(None), np.bool_, np.integer, np.floating)


def _encode(value: Any) -> tuple[bool, Any]:
    """Return (ok, encoded) for a value that can be stored in a weights-only checkpoint."""
    if isinstance(value, np.random.Generator):
        return True, {"__generator__": generator_state(value)}
    if isinstance(value, np.ndarray) and value.dtype != object:
        return True, {"__ndarray__": torch.from_numpy(value.copy()), "dtype": str(value.dtype)}
    if isinstance(value, _SCALARS):
        return True, value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple)):
        items = [_encode(v) for v in value]
        if all(ok for ok, _ in items):
            return True, {"__seq__": [v for _, v in items], "tuple": isinstance(value, tuple)}
    return False, None


def _decode(value: Any, current: Any) -> Any:
    if isinstance(value, dict) and "__generator__" in value:
        if not isinstance(current, np.random.Generator):     # e.g. an env not reset yet (np_random None)
            current = np.random.Generator(getattr(np.random, value["__generator__"]["bit_generator"])())
        set_generator_state(current, value["__generator__"])
        return current
    if isinstance(value, dict) and "__ndarray__" in value:
        return value["__ndarray__"].numpy().astype(value["dtype"], copy=True)
    if isinstance(value, dict) and "__seq__" in value:
        cur = current if isinstance(current, (list, tuple)) else [None] * len(value["__seq__"])
        items = [_decode(v, c) for v, c in zip(value["__seq__"], cur, strict=False)]
        return tuple(items) if value["tuple"] else items
    return value


def _object_state(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, torch.nn.Module):
        return {"__custom__": obj.state_dict()}
    state = {}
    for name, value in vars(obj).items():
        ok, enc = _encode(value)
        if ok:
            state[name] = enc
    mj = _mujoco_state(obj)
    if mj is not None:
        state["__mujoco__"] = mj
    return state


def _load_object_state(obj: Any, state: dict[str, Any]) -> None:
    if "__custom__" in state:
        obj.load_state_dict(state["__custom__"])
        return
    for name, value in state.items():
        if name == "__mujoco__":
            _set_mujoco_state(obj, value)
        else:
            setattr(obj, name, _decode(value, getattr(obj, name, None)))


def _mujoco_state(obj: Any) -> torch.Tensor | None:
    model, data = getattr(obj, "model", None), getattr(obj, "data", None)
    if type(data).__name__ != "MjData":
        return None
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    buf = np.empty(mujoco.mj_stateSize(model, spec), dtype=np.float64)
    mujoco.mj_getState(model, data, buf, spec)
    return torch.from_numpy(buf)


def _set_mujoco_state(obj: Any, buf: torch.Tensor) -> None:
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    mujoco.mj_setState(obj.model, obj.data, buf.numpy().copy(), spec)
    mujoco.mj_forward(obj.model, obj.data)


def _chain(env: Any) -> list[Any]:
    """The objects an env is made of, outermost first (vector env, then each sub-env chain)."""
    objs, stack = [], [env]
    while stack:
        obj = stack.pop(0)
        objs.append(obj)
        if hasattr(obj, "envs") and isinstance(obj.envs, (list, tuple)):
            stack.extend(obj.envs)
        elif hasattr(obj, "env") and obj.env is not obj:
            stack.append(obj.env)
    return objs


def env_state(env: Any) -> list[dict[str, Any]]:
    """State of every object in ``env``'s wrapper chain (see module docstring)."""
    return [_object_state(obj) for obj in _chain(env)]


def load_env_state(env: Any, state: list[dict[str, Any]]) -> None:
    """Restore a state captured by :func:`env_state` on an env built the same way."""
    objs = _chain(env)
    if len(objs) != len(state):
        raise ValueError(f"env state has {len(state)} parts but the env has {len(objs)}: "
                         "resume with the same env configuration as the checkpointed run")
    for obj, part in zip(objs, state, strict=True):
        _load_object_state(obj, part)
