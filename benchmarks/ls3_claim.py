"""LS3 claim experiment on navigation at CPU scale (docs/ls3.md): from suboptimal demos, LS3 succeeds in
nearly every episode with (near) zero constraint violations; without the constraint machinery it
violates often; without the safe set it loses success.

    .venv/bin/python benchmarks/ls3_claim.py --seeds 3 --out results/ls3/results.md
    .venv/bin/python benchmarks/ls3_claim.py --seeds 3 --set dynamics_noise=false \
        --out results/ls3/results_mean_dynamics.md

``--set key=value`` changes an algo config value in every arm (the planner variant under test).

Settings: conf/experiment/ls3_navigation_cpu.yaml (32x32 images, small VAE), with the
pretraining counts given below. Per seed, the offline stages (teacher data, VAE, latent models) run
once; the three arms start from copies of the same pretrained modules and run the same number of
online episodes with the same updates (4 iterations x 5 episodes):

- LS3: the full planner;
- no constraints: ``safe_set_ignore`` + ``constr_ignore``;
- no safe set: ``safe_set_ignore``.

Pass rule (fixed before the run): LS3's success rate >= 0.7 and violation
rate <= 0.1 (means over seeds and episodes), and the no-constraint arm's violation rate >=
max(3 x LS3's, 1/3). The no-safe-set arm is reported, not gated. References: the demos return
about -84 (100% success), a near-optimal route about -41.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARMS = {"ls3": {}, "no_constraints": {"safe_set_ignore": True, "constr_ignore": True},
        "no_safe_set": {"safe_set_ignore": True}}
PRETRAIN = {"dyn_pretrain": 5000, "val_mc_pretrain": 3000, "val_td_pretrain": 3000, "safe_pretrain": 3000,
            "constr_pretrain": 1500, "goal_pretrain": 1500}


def ls3_config(overrides: dict) -> tuple[dict, dict]:
    """(algo config dict, env kwargs) of experiment=ls3_navigation_cpu plus ``overrides``."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=ls3_navigation_cpu"])
    algo = OmegaConf.to_container(cfg.algo) | PRETRAIN | overrides
    return algo, OmegaConf.to_container(cfg.env)["kwargs"]


def parse_overrides(items: list[str]) -> dict:
    """``key=value`` pairs (values parsed as YAML: true, 0.5, ...) applied to every arm."""
    import yaml

    pairs = [item.split("=", 1) for item in items]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit(f"--set takes key=value pairs, got {items}")
    return {k: yaml.safe_load(v) for k, v in pairs}


def run_seed(seed: int, episodes: int, threads: int, overrides: dict) -> dict:
    import torch

    from rlkit.env_spec import EnvSpec
    from rlkit.runner import build_algorithm
    from rlkit.seeding import seed_everything

    torch.set_num_threads(threads)
    seed_everything(seed)
    algo_cfg, env_kwargs = ls3_config(overrides)
    spec = EnvSpec("rlkit/LS3Navigation-v0", env_kwargs)
    base = build_algorithm(algo_cfg, spec, torch.device("cpu"), seed)
    start = time.time()
    base.prepare()
    prep_time, state = time.time() - start, copy.deepcopy(base.state_dict())
    out = {"seed": seed, "prepare_s": prep_time, "arms": {}}
    for arm, flags in ARMS.items():
        seed_everything(seed)
        agent = build_algorithm(ls3_config(overrides | flags)[0], spec, torch.device("cpu"), seed)
        agent.load_state_dict(copy.deepcopy(state))
        t0 = time.time()
        runs = [agent.train_step() for _ in range(episodes)]
        out["arms"][arm] = {"episodes": [{k.split("/")[1]: v for k, v in r.items() if k.startswith("ls3/")}
                                         for r in runs], "time_s": time.time() - t0}
    return out


def report(results: list[dict], args: argparse.Namespace, wall: float) -> tuple[str, bool]:
    cmd = f".venv/bin/python benchmarks/ls3_claim.py --seeds {args.seeds} --episodes {args.episodes}"
    cmd += "".join(f" --set {item}" for item in args.set) + f" --out {args.out}"
    rate = lambda arm, k: float(np.mean([e[k] for r in results for e in r["arms"][arm]["episodes"]]))
    last = lambda arm: float(np.mean([e["return"] for r in results for e in r["arms"][arm]["episodes"][-5:]]))
    lines = ["# LS3 on navigation (CPU scale)", "", f"Command: `{cmd}`  ",
             f"Seeds {[r['seed'] for r in results]}, {args.episodes} online episodes per arm "
             f"(updates after every 5), wall time {wall / 60:.1f} min on 2 CPU cores.", "",
             "Pass rule (fixed before the run): LS3 success >= 0.7 and violations <= 0.1; the no-constraint "
             "arm's violation rate >= max(3 x LS3's, 1/3).", "",
             "| arm | success rate | violation rate | mean return | return, last 5 episodes | random actions / "
             "episode | delta_S relaxations / episode |", "|---|---|---|---|---|---|---|"]
    for arm in ARMS:
        lines.append(f"| {arm} | {rate(arm, 'success'):.2f} | {rate(arm, 'constraint'):.2f} | "
                     f"{rate(arm, 'return'):.1f} | {last(arm):.1f} | {rate(arm, 'random_actions'):.1f} | "
                     f"{rate(arm, 'relaxations'):.1f} |")
    ok = (rate("ls3", "success") >= 0.7 and rate("ls3", "constraint") <= 0.1
          and rate("no_constraints", "constraint") >= max(3 * rate("ls3", "constraint"), 1 / 3))
    lines += ["", "References: demos about -84 (100% success, 0 violations), near-optimal about -41.", "",
              f"**Verdict: {'PASS' if ok else 'FAIL'}**", "",
              "Per seed (success / violations / mean return):", ""]
    for r in results:
        cells = [f"{arm} {np.mean([e['success'] for e in r['arms'][arm]['episodes']]):.2f} / "
                 f"{np.mean([e['constraint'] for e in r['arms'][arm]['episodes']]):.2f} / "
                 f"{np.mean([e['return'] for e in r['arms'][arm]['episodes']]):.1f}" for arm in ARMS]
        lines.append(f"- seed {r['seed']} (offline stages {r['prepare_s'] / 60:.1f} min): " + "; ".join(cells))
    return "\n".join(lines) + "\n", ok


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="results/ls3/results.md")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an algo config value for every arm, e.g. dynamics_noise=false")
    args = p.parse_args()
    overrides = parse_overrides(args.set)
    start = time.time()
    seeds = list(range(args.seeds))
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_seed, seeds, [args.episodes] * len(seeds), [1] * len(seeds),
                                [overrides] * len(seeds)))
    text, _ = report(results, args, time.time() - start)
    print(text)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
