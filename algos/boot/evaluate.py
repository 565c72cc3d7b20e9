"""Evaluate a trained BooT / TT run: N episodes planned in one batch, D4RL normalised score.

    python -m rlkit.algos.boot.evaluate <run_dir> --episodes 15 [--beam-width 128] [--device auto]

Reads ``<run_dir>/config.yaml`` and ``<run_dir>/checkpoints/last.pt``; prints one line per metric
and writes ``<run_dir>/evaluation.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from rlkit.checkpoint import load_checkpoint
from rlkit.config import resolve_device, set_threads
from rlkit.env_spec import env_spec_from_config
from rlkit.runner import build_algorithm


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--episodes", type=int, default=15)
    p.add_argument("--beam-width", type=int, default=None, help="override the planner's beam width")
    p.add_argument("--device", default=None, help="auto | cpu | cuda (default: the run's)")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    cfg = OmegaConf.load(args.run_dir / "config.yaml")
    algo_cfg = cast(dict[str, Any], OmegaConf.to_container(cfg.algo, resolve=True))
    if args.beam_width is not None:
        algo_cfg["beam_width"] = args.beam_width
    env = env_spec_from_config(cast(dict[str, Any], OmegaConf.to_container(cfg.env, resolve=True)))
    set_threads(None if cfg.threads is None else int(cfg.threads))
    device = resolve_device(args.device or str(cfg.device))
    seed = int(cfg.seed if args.seed is None else args.seed)
    algo = build_algorithm(algo_cfg, env, device, seed)
    algo.load_state_dict(load_checkpoint(args.run_dir / "checkpoints" / "last.pt")["algo"])
    out = algo.evaluate(args.episodes)
    for k, v in out.items():
        print(f"{k}: {v:.4f}")
    (args.run_dir / "evaluation.json").write_text(json.dumps({"episodes": args.episodes, **out}, indent=2))
    return out


if __name__ == "__main__":
    main()
