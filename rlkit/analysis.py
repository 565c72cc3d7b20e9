"""Read run directories into pandas: learning curves over seeds (notebooks) and the tables and
verdicts of claim experiments (``benchmarks/claim.py``)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rlkit.config import flatten

#: Keys that never tell two experiments apart: the seed, and where a run was resumed from.
NOT_CONFIG = ("seed", "resume")


def load_runs(root: str | Path) -> pd.DataFrame:
    """Every run directory below ``root`` as one long frame of its ``metrics.csv`` rows, with
    ``run``, ``seed``, ``algo``, ``env`` and ``group``: runs whose configurations (``config.yaml``)
    are equal except for the seed form one group, labelled by the keys whose values differ between
    groups (``algo.lr=0.001``), or by algo / env when nothing else differs. Counters
    (``train/env_steps``, ``train/grad_steps``) are carried forward onto evaluation-only rows."""
    frames, configs = [], []
    for csv in sorted(Path(root).rglob("metrics.csv")):
        cfg = flatten(yaml.safe_load((csv.parent / "config.yaml").read_text()))
        df = pd.read_csv(csv).sort_values("step")
        counters = [c for c in ("train/env_steps", "train/grad_steps") if c in df]
        df[counters] = df[counters].ffill()
        df["algo"], df["env"], df["seed"] = cfg["algo.name"], cfg["env.name"], cfg["seed"]
        df["run"] = str(csv.parent)
        frames.append(df)
        configs.append({k: v for k, v in cfg.items() if k not in NOT_CONFIG})
    if not frames:
        raise FileNotFoundError(f"no run directories (metrics.csv + config.yaml) under {root}")
    for df, label in zip(frames, group_labels(configs), strict=True):
        df["group"] = label
    return pd.concat(frames, ignore_index=True)


def group_labels(configs: list[dict[str, Any]]) -> list[str]:
    """A label per configuration: the keys whose values differ between the configurations. When
    the algorithm (or env) itself differs, its name stands for all of its keys."""
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    named = [part for part in ("algo", "env") if f"{part}.name" in differing]
    shown = [k for k in differing if k.split(".")[0] not in named]
    labels = []
    for c in configs:
        parts = [c[f"{part}.name"] for part in named] + [f"{k}={c.get(k)}" for k in shown]
        labels.append(" ".join(parts) or f"{c['algo.name']} / {c['env.name']}")
    return labels


def interval(scores: np.ndarray, aggregate: str = "iqm", reps: int = 2000,
             seed: int = 0) -> tuple[float, float, float]:
    """rliable's interquartile mean (or ``aggregate="mean"``) of ``scores`` [runs] with its
    stratified-bootstrap 95% interval (a percentile interval: it never leaves the scores' range)."""
    import warnings

    from rliable import library as rly
    from rliable import metrics

    fn = {"iqm": metrics.aggregate_iqm, "mean": metrics.aggregate_mean}[aggregate]
    col = np.asarray(scores, dtype=float).reshape(-1, 1)
    if len(col) < 2 or np.ptp(col) == 0 or not np.isfinite(col).all():
        v = float(fn(col)) if np.isfinite(col).all() else float(np.mean(col))
        return v, v, v
    with warnings.catch_warnings():       # arch's own deprecation of the RandomState that rliable passes
        warnings.simplefilter("ignore", FutureWarning)
        point, ci = rly.get_interval_estimates({"x": col}, lambda s: np.array([fn(s)]), reps=reps,
                                               random_state=np.random.RandomState(seed))
    return float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0])


def curves(runs: pd.DataFrame, metric: str = "eval/return", x: str = "step", reps: int = 1000,
           seed: int = 0) -> pd.DataFrame:
    """Per group and x (``step``, ``train/env_steps`` or ``train/grad_steps``): the interquartile mean
    over runs of ``metric`` with its stratified-bootstrap 95% interval (rliable), and the count."""
    df = runs.dropna(subset=[metric, x])
    rows = []
    for (group, xv), g in df.groupby(["group", x]):
        iqm, lo, hi = interval(g[metric].to_numpy(float), "iqm", reps, seed)
        rows.append({"group": group, x: xv, "iqm": iqm, "lo": lo, "hi": hi, "count": len(g)})
    return pd.DataFrame(rows)


def final_scores(runs: pd.DataFrame, metric: str = "eval/return") -> dict[str, np.ndarray]:
    """The last logged ``metric`` of every run, per group: {group: [runs, 1]} (rliable's layout)."""
    last = runs.dropna(subset=[metric]).sort_values("step").groupby("run").tail(1)
    return {g: d[metric].to_numpy(float).reshape(-1, 1) for g, d in last.groupby("group")}


