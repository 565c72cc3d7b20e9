"""RLQP claim experiment: a learned per-constraint rho policy needs far fewer ADMM iterations.

    .venv/bin/python benchmarks/rlqp_claim.py --episodes 1000 --out results/rlqp/results.md

Train RLQP (defaults of RLQPConfig: the paper's parametrisation, CPU schedule) on small mixed-class
QPs for a fixed number of episodes, then compare on problems never seen in training:
(a) held-out QPs of the training classes and sizes, (b) larger QPs of every class (Eq QP is a
class never trained on), (c) the Maros-Meszaros problems of --mm-dir with n + m <= --mm-max.

Pass rule (fixed before the run): on (a), the learned policy's mean ADMM iterations are at most
1/3 of OSQP's (adaptive rho, 1.x default), and at most those of the hand active-set rule.
Unsolved problems count at the iteration cap. Methods share eps, checks every 25 iterations and a
rho decision every K = 50 iterations.

With ``--validate-every N`` the learned policy is the snapshot, taken every N episodes, with the
fewest mean iterations on validation problems of the training distribution (the agent's own
held-out draw, disjoint from the training problems and from sets (a)-(c)); the final policy is
reported beside it and the validation curve is written to the log. The training state is saved to
``--checkpoint`` at every validation, and a rerun with the same arguments resumes from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.algos.rlqp import RLQP, ActiveSetRule, RLQPConfig  # noqa: E402
from rlkit.algos.rlqp.agent import TEST_SEED  # noqa: E402
from rlkit.algos.rlqp.report import compare  # noqa: E402
from rlkit.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from rlkit.envs.qp.env import QPSampler  # noqa: E402
from rlkit.envs.qp.problems import generate, load_maros_meszaros  # noqa: E402

LARGER = {"random_qp": (50, 100), "eq_qp": (20, 60), "portfolio": (6, 10), "lasso": (6, 10),
          "svm": (6, 10), "control": (10, 20), "huber": (4, 5)}


def problem_sets(classes: dict, per_class: int, larger_per_class: int, mm_max: int, seed: int):
    held = QPSampler(classes, seed + TEST_SEED)
    sets = {"held-out (train classes and sizes)": [held() for _ in range(per_class * len(classes))]}
    rng = np.random.default_rng(seed + 30_000_001)
    sets["larger / unseen class"] = [generate(c, int(rng.integers(lo, hi + 1)), rng)
                                     for c, (lo, hi) in LARGER.items() for _ in range(larger_per_class)]
    mm = []
    for path in sorted((ROOT.parent / "shared" / "data" / "maros_meszaros").glob("*.mat")):
        qp = load_maros_meszaros(str(path))
        if qp.n + qp.m <= mm_max:
            mm.append(qp)
    sets["Maros-Meszaros"] = mm
    return sets


class Run:
    """Training with periodic validation, best-snapshot selection and checkpoint/resume."""

    def __init__(self, agent: RLQP, args: argparse.Namespace) -> None:
        self.agent, self.args = agent, args
        self.curve: list[tuple[int, float]] = []
        self.best: tuple[float, dict] | None = None
        self.train_time = 0.0
        if args.checkpoint and Path(args.checkpoint).is_file():
            state = load_checkpoint(args.checkpoint)
            agent.load_state_dict(state["agent"])
            torch.set_rng_state(state["torch_rng"])
            self.curve = [tuple(c) for c in state["curve"]]
            self.best = (state["best_iterations"], state["best_actor"])
            self.train_time = state["train_time"]
            print(f"resumed from {args.checkpoint} at episode {agent.episodes}", flush=True)

    def train(self, episodes: int) -> None:
        """Episodes up to ``episodes``; ``train_time`` counts training only, not validation."""
        agent, every = self.agent, self.args.validate_every
        while agent.episodes < episodes:
            t0 = time.perf_counter()
            m = agent.train_step()
            self.train_time += time.perf_counter() - t0
            if agent.episodes % 50 == 0:
                print(f"episode {agent.episodes}: {m['train/episode_iterations']:.0f} its, "
                      f"{self.train_time:.0f}s", flush=True)
            if every and agent.episodes % every == 0:
                self.validate()

    def validate(self) -> None:
        """Mean iterations of the current policy on the validation problems; keep the best."""
        agent = self.agent
        ev = agent.evaluate(0)
        its = ev["eval/iterations"]
        self.curve.append((agent.episodes, its))
        if self.best is None or its < self.best[0]:
            self.best = (its, {k: v.clone() for k, v in agent.learner.actor.state_dict().items()})
        print(f"validation at episode {agent.episodes}: {its:.1f} mean its, osqp "
              f"{ev['eval/osqp_iterations']:.1f} (best {self.best[0]:.1f})", flush=True)
        if self.args.checkpoint:
            save_checkpoint({"agent": agent.state_dict(), "torch_rng": torch.get_rng_state(),
                             "curve": self.curve, "best_iterations": self.best[0],
                             "best_actor": self.best[1], "train_time": self.train_time},
                            self.args.checkpoint)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", default="paper")
    p.add_argument("--per-class", type=int, default=8)
    p.add_argument("--larger-per-class", type=int, default=3)
    p.add_argument("--mm-max", type=int, default=1500)
    p.add_argument("--out", default="results/rlqp/results.md")
    p.add_argument("--policy-out", default="runs/rlqp/policy.pt")
    p.add_argument("--validate-every", type=int, default=0,
                   help="episodes between validation snapshots (0: report the final policy only)")
    p.add_argument("--val-per-class", type=int, default=4)
    p.add_argument("--checkpoint", default=None, help="training state, saved at every validation")
    p.add_argument("--buffer-rows", type=int, default=RLQPConfig.buffer_rows,
                   help="replay capacity in constraint-row transitions")
    p.add_argument("--lr", type=float, default=RLQPConfig.lr, help="Adam step size of actor and critic")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = RLQPConfig(param=args.param, eval_per_class=args.val_per_class if args.validate_every else 1,
                     buffer_rows=args.buffer_rows, lr=args.lr)
    agent = RLQP(cfg, seed=args.seed)
    run = Run(agent, args)
    run.train(args.episodes)
    Path(args.policy_out).parent.mkdir(parents=True, exist_ok=True)
    final = agent.policy()
    final.save(args.policy_out)
    learned = {"RLQP (learned)": final}
    if args.validate_every:
        best = agent.policy(run.best[1])
        best.save(Path(args.policy_out).with_name(Path(args.policy_out).stem + "_best.pt"))
        learned = {"RLQP (learned)": best, "RLQP (final episode)": final}
    train_time = run.train_time

    settings = agent.solve_settings()
    methods = {"osqp default (adaptive rho)": "osqp", "fixed rho = 0.1": "fixed",
               "hand active-set rule": ActiveSetRule(), **learned}
    sets = problem_sets(agent.env.sampler.classes, args.per_class, args.larger_per_class,
                        args.mm_max, args.seed)
    lines = [f"Command: `.venv/bin/python benchmarks/rlqp_claim.py --episodes {args.episodes} "
             f"--seed {args.seed} --param {args.param}"
             + (f" --validate-every {args.validate_every}" if args.validate_every else "")
             + (f" --buffer-rows {args.buffer_rows}" if args.buffer_rows != RLQPConfig.buffer_rows else "")
             + (f" --lr {args.lr:g}" if args.lr != RLQPConfig.lr else "")
             + "`  ",
             f"Training: {args.episodes} episodes, {train_time / 60:.1f} min on this CPU "
             f"(1 torch thread); eps = {settings.eps_abs:g}, cap {settings.max_iter} iterations.", ""]
    if args.validate_every:
        curve = ", ".join(f"{ep}: {its:.0f}" for ep, its in run.curve)
        lines += [f"Validation ({len(agent.eval_set)} problems of the training distribution, mean "
                  f"iterations by episode): {curve}. RLQP (learned) = the best snapshot "
                  f"({run.best[0]:.0f}); RLQP (final episode) = the policy after the last episode.", ""]
    verdict = {}
    for set_name, problems in sets.items():
        rows, verdict[set_name] = compare(problems, methods, settings, set_name)
        lines += rows
    held = verdict["held-out (train classes and sizes)"]
    ratio = held["osqp default (adaptive rho)"] / held["RLQP (learned)"]
    ok = ratio >= 3.0 and held["RLQP (learned)"] <= held["hand active-set rule"]
    lines += [f"**Pass rule** (held-out, mean iterations): RLQP <= osqp / 3 and <= hand rule. "
              f"Measured: osqp {held['osqp default (adaptive rho)']:.0f}, hand rule "
              f"{held['hand active-set rule']:.0f}, RLQP {held['RLQP (learned)']:.0f} "
              f"({ratio:.2f}x fewer than osqp): **{'PASS' if ok else 'FAIL'}**."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
