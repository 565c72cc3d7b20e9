"""Shared configuration helpers: one-line config errors, device and thread resolution."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key and the fix (no traceback)."""


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


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads (1 is often 10x faster than the default for small nets)."""
    if threads < 1:
        raise ConfigError(f"threads={threads} must be >= 1")
    torch.set_num_threads(threads)


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


def build_config(config_class: type, values: dict[str, Any], prefix: str = "algo") -> Any:
    """Construct a config dataclass, turning unknown keys into a one-line :class:`ConfigError`."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(f'{prefix}.{k}' for k in unknown)} for "
                          f"{config_class.__name__}; valid keys: {', '.join(sorted(fields))}")
    try:
        return config_class(**values)
    except ConfigError as err:  # value checks name the bare field; add the group
        raise ConfigError(f"{prefix}.{err}") from None
