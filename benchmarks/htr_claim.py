"""HTR claim experiment: with sparse rewards only, hindsight task relabelling lets PEARL learn to
reach goals it otherwise does not reach (Packer et al. 2021), at CPU scale (docs/htr.md).

    .venv/bin/python benchmarks/htr_claim.py --seeds 3 --iterations 160 --out results/htr/results.md

Sparse point robot, goal radius 0.1, 80 goals on the semicircle (40 train / 40 test). Three arms
with equal env and gradient steps: PEARL-sparse (sparse reward for the encoder AND the critic),
PEARL-dense-critic (oyster's default: sparse context, dense proxy reward for the critic) and HTR
(sparse everywhere, single-episode relabelling with p = 0.5 per meta-batch slot to a train goal
the episode reached). Reduced PEARL: 2x64
networks, meta-batch 8, RL batch 128, context 64, 8 tasks x (5 prior + 5 posterior episodes) and
250 gradient steps per iteration. Every 10 iterations: meta-test on all 40 test goals, 8
deterministic trajectories (z ~ prior for the first 3, then the posterior of all context so far);
"success" = the LAST trajectory enters the goal ball (the issue's metric); "post success" = the
fraction of trajectories 4-8 that do (the prototype's metric). Success is also broken down by goal
angle: a saturated (bang-bang) policy moves along the 0/45/90/135/180-degree lines and hits goals
near them by accident, so "off-line" goals (> 12 degrees from those lines) are reported apart.

Pass rule (fixed before the runs, for three arms): with success averaged over the
last 3 evaluations and over seeds, (a) HTR - PEARL-sparse >= 0.08, (b) HTR >= PEARL-dense-critic
- 0.05 (close to the dense proxy, or above it), and (c) HTR's first successful evaluation comes
before PEARL-sparse's on every seed. Our prototype measured the dense-critic arm near 0 at this budget,
so (b) may hold only because the proxy fails; the table says which.

Second setting, ``--goal-radius 0.2 --arms pearl_sparse,htr_ser`` (the weaker rule, fixed
before that run): on every seed HTR's first successful evaluation comes at most half as many
gradient steps in as PEARL-sparse's (never = infinitely late); no final-success gap is asserted.
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
ARMS = {"pearl_sparse": {}, "pearl_dense_critic": {"critic_reward": "dense"},
        "htr_ser": {"relabel_prob": 0.5, "relabel_strategy": "ser"}}


def off_line_goals(goals: np.ndarray, margin_deg: float = 12.0) -> np.ndarray:
    """Goals farther than ``margin_deg`` from the 0/45/90/135/180-degree lines."""
    angle = np.degrees(np.arctan2(goals[:, 1], goals[:, 0]))
    return np.abs(angle - 45.0 * np.round(angle / 45.0)) > margin_deg


def run_one(arm: str, seed: int, iterations: int, eval_every: int, goal_radius: float) -> dict:
    import torch

    from rlkit.algos.htr import PEARL, PEARLConfig
    from rlkit.envs.point_robot import SparsePointRobotEnv
    from rlkit.seeding import seed_everything

    torch.set_num_threads(1)
    seed_everything(seed)
    env_kwargs = {**ENV, "goal_radius": goal_radius}
    agent = PEARL(PEARLConfig(**{**REDUCED, **ARMS[arm]}), lambda: SparsePointRobotEnv(**env_kwargs), seed=seed)
    test = list(agent.env.test_tasks)
    off_line = off_line_goals(agent.env.task_goal(test))
    log, kl, per_goal, start = [], [], [], time.time()
    for it in range(1, iterations + 1):
        m = agent.train_step()
        kl.append(m["loss/kl"])
        if it % eval_every == 0:
            ev = agent.meta_test(test, runs=1)
            per_goal.append(ev["success"].tolist())
            log.append({"iteration": it, "grad_steps": it * REDUCED["num_train_steps_per_itr"],
                        "env_steps": m["train/env_steps"], "success": float(ev["success"].mean()),
                        "post_success": float(ev["post_success"].mean()),
                        "off_line_success": float(ev["success"][off_line].mean()),
                        "last_return": float(ev["return"].mean()), "kl": float(np.mean(kl[-eval_every:])),
                        "relabelled": m.get("htr/relabelled_slots", 0.0)})
    angles = np.degrees(np.arctan2(*agent.env.task_goal(test)[:, ::-1].T)).tolist()
    return {"arm": arm, "seed": seed, "log": log, "time_s": time.time() - start, "goal_angles": angles,
            "per_goal_success_last3": np.mean(per_goal[-3:], 0).tolist()}


def first_success(log: list[dict]) -> float:
    return next((r["grad_steps"] for r in log if r["success"] > 0), float("inf"))


def report(results: list[dict], args: argparse.Namespace, wall: float) -> str:
    if args.goal_radius != 0.1:
        return report_first_success(results, args, wall)
    seeds = sorted({r["seed"] for r in results})
    get = {(r["arm"], r["seed"]): r for r in results}
    last3 = lambda r, k: float(np.mean([x[k] for x in r["log"][-3:]]))
    arm_mean = lambda arm, k: float(np.mean([last3(get[(arm, s)], k) for s in seeds]))
    cmd = f".venv/bin/python benchmarks/htr_claim.py --seeds {args.seeds} --iterations {args.iterations}"
    lines = ["# HTR vs PEARL on the sparse point robot (goal radius 0.1)", "",
             f"Command: `{cmd}`  ",
             f"{args.iterations} iterations x 250 gradient steps = {args.iterations * 250:,} gradient steps "
             f"per run, seeds {seeds}, wall time {wall / 60:.1f} min on 2 CPU cores (1 torch thread per run).",
             "", "Pass rule (fixed before the runs): with success = last-trajectory success on the 40 test "
             "goals, averaged over the last 3 evaluations and the seeds, (a) HTR - PEARL-sparse >= 0.08, "
             "(b) HTR >= PEARL-dense-critic - 0.05, (c) HTR's first successful evaluation before "
             "PEARL-sparse's on every seed.", "",
             "| arm | success | off-line goals success | post-exploration success "
             "| last-trajectory sparse return | KL | first success (grad steps, per seed) |",
             "|---|---|---|---|---|---|---|"]
    for arm in ARMS:
        firsts = ", ".join(f"{first_success(get[(arm, s)]['log']):,.0f}" for s in seeds)
        cells = [f"{arm_mean(arm, k):.3f}" for k in ("success", "off_line_success", "post_success")]
        cells += [f"{arm_mean(arm, 'last_return'):.2f}", f"{arm_mean(arm, 'kl'):.2f}", firsts]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    htr, sparse, dense = (arm_mean(a, "success") for a in ("htr_ser", "pearl_sparse", "pearl_dense_critic"))
    earlier = all(first_success(get[("htr_ser", s)]["log"]) < first_success(get[("pearl_sparse", s)]["log"])
                  for s in seeds)
    checks = {"a": htr - sparse >= 0.08, "b": htr >= dense - 0.05, "c": earlier}
    lines += ["", f"**Verdict: {'PASS' if all(checks.values()) else 'FAIL'}** ("
              + ", ".join(f"({k}) {'holds' if v else 'fails'}" for k, v in checks.items())
              + f"; success HTR {htr:.3f}, PEARL-sparse {sparse:.3f}, PEARL-dense-critic {dense:.3f})", "",
              "Success by goal angle (last 3 evaluations, mean over seeds; 30-degree bins):", "",
              "| arm | " + " | ".join(f"{a}-{a + 30}" for a in range(0, 180, 30)) + " |", "|---" * 7 + "|"]
    for arm in ARMS:
        angles = np.array(get[(arm, seeds[0])]["goal_angles"])
        succ = np.mean([get[(arm, s)]["per_goal_success_last3"] for s in seeds], 0)
        bins = [succ[(angles >= a) & (angles < a + 30 + (a == 150))].mean() for a in range(0, 180, 30)]
        lines.append(f"| {arm} | " + " | ".join(f"{b:.2f}" for b in bins) + " |")
    lines += ["", "Success on the test goals over training (every 10 iterations):", ""]
    for arm in ARMS:
        for s in seeds:
            curve = " ".join(f"{x['success']:.2f}" for x in get[(arm, s)]["log"])
            lines.append(f"- {arm} seed {s}: {curve}")
    return "\n".join(lines) + "\n"


def report_first_success(results: list[dict], args: argparse.Namespace, wall: float) -> str:
    """The weaker rule of the module docstring (goal radius 0.2)."""
    seeds = sorted({r["seed"] for r in results})
    get = {(r["arm"], r["seed"]): r for r in results}
    cmd = (f".venv/bin/python benchmarks/htr_claim.py --seeds {args.seeds} --iterations {args.iterations} "
           f"--goal-radius {args.goal_radius} --arms {args.arms}")
    lines = [f"# HTR vs PEARL-sparse on the sparse point robot (goal radius {args.goal_radius})", "",
             f"Command: `{cmd}`  ", f"{args.iterations * 250:,} gradient steps per run, seeds {seeds}, "
             f"wall time {wall / 60:.1f} min on 2 CPU cores.", "",
             "Pass rule (fixed before the run): on every seed HTR's first successful evaluation "
             "comes at most half as many gradient steps in as PEARL-sparse's.", "",
             "| seed | PEARL-sparse first success | HTR first success | PEARL-sparse success (last 3) "
             "| HTR success (last 3) | HTR relabelled slots |", "|---|---|---|---|---|---|"]
    verdicts = []
    for s in seeds:
        p, h = get[("pearl_sparse", s)], get[("htr_ser", s)]
        fp, fh = first_success(p["log"]), first_success(h["log"])
        verdicts.append(fh < float("inf") and fh <= fp / 2)
        last = lambda r, k: np.mean([x[k] for x in r["log"][-3:]])
        lines.append(f"| {s} | {fp:,.0f} | {fh:,.0f} | {last(p, 'success'):.3f} | {last(h, 'success'):.3f} | "
                     f"{np.mean([x['relabelled'] for x in h['log']]):.3f} |")
    lines += ["", f"**Verdict: {'PASS' if all(verdicts) else 'FAIL'}**", "", "Success over training:", ""]
    for r in results:
        lines.append(f"- {r['arm']} seed {r['seed']}: " + " ".join(f"{x['success']:.2f}" for x in r["log"]))
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=160)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--goal-radius", type=float, default=0.1)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--out", default="results/htr/results.md")
    args = p.parse_args()
    start = time.time()
    arms = args.arms.split(",")
    jobs = [(arm, s, args.iterations, args.eval_every, args.goal_radius)
            for s in range(args.seeds) for arm in arms]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, *zip(*jobs, strict=True)))
    text = report(results, args, time.time() - start)
    print(text)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
