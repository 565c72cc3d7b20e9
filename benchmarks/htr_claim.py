"""HTR claim experiment: with sparse rewards only, hindsight task relabelling lets PEARL learn to
reach goals it otherwise does not reach (Packer et al. 2021), at CPU scale (spec §6.2-6.3).

    .venv/bin/python benchmarks/htr_claim.py --seeds 2 --iterations 200 --out docs/htr_results.md

Sparse point robot, goal radius 0.1, 80 goals on the semicircle (40 train / 40 test). Both arms use
the sparse reward for the encoder AND the critic; HTR adds single-episode relabelling with
p = 0.5 per meta-batch slot to a train goal the episode reached. Reduced PEARL (spec §6.2): 2x64
networks, meta-batch 8, RL batch 128, context 64, 8 tasks x (5 prior + 5 posterior episodes) and
250 gradient steps per iteration. Every 10 iterations: meta-test on all 40 test goals, 8
deterministic trajectories (z ~ prior for the first 3, then the posterior of all context so far);
"success" = fraction of trajectories 4-8 that enter the goal ball.

Pass rule (spec §6.3, fixed before the runs), at ~50k gradient steps: on EACH seed, HTR's mean
success over the last 3 evaluations exceeds PEARL-sparse's by >= 0.08, PEARL-sparse's mean KL over
the last 3 evaluations is < 1 (its encoder has not started to use z), and HTR's first successful
evaluation comes before PEARL-sparse's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV = {"num_tasks": 80, "num_train_tasks": 40, "goal_radius": 0.1}
REDUCED = dict(net_size=64, net_layers=2, encoder_hidden=(64, 64), meta_batch=8, num_initial_steps=200,
               num_tasks_sample=8, num_steps_prior=100, num_steps_posterior=100, num_train_steps_per_itr=250,
               batch_size=128, embedding_batch_size=64, num_exp_traj_eval=3, num_steps_per_eval=160,
               context_reward="sparse", critic_reward="sparse")
ARMS = {"pearl_sparse": {}, "htr_ser": {"relabel_prob": 0.5, "relabel_strategy": "ser"}}


def run_one(arm: str, seed: int, iterations: int, eval_every: int) -> dict:
    import torch

    from algos.htr import PEARL, PEARLConfig
    from envs.point_robot import SparsePointRobotEnv
    from rlkit.seeding import seed_everything

    torch.set_num_threads(1)
    seed_everything(seed)
    agent = PEARL(PEARLConfig(**REDUCED, **ARMS[arm]), lambda: SparsePointRobotEnv(**ENV), seed=seed)
    log, kl, start = [], [], time.time()
    for it in range(1, iterations + 1):
        m = agent.train_step()
        kl.append(m["loss/kl"])
        if it % eval_every == 0:
            ev = agent.evaluate(1)
            log.append({"iteration": it, "grad_steps": it * REDUCED["num_train_steps_per_itr"],
                        "env_steps": m["train/env_steps"], "success": ev["eval/post_exploration_success"],
                        "last_return": ev["eval/return"], "kl": float(np.mean(kl[-eval_every:])),
                        "relabelled": m.get("htr/relabelled_slots", 0.0)})
    return {"arm": arm, "seed": seed, "log": log, "time_s": time.time() - start}


def first_success(log: list[dict]) -> float:
    return next((r["grad_steps"] for r in log if r["success"] > 0), float("inf"))


def report(results: list[dict], args: argparse.Namespace, wall: float) -> str:
    seeds = sorted({r["seed"] for r in results})
    get = {(r["arm"], r["seed"]): r for r in results}
    last3 = lambda r, k: float(np.mean([x[k] for x in r["log"][-3:]]))
    cmd = f".venv/bin/python benchmarks/htr_claim.py --seeds {args.seeds} --iterations {args.iterations}"
    lines = ["# HTR vs PEARL-sparse on the sparse point robot (goal radius 0.1)", "",
             f"Command: `{cmd}`  ",
             f"{args.iterations} iterations x 250 gradient steps = {args.iterations * 250:,} gradient steps "
             f"per run, seeds {seeds}, wall time {wall / 60:.1f} min on 2 CPU cores (1 torch thread per run).",
             "", "Pass rule (spec §6.3, fixed before the runs): on each seed, HTR success (mean of the last 3 "
             "evals) - PEARL-sparse success >= 0.08, PEARL-sparse KL < 1, and HTR's first success before "
             "PEARL-sparse's.", "",
             "| seed | arm | success (last 3 evals) | last-trajectory return | KL (last 3) "
             "| first success (grad steps) | relabelled slots |", "|---|---|---|---|---|---|---|"]
    verdicts = []
    for s in seeds:
        for arm in ARMS:
            r = get[(arm, s)]
            cells = [f"{last3(r, 'success'):.3f}", f"{last3(r, 'last_return'):.2f}", f"{last3(r, 'kl'):.2f}",
                     f"{first_success(r['log']):,.0f}", f"{last3(r, 'relabelled'):.2f}"]
            lines.append(f"| {s} | {arm} | " + " | ".join(cells) + " |")
        h, p = get[("htr_ser", s)], get[("pearl_sparse", s)]
        verdicts.append(last3(h, "success") - last3(p, "success") >= 0.08 and last3(p, "kl") < 1
                        and first_success(h["log"]) < first_success(p["log"]))
    per_seed = ", ".join(f"seed {s} {'pass' if v else 'fail'}" for s, v in zip(seeds, verdicts, strict=True))
    lines += ["", f"**Verdict: {'PASS' if all(verdicts) else 'FAIL'}** (per seed: {per_seed})",
              "", "Success on the 40 test goals over training (every 10 iterations):", ""]
    for arm in ARMS:
        for s in seeds:
            curve = " ".join(f"{x['success']:.2f}" for x in get[(arm, s)]["log"])
            lines.append(f"- {arm} seed {s}: {curve}")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="docs/htr_results.md")
    args = p.parse_args()
    start = time.time()
    jobs = [(arm, s, args.iterations, args.eval_every) for s in range(args.seeds) for arm in ARMS]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, *zip(*jobs, strict=True)))
    text = report(results, args, time.time() - start)
    print(text)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
