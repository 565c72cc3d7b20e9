"""BooT's claim on CPU: training on its own confident generations gives a better sequence model.

Data: ``local:pendulum_mixed`` (6,000 steps of a noisy swing-up controller + random actions),
held-out ``pendulum_mixed_iid`` (same behaviours, new seeds) and ``pendulum_mixed_shifted`` (other
gains, sigma 1.0). Model (our CPU setting, docs/boot.md): 2 layers, 4 heads, width 64, dropout 0.1, batch 64,
lr 1e-3, ``--epochs`` epochs of the 5,970 windows (13 -> 1,222 real-data steps), warmup and cosine
scaled from the official 1/50 and 20/50 of training, bootstrapping from 40% of the epochs,
generation_num 4 with ratio 0.04 (10 of 256 candidates kept per batch, as the paper's 10 of 256).

Arms, same seeds and real-batch order:
  A  TT                      no bootstrapping
  B  TT + matched updates    one extra step per batch on 10 random REAL windows (the control)
  C  BooT-once, teacher forcing
  D  BooT-once, autoregressive (KV-cached generation, dropout on as in the official code)

Metrics: held-out next-token NLL (the training loss on held-out windows, and nats/token per token
type) every 2 epochs and at the end; generation validity for C and D (bin-space RMSE between the
generated s_t and the true s_t, which the deterministic simulator gives as the data's own next
state, against the model's argmax error on real held-out windows; and the generated reward token
against the reward of the generated (s_t, a_t)); beam-search return (beam 16, horizon 5, n_expand 2,
context 3, 4 episodes of 200 steps planned in one batch).

Decision rule, fixed before the run: BooT is confirmed on this toy if C or D has a lower final IID
held-out loss than BOTH A and B on every seed, and its generated-state RMSE is within 1.5x the
model's real-data argmax error. If C/D beat A but not B, the gain comes from the extra updates,
not from the generated data.

    .venv/bin/python benchmarks/boot_claim.py --seeds 3 --workers 2 --out results/boot/results.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

ARMS = {"A: TT": dict(bootstrap=False),
        "B: TT + matched real updates": dict(bootstrap_control=True),
        "C: BooT-once TF": dict(generation_type="teacherforcing"),
        "D: BooT-once AR": dict(generation_type="autoregressive", generation_cache=True),
        # optional arm, not part of the decision rule
        "E: BooT-repeat TF": dict(generation_type="teacherforcing", bootstrap_type="repeat")}
RULE_ARMS = ("C: BooT-once TF", "D: BooT-once AR")


def _config(arm: str, epochs: int, n_layer: int = 2, n_embd: int = 16):
    from rlkit.algos.boot import BooTConfig

    return BooTConfig(n_layer=n_layer, n_head=4, n_embd=n_embd, dropout=0.1, batch_size=64, learning_rate=1e-3,
                      n_epochs=epochs, warmup_epochs=epochs / 50, final_epochs=0.4 * epochs,
                      generation_epoch_thresh=0.4, generation_num=4, generation_confidence_factor=0.04,
                      beam_width=16, horizon=5, n_expand=2, max_context_transitions=3, **ARMS[arm])


def _validity(agent, n_batches: int = 20) -> dict[str, float]:
    """Generate from training batches with the final model; compare with the simulator's truth."""
    import torch

    from rlkit.algos.boot.data import joined_transitions
    from rlkit.algos.boot.generation import generate
    from rlkit.data import load_dataset

    eps, _ = joined_transitions(load_dataset(agent.source), agent.cfg.discount, agent.cfg.termination_penalty)
    K, D = agent.cfg.seq_len, agent.windows.transition_dim
    cont = np.concatenate([np.concatenate([e, np.zeros((K - 1, D))]) for e in eps])
    disc, gen = agent.discretizer, agent.cfg.generation()
    gen.confidence_type = "none"          # score every candidate; keep the top 4% below
    state_err, rew_err, with_stop = [], [], 0
    g = torch.Generator().manual_seed(123)
    for _ in range(n_batches):
        idx = torch.randint(0, len(agent.windows), (agent.cfg.batch_size,), generator=g)
        X, Y, mask = agent.windows.batch(idx)
        agent.model.train(agent.cfg.generation_dropout)
        with torch.no_grad():
            seqs, _, conf = generate(agent.model, X, Y, mask, gen, g)
        kept = torch.topk(conf, int(len(conf) * agent.cfg.generation_confidence_factor)).indices
        num = gen.num
        rows = kept % len(idx) if gen.kind in ("teacherforcing", "tf") else kept // num
        for k, r in zip(kept.tolist(), rows.tolist(), strict=True):
            last = int(agent.windows.window_rows[idx[r]]) + K - 1
            if agent.windows.tokens[last, 0] == disc.n_bins:     # regenerated a stop transition
                continue
            true_s = disc.discretize(cont[last, :3])
            gen_tok = seqs[k].view(K, D)[-1].numpy()
            if (gen_tok == disc.n_bins).any():                    # generated a stop token: counted apart
                with_stop += 1
                continue
            state_err.append(np.mean((gen_tok[:3] - true_s) ** 2))
            s = disc.reconstruct(gen_tok[:3])
            a = disc.reconstruct(gen_tok[3:4], start=3)
            theta = np.arctan2(s[1], s[0])
            r_true = -(theta ** 2 + 0.1 * s[2] ** 2 + 0.001 * a[0] ** 2)
            rew_err.append((gen_tok[4] - disc.discretize(np.array([r_true]), start=4)[0]) ** 2)
    return {"gen_state_rmse_bins": float(np.sqrt(np.mean(state_err))),
            "gen_reward_rmse_bins": float(np.sqrt(np.mean(rew_err))), "gen_checked": len(state_err),
            "gen_with_stop_token": with_stop}


