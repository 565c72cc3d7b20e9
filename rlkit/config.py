"""Shared configuration helpers: one-line config errors, device and thread resolution."""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from typing import Any

import torch


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key and the fix (no traceback)."""


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"algo.lr": 0.001, ...}`` (dotted keys, leaves as they are)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flatten(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device}: CUDA is not available on this machine; "
                              "use device=cpu or device=auto")
        return torch.device(device)
    raise ConfigError(f"device={device!r} is unknown; choose one of auto, cpu, cuda")


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads and numpy/scipy's BLAS threads (one thread is often several
    times faster for small networks and small linear algebra than one per core, and workers on
    every core would otherwise oversubscribe them). ``None``: the CPUs Slurm allocated to the job
    (``SLURM_CPUS_PER_TASK``), else 1."""
    from threadpoolctl import threadpool_limits

    if threads is None:
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))
    if threads < 1:
        raise ConfigError(f"threads={threads} must be >= 1")
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")
    return threads


def check(cond: bool, key: str, value: Any, rule: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` when ``cond`` is false."""
    if not cond:
        raise ConfigError(f"{key}={value!r} is invalid: {rule}")


def check_positive(cfg: Any, *names: str, allow_zero: bool = False) -> None:
    """Check that the named numeric fields of a dataclass config are > 0 (or >= 0)."""
    for name in names:
        value = getattr(cfg, name)
        ok = value >= 0 if allow_zero else value > 0
        check(ok, name, value, "must be >= 0" if allow_zero else "must be > 0")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp)


def _matches(value: Any, tp: Any) -> bool:
    """Whether a config value fits the annotation ``tp`` (ints count as floats; lists as tuples)."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return isinstance(value, (tuple, list)) and all(_matches(v, args[0]) for v in value) if args else \
            isinstance(value, (tuple, list))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, tp) if isinstance(tp, type) else True


def check_types(config_class: type, values: dict[str, Any], prefix: str) -> None:
    """One-line :class:`ConfigError` for a value whose type does not fit its dataclass field
    (``algo.lr: expected float, got 'abc'``)."""
    hints = typing.get_type_hints(config_class)
    for key, value in values.items():
        if key in hints and not _matches(value, hints[key]):
            raise ConfigError(f"{prefix}.{key}: expected {_type_name(hints[key])}, got {value!r}")


def build_config(config_class: type, values: dict[str, Any], prefix: str = "algo") -> Any:
    """Construct a config dataclass, turning unknown keys (with the closest valid key) and values of
    the wrong type into a one-line :class:`ConfigError`."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - fields)
    if unknown:
        hints = [f"{prefix}.{k}" + (f" (did you mean {prefix}.{close[0]}?)"
                                    if (close := difflib.get_close_matches(k, fields, 1)) else "")
                 for k in unknown]
        raise ConfigError(f"unknown key(s) {', '.join(hints)} for {config_class.__name__}; valid keys: "
                          f"{', '.join(sorted(fields))}")
    check_types(config_class, values, prefix)
    try:
        return config_class(**values)
    except ConfigError as err:  # value checks name the bare field; add the group
        raise ConfigError(f"{prefix}.{err}") from None