def final_table(runs: pd.DataFrame, metric: str = "eval/return", reps: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """Per group: the IQM of the final ``metric`` over runs with its 95% interval, the mean and the
    number of runs."""
    rows = []
    for group, scores in final_scores(runs, metric).items():
        iqm, lo, hi = interval(scores[:, 0], "iqm", reps, seed)
        rows.append({"group": group, "iqm": iqm, "lo": lo, "hi": hi, "mean": float(scores.mean()),
                     "count": len(scores)})
    return pd.DataFrame(rows)


def probability_of_improvement(runs: pd.DataFrame, x_group: str, y_group: str, metric: str = "eval/return",
                               reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """P(X > Y) of the final ``metric`` of group X over group Y (rliable; 0.5 = no difference),
    with its stratified-bootstrap 95% interval."""
    import warnings

    from rliable import library as rly
    from rliable import metrics

    scores = final_scores(runs, metric)
    pair = {"pair": (scores[x_group], scores[y_group])}
    improve = lambda a, b: np.array([metrics.probability_of_improvement(a, b)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        point, ci = rly.get_interval_estimates(pair, improve, reps=reps,
                                               random_state=np.random.RandomState(seed))
    return float(point["pair"][0]), float(ci["pair"][0, 0]), float(ci["pair"][1, 0])


def performance_profile(runs: pd.DataFrame, thresholds: np.ndarray, metric: str = "eval/return",
                        reps: int = 2000) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group: the fraction of runs whose final ``metric`` exceeds each threshold, and its
    bootstrap 95% band [2, len(thresholds)] (rliable's score distributions)."""
    from rliable import library as rly

    return rly.create_performance_profile(final_scores(runs, metric), thresholds, reps=reps)


def plot_curves(curve: pd.DataFrame, metric: str = "eval/return", x: str = "step", ax: Any = None,
                groups: list[str] | None = None) -> Any:
    """One line per group (IQM) with its shaded bootstrap interval; ``groups`` fixes each group's
    colour (its position in the list), so that panels where some groups log nothing still agree."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    order = groups or sorted(curve["group"].unique())
    for group, c in curve.groupby("group"):
        color = f"C{order.index(group) % 10}" if group in order else None
        ax.plot(c[x], c["iqm"], label=group, color=color)
        ax.fill_between(c[x], c["lo"], c["hi"], alpha=0.25, color=color)
    ax.set_xlabel({"step": "train_step", "train/env_steps": "env steps", "train/grad_steps": "gradient steps"}
                  .get(x, x))
    ax.set_ylabel(f"{metric} (IQM, 95% CI)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


# ---------------------------------------------------------------------- claim experiments
# A claim experiment is a Hydra multirun per arm (benchmarks/claim.py); these functions read its
# run directories back into per-run values, a table of means with bootstrap intervals and the
# verdict of the pass rule written before the runs.

def reduce_metric(run: pd.DataFrame, run_dir: Path, spec: dict[str, Any]) -> float:
    """One number of one run, as ``spec`` says (every reduction ignores rows without the metric):

    - ``{reduce: final, metric: m}``: the last logged value; ``max`` / ``min`` / ``mean``: over all rows;
    - ``{reduce: last_mean, metric: m, k: 3}``: mean of the last k values;
    - ``{reduce: tail_mean, metric: m, fraction: 0.33}``: mean of the last fraction of the values;
    - ``{reduce: first_step, metric: m, above: 0}``: the first ``step`` with m > above (inf if never);
    - ``{reduce: at_best, metric: m, by: v, mode: min}``: m at the row where v is lowest (``max``:
      highest), e.g. a held-out score at the best validation checkpoint;
    - ``after: k``: only the rows with ``step > k`` (e.g. the episodes after the first model update);
    - ``optional: true``: NaN for runs that do not log the metric (a diagnostic of one arm);
    - ``{file: comparison.json, key: a.b.c}``: a number from a JSON file the algorithm wrote into the
      run directory (e.g. RLQP's comparison tables);
    - ``{evaluate: {eval kwargs}, metric: eval/return, episodes: 100}``: the run's final policy
      (``last.pt``) evaluated again with these env ``eval_kwargs`` overrides (e.g. the training
      layouts, for a generalisation gap), with the run's evaluation seeds.
    """
    if "evaluate" in spec:
        from rlkit.agent import load_run

        agent = load_run(run_dir, eval_kwargs=spec["evaluate"], checkpoint="last")
        return float(agent.evaluate(int(spec.get("episodes", 100)))[spec.get("metric", "eval/return")])
    if "file" in spec:
        value: Any = json.loads((run_dir / spec["file"]).read_text())
        for part in spec["key"].split("."):
            value = value[part]
        return float(value)
    metric, how = spec["metric"], spec.get("reduce", "final")
    if metric not in run and spec.get("optional"):
        return math.nan          # a diagnostic only some arms log (``optional: true``)
    if metric not in run:
        raise KeyError(f"{run_dir}: metric {metric!r} was not logged; logged: {sorted(run.columns)}")
    rows = run.dropna(subset=[metric]).sort_values("step")
    if "after" in spec:
        rows = rows[rows["step"] > float(spec["after"])]
    values = rows[metric].to_numpy(dtype=float)
    if how == "at_best":
        by = rows.dropna(subset=[spec["by"]])
        if by.empty:
            return math.nan
        best = by[spec["by"]].idxmin() if spec.get("mode", "min") == "min" else by[spec["by"]].idxmax()
        return float(by.loc[best, metric])
    if how == "first_step":
        hit = rows["step"].to_numpy()[values > float(spec.get("above", 0.0))]
        return float(hit[0]) if len(hit) else math.inf
    if len(values) == 0:
        return math.nan
    if how == "final":
        return float(values[-1])
    if how in ("mean", "max", "min"):
        return float(getattr(np, how)(values))
    if how == "last_mean":
        return float(values[-int(spec["k"]):].mean())
    if how == "tail_mean":
        return float(values[-max(1, round(len(values) * float(spec["fraction"]))):].mean())
    raise ValueError(f"reduce={how!r}: use final, mean, max, min, last_mean, tail_mean, first_step or at_best")


def claim_values(arm_dirs: dict[str, Path], metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per (arm, seed) with the value of every metric column (:func:`reduce_metric`)."""
    rows = []
    for arm, folder in arm_dirs.items():
        for csv in sorted(Path(folder).rglob("metrics.csv")):
            run = pd.read_csv(csv)
            seed = yaml.safe_load((csv.parent / "config.yaml").read_text())["seed"]
            rows.append({"arm": arm, "seed": seed, "run": str(csv.parent),
                         **{name: reduce_metric(run, csv.parent, spec) for name, spec in metrics.items()}})
    if not rows:
        raise FileNotFoundError(f"no run directories under {sorted(map(str, arm_dirs.values()))}")
    return pd.DataFrame(rows).sort_values(["arm", "seed"], ignore_index=True)


def curve_metrics(metrics: dict[str, dict]) -> list[str]:
    """The logged metrics that a claim's metric columns reduce or select by (the curves worth keeping)."""
    names = [spec[key] for spec in metrics.values() for key in ("metric", "by") if key in spec]
    return [n for n in dict.fromkeys(names) if n != "step"]


def claim_curves(arm_dirs: dict[str, Path], metrics: list[str]) -> pd.DataFrame:
    """The logged curves of a claim's runs in the long form of :func:`load_runs` (``group`` = arm,
    ``run`` = ``arm/s<seed>``): ``step``, the counters and ``metrics``, rows where one of them is logged.
    Saved beside the claim's table, so the results folder alone can be plotted (:func:`read_claim`)."""
    frames = []
    for arm, folder in arm_dirs.items():
        for csv in sorted(Path(folder).rglob("metrics.csv")):
            run = pd.read_csv(csv).sort_values("step")
            seed = yaml.safe_load((csv.parent / "config.yaml").read_text())["seed"]
            counters = [c for c in ("train/env_steps", "train/grad_steps") if c in run]
            run[counters] = run[counters].ffill()
            kept = [m for m in metrics if m in run]
            run = run.dropna(subset=kept, how="all")[["step", *counters, *kept]]
            frames.append(run.assign(group=arm, run=f"{arm}/s{seed}", seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_claim(results_md: str | Path) -> dict[str, Any]:
    """A claim's results as written by ``benchmarks/claim.py``: ``values`` (one row per run and metric
    column, ``<name>.json``), ``curves`` (:func:`claim_curves`, ``<name>_curves.csv``; empty when the
    file predates it), ``verdict`` (the pass-rule lines of the table) and ``passed``."""
    md = Path(results_md)
    text = md.read_text()
    curves_csv = md.with_name(f"{md.stem}_curves.csv")
    verdict = text.split("Pass rule", 1)[1].splitlines()[2:] if "Pass rule" in text else []
    return {"values": pd.DataFrame(json.loads(md.with_suffix(".json").read_text())),
            "curves": pd.read_csv(curves_csv) if curves_csv.is_file() else pd.DataFrame(),
            "verdict": [line for line in verdict if line.strip()], "passed": "**Verdict: PASS**" in text}


_RULE = re.compile(r"^\s*(?P<lhs>[\w.]+)\s*(?P<op><=|>=|<|>)\s*(?:(?P<k>[-\d.e]+)\s*\*\s*)?(?P<rhs>[\w.-]+)"
                   r"\s*(?:(?P<sign>[+-])\s*(?P<c>[\d.e]+))?\s*(?P<per>per seed)?\s*$")
_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def check_rule(rule: str, values: pd.DataFrame) -> tuple[bool, str]:
    """Evaluate ``"arm.metric OP [k *] arm.metric|number [+- c] [per seed]"`` on the claim values:
    on the means over seeds, or on every seed (paired by seed) with ``per seed``. Returns the
    verdict and the numbers it compared."""
    m = _RULE.match(rule)
    if m is None:
        raise ValueError(f"rule {rule!r} is not 'arm.metric OP [k *] arm.metric|number [+- c] [per seed]'")

    def side(term: str) -> pd.Series | float:
        try:
            return float(term)
        except ValueError:
            arm, _, metric = term.partition(".")
            sel = values[values["arm"] == arm]
            if sel.empty or metric not in values:
                raise ValueError(f"rule {rule!r}: no values for {term!r}") from None
            return sel.set_index("seed")[metric]

    lhs, rhs = side(m["lhs"]), side(m["rhs"])
    k = float(m["k"]) if m["k"] else 1.0
    c = (1 if m["sign"] == "+" else -1) * float(m["c"]) if m["c"] else 0.0
    if not m["per"]:
        lhs = lhs.mean() if isinstance(lhs, pd.Series) else lhs
        rhs = rhs.mean() if isinstance(rhs, pd.Series) else rhs
        ok = bool(_OPS[m["op"]](lhs, k * rhs + c))
        return ok, f"{lhs:.4g} {m['op']} {k * rhs + c:.4g}"
    ok_each = _OPS[m["op"]](lhs, k * rhs + c)
    ok_each = ok_each if isinstance(ok_each, pd.Series) else pd.Series([ok_each])
    return bool(ok_each.all()), f"{int(ok_each.sum())} of {len(ok_each)} seeds"


def _rule_lines(rule: str | dict, values: pd.DataFrame) -> tuple[list[str], bool]:
    if isinstance(rule, str):
        ok, detail = check_rule(rule, values)
        return [f"- `{rule}`: {'holds' if ok else 'fails'} ({detail})"], ok
    groups = [[(r, *check_rule(r, values)) for r in group] for group in rule["any"]]
    ok = any(all(g_ok for _, g_ok, _ in group) for group in groups)
    lines = [f"- any of the following groups ({'holds' if ok else 'fails'}):"]
    for i, group in enumerate(groups):
        lines += [f"  - group {i + 1}: `{r}`: {'holds' if g_ok else 'fails'} ({d})" for r, g_ok, d in group]
    return lines, ok


def claim_table(values: pd.DataFrame, metrics: dict[str, dict], rules: list[str | dict],
                secondary: Sequence[str | dict] = ()) -> tuple[list[str], bool]:
    """Markdown lines (arm means with 95% bootstrap intervals, per-seed values, the rules and their
    verdicts) and whether every rule holds. A rule is a :func:`check_rule` string, or
    ``{any: [[rule, ...], [rule, ...]]}``: holds when every rule of at least one group holds.
    ``secondary`` rules (also written before the runs) are reported with their verdicts but do not
    enter the verdict."""
    cols = list(metrics)
    lines = ["| arm | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for arm, g in values.groupby("arm", sort=False):
        cells = []
        for c in cols:
            mean, lo, hi = interval(g[c].to_numpy(float), "mean")
            cells.append(f"{mean:.4g} [{lo:.4g}, {hi:.4g}]")
        lines.append(f"| {arm} | {len(g)} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:", "", "| arm | seed | " + " | ".join(cols) + " |",
              "|---|---|" + "---|" * len(cols)]
    for _, r in values.iterrows():
        lines.append(f"| {r['arm']} | {r['seed']} | " + " | ".join(f"{r[c]:.4g}" for c in cols) + " |")
    if not rules:          # a diagnostic experiment: the table is the result
        return lines + ["", "**No pass rule: a diagnostic experiment.**"], True
    lines += ["", "Pass rule (written before the runs; every line must hold):", ""]
    passed = True
    for rule in rules:
        rule_lines, ok = _rule_lines(rule, values)
        lines += rule_lines
        passed = passed and ok
    if secondary:
        lines += ["", "Secondary rules (written before the runs; reported, not part of the verdict):", ""]
        for rule in secondary:
            lines += _rule_lines(rule, values)[0]
    lines += ["", f"**Verdict: {'PASS' if passed else 'FAIL'}**"]
    return lines, passed
