"""Read run directories into pandas and aggregate learning curves over seeds (for notebooks)."""

from __future__ import annotations

from pathlib import Path

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