def _argmax_rmse(agent, windows) -> float:
    """Bin RMSE of the model's argmax next-observation prediction on real held-out windows."""
    import torch

    D = windows.transition_dim
    agent.model.eval()
    errs = []
    with torch.no_grad():
        for idx in torch.arange(len(windows)).split(512):
            X, Y, mask = windows.batch(idx)
            pred = agent.model(X).argmax(-1)
            is_obs = ((torch.arange(Y.shape[1]) + 1) % D < 3) & mask.all(0)
            errs.append(((pred - Y)[:, is_obs].float() ** 2).reshape(-1))
    return float(torch.cat(errs).mean().sqrt())


def run_arm(job: tuple[str, int, int, int, int]) -> dict:
    import torch

    torch.set_num_threads(1)
    from rlkit.algos.boot import BooT, rollout
    from rlkit.algos.boot.data import trajectory_windows
    from rlkit.data import load_dataset
    from rlkit.env_spec import EnvSpec

    arm, seed, epochs, n_layer, n_embd = job
    t0 = time.perf_counter()
    env = EnvSpec("Pendulum-v1", dataset="local:pendulum_mixed")
    agent = BooT(_config(arm, epochs, n_layer, n_embd), env, seed=seed)
    held = {name: trajectory_windows(load_dataset(f"local:pendulum_mixed_{name}"), agent.cfg.n_bins,
                                     agent.cfg.seq_len, agent.cfg.discount, agent.cfg.termination_penalty,
                                     agent.discretizer)[0] for name in ("iid", "shifted")}
    total = agent.n_epochs * agent.steps_per_epoch
    curve, generated = [], 0.0
    for step in range(1, total + 1):
        m = agent.train_step()
        generated += m.get("stats/generated", 0.0)
        if step % (2 * agent.steps_per_epoch) == 0 or step == total:
            curve.append({"step": step, **{f"{k}_{n}": v for n, w in held.items()
                                           for k, v in agent.nll(w).items()}})
    out = {"arm": arm, "seed": seed, "steps": total, "bootstrap_from_step": agent.bootstrap_epoch
           * agent.steps_per_epoch, "extra_sequences": generated, "curve": curve, "final": curve[-1],
           "argmax_rmse_bins": _argmax_rmse(agent, held["iid"])}
    if arm[0] in "CDE":
        out.update(_validity(agent))
    import gymnasium as gym

    res = rollout(agent.planner, [gym.make("Pendulum-v1") for _ in range(4)], [10_000 + seed * 10 + k
                                                                              for k in range(4)])
    out["plan_return"] = float(res["return"].mean())
    out["seconds"] = time.perf_counter() - t0
    final = out["final"]
    print(f"{arm} seed {seed}: iid loss {final['loss_iid']:.4f} shifted {final['loss_shifted']:.4f}"
          f" return {out['plan_return']:.1f} ({out['seconds']:.0f}s)", flush=True)
    return out


def _mean_ci(xs: list[float]) -> str:
    xs = np.asarray(xs, float)
    half = 1.96 * xs.std(ddof=1) / np.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return f"{xs.mean():.4f} ± {half:.4f}"


