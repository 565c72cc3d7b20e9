"""Read run directories into pandas: learning curves over seeds (notebooks) and the tables and
verdicts of claim experiments (``benchmarks/claim.py``)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml


def load_runs(root: str | Path) -> pd.DataFrame:
    """All ``metrics.csv`` below ``root`` as one long frame with ``algo``, ``env``, ``seed``, ``run``."""
    frames = []
    for csv in sorted(Path(root).rglob("metrics.csv")):
        cfg = yaml.safe_load((csv.parent / "config.yaml").read_text())
        df = pd.read_csv(csv)
        df["algo"], df["env"], df["seed"] = cfg["algo"]["name"], cfg["env"]["name"], cfg["seed"]
        df["run"] = str(csv.parent)
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"no run directories (metrics.csv + config.yaml) under {root}")
    return pd.concat(frames, ignore_index=True)


def curves(runs: pd.DataFrame, metric: str = "eval/return", z: float = 1.96) -> pd.DataFrame:
    """Mean and normal-approximation CI (mean +- z * std / sqrt(n)) of ``metric`` per step."""
    df = runs.dropna(subset=[metric])
    g = df.groupby(["algo", "env", "step"])[metric]
    out = g.agg(["mean", "std", "count"]).reset_index()
    half = z * out["std"].fillna(0.0) / np.sqrt(out["count"])
    out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out


def final_table(runs: pd.DataFrame, metric: str = "eval/return") -> pd.DataFrame:
    """Last logged ``metric`` of each run, then mean / std / n per (algo, env)."""
    last = runs.dropna(subset=[metric]).sort_values("step").groupby("run").tail(1)
    return last.groupby(["algo", "env"])[metric].agg(["mean", "std", "count"]).reset_index()


def plot_curves(curve: pd.DataFrame, metric: str = "eval/return", ax=None):
    """One line per (algo, env) with a shaded CI band."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for (algo, env), c in curve.groupby(["algo", "env"]):
        ax.plot(c["step"], c["mean"], label=f"{algo} / {env}")
        ax.fill_between(c["step"], c["lo"], c["hi"], alpha=0.25)
    ax.set_xlabel("train_step")
    ax.set_ylabel(metric)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


# ---------------------------------------------------------------------- claim experiments
# A claim experiment is a Hydra multirun per arm (benchmarks/claim.py); these functions read its
# run directories back into per-run values, a table of means with bootstrap intervals and the
# verdict of the pass rule written before the runs.

def bootstrap_ci(x: list[float] | np.ndarray, n: int = 10_000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling runs with replacement)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2 or not np.isfinite(x).all():
        return float(np.mean(x)), float(np.mean(x))
    means = x[np.random.default_rng(seed).integers(len(x), size=(n, len(x)))].mean(1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))


def reduce_metric(run: pd.DataFrame, run_dir: Path, spec: dict[str, Any]) -> float:
    """One number of one run, as ``spec`` says (every reduction ignores rows without the metric):

    - ``{reduce: final, metric: m}``: the last logged value; ``max`` / ``min`` / ``mean``: over all rows;
    - ``{reduce: last_mean, metric: m, k: 3}``: mean of the last k values;
    - ``{reduce: tail_mean, metric: m, fraction: 0.33}``: mean of the last fraction of the values;
    - ``{reduce: first_step, metric: m, above: 0}``: the first ``step`` with m > above (inf if never);
    - ``optional: true``: NaN for runs that do not log the metric (a diagnostic of one arm);
    - ``{file: comparison.json, key: a.b.c}``: a number from a JSON file the algorithm wrote into the
      run directory (e.g. RLQP's comparison tables).
    """
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
    values = rows[metric].to_numpy(dtype=float)
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
    raise ValueError(f"reduce={how!r}: use final, mean, max, min, last_mean, tail_mean or first_step")


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


def claim_table(values: pd.DataFrame, metrics: dict[str, dict], rules: list[str | dict]
                ) -> tuple[list[str], bool]:
    """Markdown lines (arm means with 95% bootstrap intervals, per-seed values, the rules and their
    verdicts) and whether every rule holds. A rule is a :func:`check_rule` string, or
    ``{any: [[rule, ...], [rule, ...]]}``: holds when every rule of at least one group holds."""
    cols = list(metrics)
    lines = ["| arm | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for arm, g in values.groupby("arm", sort=False):
        cells = []
        for c in cols:
            lo, hi = bootstrap_ci(g[c])
            cells.append(f"{g[c].mean():.4g} [{lo:.4g}, {hi:.4g}]")
        lines.append(f"| {arm} | {len(g)} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:", "", "| arm | seed | " + " | ".join(cols) + " |",
              "|---|---|" + "---|" * len(cols)]
    for _, r in values.iterrows():
        lines.append(f"| {r['arm']} | {r['seed']} | " + " | ".join(f"{r[c]:.4g}" for c in cols) + " |")
    lines += ["", "Pass rule (written before the runs; every line must hold):", ""]
    passed = True
    for rule in rules:
        if isinstance(rule, str):
            ok, detail = check_rule(rule, values)
            lines.append(f"- `{rule}`: {'holds' if ok else 'fails'} ({detail})")
        else:
            groups = [[(r, *check_rule(r, values)) for r in group] for group in rule["any"]]
            ok = any(all(g_ok for _, g_ok, _ in group) for group in groups)
            lines.append(f"- any of the following groups ({'holds' if ok else 'fails'}):")
            for i, group in enumerate(groups):
                lines += [f"  - group {i + 1}: `{r}`: {'holds' if g_ok else 'fails'} ({d})"
                          for r, g_ok, d in group]
        passed = passed and ok
    lines += ["", f"**Verdict: {'PASS' if passed else 'FAIL'}**"]
    return lines, passed