def report(results: list[dict], args: argparse.Namespace, minutes: float) -> str:
    seeds = sorted({r["seed"] for r in results})
    by = {(r["arm"], r["seed"]): r for r in results}
    present = [a for a in ARMS if all((a, s) in by for s in seeds)]
    generating = [a for a in present if all("gen_state_rmse_bins" in by[(a, s)] for s in seeds)]
    lines = ["# BooT claim on CPU (pendulum_mixed)", "",
             f"Command: `.venv/bin/python benchmarks/boot_claim.py --seeds {args.seeds} --epochs {args.epochs}"
             f" --n-layer {args.n_layer} --n-embd {args.n_embd} --arms {args.arms} --workers {args.workers}"
             f"{f' --merge {args.merge}' if args.merge else ''} --out {args.out}` ({minutes:.1f} min on 2 cores"
             f"{', plus the merged runs' if args.merge else ''}; model width {4 * args.n_embd}, "
             f"{args.n_layer} layer(s)).", "",
             "Decision rule (fixed before the run): BooT is confirmed if C or D has a lower final IID "
             "held-out loss than both A and B on every seed, and its generated-state RMSE is within 1.5x "
             "the model's real-data argmax error. If C/D beat A but not B, the gain comes from the extra "
             "updates, not from the generated data.", "",
             "## Held-out loss (training objective: weighted NLL, lower is better), mean ± 95% CI", "",
             "| arm | IID loss | shifted loss | IID obs | IID action | IID reward | IID value | "
             "shifted obs | shifted action | beam-search return |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm in present:
        f = [by[(arm, s)]["final"] for s in seeds]
        ret = [by[(arm, s)]["plan_return"] for s in seeds]
        cells = [_mean_ci([x[k] for x in f]) for k in ("loss_iid", "loss_shifted", "obs_iid", "action_iid",
                                                        "reward_iid", "value_iid", "obs_shifted",
                                                        "action_shifted")]
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {np.mean(ret):.1f} |")
    lines += ["", "Per-token-type columns are unweighted nats/token. Per seed (IID loss):", "",
              "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for arm in present:
        cells = " | ".join(f"{by[(arm, s)]['final']['loss_iid']:.4f}" for s in seeds)
        lines.append(f"| {arm} | {cells} |")
    lines += ["", "## Generation validity (final model, top-4% candidates of 20 training batches)", "",
              "| arm | generated s_t RMSE (bins) | model argmax RMSE on real held-out (bins) | ratio | "
              "generated r RMSE (bins) |", "|---|---|---|---|---|"]
    valid = {}
    for arm in generating:
        g = np.mean([by[(arm, s)]["gen_state_rmse_bins"] for s in seeds])
        a = np.mean([by[(arm, s)]["argmax_rmse_bins"] for s in seeds])
        r = np.mean([by[(arm, s)]["gen_reward_rmse_bins"] for s in seeds])
        valid[arm] = g / a <= 1.5
        lines.append(f"| {arm} | {g:.2f} | {a:.2f} | {g / a:.2f} | {r:.2f} |")
    verdicts = []
    iid = {key: r["final"]["loss_iid"] for key, r in by.items()}
    for arm in RULE_ARMS:
        beats_a = all(iid[(arm, s)] < iid[("A: TT", s)] for s in seeds)
        beats_b = all(iid[(arm, s)] < iid[("B: TT + matched real updates", s)] for s in seeds)
        verdicts.append((arm, beats_a, beats_b, valid[arm]))
    passed = any(a and b and v for _, a, b, v in verdicts)
    lines += ["", "## Verdict", ""]
    for arm, a, b, v in verdicts:
        lines.append(f"- {arm}: beats A on every seed: {a}; beats B on every seed: {b}; "
                     f"generations valid (<= 1.5x): {v}")
    lines += ["", f"**{'PASS' if passed else 'FAIL'}** on the rule above.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=13)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=16, help="per head; width = 4 heads x n_embd")
    p.add_argument("--arms", default="ABCD", help="letters of the arms to run (E: BooT-repeat TF, optional)")
    p.add_argument("--out", type=Path, default=Path("results/boot/results.md"))
    p.add_argument("--merge", type=Path, default=None,
                   help="a results .json of an earlier run with the same settings, to report together")
    args = p.parse_args()
    os.environ.setdefault("RLKIT_DATA_DIR", str(Path.home() / ".cache" / "rlkit" / "datasets"))
    from rlkit.data import load_dataset

    for name in ("pendulum_mixed", "pendulum_mixed_iid", "pendulum_mixed_shifted"):
        load_dataset(f"local:{name}")                    # generate once before the workers start
    arms = [a for a in ARMS if a[0] in args.arms]
    jobs = [(a, s, args.epochs, args.n_layer, args.n_embd)      # slowest arm (D) first
            for a in reversed(arms) for s in range(args.seeds)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(run_arm, jobs, chunksize=1)
    minutes = (time.perf_counter() - t0) / 60
    if args.merge is not None:
        results = json.loads(args.merge.read_text()) + results
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    if set(RULE_ARMS) | {"A: TT", "B: TT + matched real updates"} <= {r["arm"] for r in results}:
        args.out.write_text(report(results, args, minutes))
        print(args.out.read_text())


if __name__ == "__main__":
    main()
