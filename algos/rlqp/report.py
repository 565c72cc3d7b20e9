"""Comparison tables of rho strategies: mean and shifted-geometric-mean iterations, solve rate,
refactorisations and wall time, per problem class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlkit.envs.qp.admm import ADMM, Settings, Status
from rlkit.envs.qp.problems import QP, generate, load_maros_meszaros

#: The larger report set: bigger sizes of every class, and Eq QP, a class never trained on.
LARGER = {"random_qp": (50, 100), "eq_qp": (20, 60), "portfolio": (6, 10), "lasso": (6, 10),
          "svm": (6, 10), "control": (10, 20), "huber": (4, 5)}


def larger_problems(per_class: int, seed: int) -> list[QP]:
    """``per_class`` problems of every class of :data:`LARGER`, sizes uniform in its range."""
    rng = np.random.default_rng(seed)
    return [generate(c, int(rng.integers(lo, hi + 1)), rng) for c, (lo, hi) in LARGER.items()
            for _ in range(per_class)]


def maros_meszaros(folder: str | Path, max_size: int) -> list[QP]:
    """The Maros-Meszaros problems (``.mat`` files) of ``folder`` with n + m <= ``max_size``."""
    paths = sorted(Path(folder).glob("*.mat"))
    if not paths:
        raise ValueError(f"algo.report_maros_meszaros={str(folder)!r} holds no .mat files; point it at a "
                         "folder of Maros-Meszaros problems or set it to null")
    problems = [load_maros_meszaros(str(p)) for p in paths]
    return [qp for qp in problems if qp.n + qp.m <= max_size]


def sgm(its: list[int], shift: float = 10.0) -> float:
    """Shifted geometric mean exp(mean(log(max(1, x + shift)))) - shift (osqp_benchmarks)."""
    return float(np.exp(np.mean(np.log(np.maximum(1.0, np.asarray(its, dtype=float) + shift)))) - shift)


def class_of(name: str) -> str:
    """``random_qp_12`` -> ``random_qp``; names without a size suffix are Maros-Meszaros problems."""
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() and head else "maros_meszaros"


def compare(problems: list[QP], methods: dict[str, Any], settings: Settings,
            title: str) -> tuple[list[str], dict[str, float]]:
    """Markdown rows for one problem set, and the mean iterations of each method over all of it."""
    results = solve_all(problems, methods, settings)
    return table(problems, results, title), {name: r["iterations"] for name, r in results.items()}


def solve_all(problems: list[QP], methods: dict[str, Any], settings: Settings) -> dict[str, dict[str, Any]]:
    """:func:`evaluate_policy` of every method (name -> rho strategy) on ``problems``."""
    return {name: evaluate_policy(problems, rho, settings) for name, rho in methods.items()}


def _by_class(problems: list[QP]) -> dict[str, list[int]]:
    """Problem indices per class, plus ``all`` when there are several classes."""
    classes = sorted({class_of(q.name) for q in problems})
    return {cls: [i for i, q in enumerate(problems) if cls in ("all", class_of(q.name))]
            for cls in ([*classes, "all"] if len(classes) > 1 else classes)}


def table(problems: list[QP], results: dict[str, dict[str, Any]], title: str) -> list[str]:
    """Markdown rows of :func:`solve_all`'s results, per class and method."""
    lines = [f"### {title} ({len(problems)} problems)", "",
             "| class | method | mean its | shifted geo mean | solved | refactorisations | time/solve (ms) |",
             "|---|---|---|---|---|---|---|"]
    for cls, idx in _by_class(problems).items():
        for name, r in results.items():
            its = [r["per_problem"][i] for i in idx]
            solved = np.mean([r["solved_per_problem"][i] for i in idx])
            refs = np.mean([r["refs_per_problem"][i] for i in idx])
            ms = 1e3 * np.mean([r["time_per_problem"][i] for i in idx])
            lines.append(f"| {cls} | {name} | {np.mean(its):.0f} | {sgm(its):.0f} | {solved:.0%} | "
                         f"{refs:.1f} | {ms:.1f} |")
    lines.append("")
    return lines


def plot_comparison(problems: list[QP], results: dict[str, dict[str, Any]], path: str | Path,
                    title: str) -> Path:
    """Bar chart of the shifted geometric mean iterations per class (log scale), one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _by_class(problems)
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(groups), 3.4))
    for k, (name, r) in enumerate(results.items()):
        heights = [sgm([r["per_problem"][i] for i in idx]) for idx in groups.values()]
        ax.bar(np.arange(len(groups)) + (k - (len(results) - 1) / 2) * width, heights, width, label=name)
    ax.set_xticks(np.arange(len(groups)), list(groups), fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ADMM iterations (shifted geo. mean)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=len(results))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _fewer(osqp: float, its: float) -> str:
    ratio = osqp / max(its, 1.0)
    return f"{ratio:.2f}x fewer" if ratio >= 1 else f"{1 / ratio:.2f}x more"


def headline(results: dict[str, dict[str, Any]], n: int) -> str:
    """One line: the learned policy against OSQP's adaptive rho (and the hand rule, and the policy
    shipped with rlkit when it was compared) on ``n`` problems."""
    learned, osqp = results["learned"]["iterations"], results["osqp"]["iterations"]
    line = (f"RLQP's learned rho policy vs OSQP's adaptive rho on {n} fresh test problems: "
            f"{learned:.0f} vs {osqp:.0f} mean ADMM iterations ({_fewer(osqp, learned)}), "
            f"solved {results['learned']['solved']:.0%} vs {results['osqp']['solved']:.0%}")
    if "hand_rule" in results:
        line += f"; the hand active-set rule: {results['hand_rule']['iterations']:.0f}"
    if "shipped" in results:
        shipped = results["shipped"]["iterations"]
        line += f"; the policy shipped with rlkit: {shipped:.0f} ({_fewer(osqp, shipped)})"
    return line + "."


def floor_iterations(its: list[int], first: int, check_every: int) -> np.ndarray:
    """The fewest iterations any rho policy can reach on each problem: the policy first acts after
    the ``first`` iterations run at OSQP's default rho (the env's first step), and termination is
    checked every ``check_every``; so a problem not solved within ``first`` needs at least
    ``first + check_every``. ``its`` are the counts of a policy run (their first chunk is the same for
    every policy)."""
    its_arr = np.asarray(its, dtype=float)
    return np.where(its_arr <= first, its_arr, first + check_every)


def per_class(problems: list[QP], results: dict[str, dict[str, Any]], first: int,
              check_every: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per class (and ``all``): every method's mean and shifted geometric mean iterations, plus the
    ``floor`` (:func:`floor_iterations` of the learned run, or of the first method)."""
    ref = results.get("learned", next(iter(results.values())))["per_problem"]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for cls, idx in _by_class(problems).items():
        out[cls] = {name: {"mean": float(np.mean([r["per_problem"][i] for i in idx])),
                           "sgm": sgm([r["per_problem"][i] for i in idx])} for name, r in results.items()}
        floor = floor_iterations([ref[i] for i in idx], first, check_every)
        out[cls]["floor"] = {"mean": float(floor.mean()), "sgm": sgm(list(floor))}
    return out


def class_counts(classes: dict[str, dict[str, dict[str, float]]], method: str,
                 base: str = "osqp") -> dict[str, float]:
    """The paper's per-class terms for ``method`` against ``base``, over the classes (not ``all``):
    how many classes it needs at most 1/3 of the base's mean iterations (``at_3x``), how many its
    shifted geometric mean is below the base's (``sgm_below``), of ``classes``; and the pooled ratios
    base / method and method / floor on ``all`` (the floor bounds what any policy can reach)."""
    names = [c for c in classes if c != "all"]
    pooled = classes.get("all", classes[names[0]])
    return {"classes": float(len(names)),
            "at_3x": float(sum(classes[c][method]["mean"] <= classes[c][base]["mean"] / 3 for c in names)),
            "sgm_below": float(sum(classes[c][method]["sgm"] < classes[c][base]["sgm"] for c in names)),
            "pooled_ratio": pooled[base]["mean"] / max(pooled[method]["mean"], 1.0),
            "over_floor": pooled[method]["mean"] / max(pooled["floor"]["mean"], 1.0)}


def ratio_table(classes: dict[str, dict[str, dict[str, float]]], method: str, base: str = "osqp") -> list[str]:
    """Markdown: per class, ``base`` / ``method`` on the mean and on the shifted geometric mean, and
    ``method`` against the floor."""
    lines = [f"| class | {base} / {method}, mean | {base} / {method}, shifted geo mean | floor (mean) | "
             f"{method} / floor |", "|---|---|---|---|---|"]
    for cls, row in classes.items():
        lines.append(f"| {cls} | {row[base]['mean'] / max(row[method]['mean'], 1.0):.2f}x | "
                     f"{row[base]['sgm'] / max(row[method]['sgm'], 1.0):.2f}x | {row['floor']['mean']:.0f} | "
                     f"{row[method]['mean'] / max(row['floor']['mean'], 1.0):.2f}x |")
    return [*lines, ""]


def read_report(text: str) -> dict[str, Any]:
    """Parse a report written by ``compare`` (also the tables of the earlier ``benchmarks/rlqp_claim.py`` in
    results/rlqp/) back into data:
    ``{"validation": {episode: mean its}, "sets": {title: [{"class", "method", "mean", "sgm",
    "solved", "refactorisations", "ms"}, ...]}}`` (for notebooks and cross-seed summaries)."""
    out: dict[str, Any] = {"validation": {}, "sets": {}}
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("Validation (") and "):" in line:
            curve = line.split("):", 1)[1].split(".", 1)[0]
            out["validation"] = {int(ep): float(its) for ep, its in
                                 (pair.split(":") for pair in curve.split(","))}
        elif line.startswith("### "):
            title = line[4:].rsplit(" (", 1)[0]
            rows = out["sets"].setdefault(title, [])
        elif line.startswith("| ") and not line.startswith(("| class", "|---")) and line.count("|") == 8:
            cls, method, mean, geo, solved, refs, ms = (c.strip() for c in line.strip("| ").split("|"))
            rows.append({"class": cls, "method": method, "mean": float(mean), "sgm": float(geo),
                         "solved": float(solved.rstrip("%")) / 100, "refactorisations": float(refs),
                         "ms": float(ms)})
    return out


def evaluate_policy(problems: list[QP], rho: Any, settings: Settings) -> dict[str, Any]:
    """Mean iterations (unsolved count at the cap), solve rate, refactorisations, wall time."""
    its, solved, refs, times = [], [], [], []
    for qp in problems:
        res = ADMM(qp.P, qp.q, qp.A, qp.l, qp.u, settings, psd_check=False).solve(rho)
        solved.append(res.status == Status.SOLVED)
        its.append(res.iterations if solved[-1] else settings.max_iter)
        refs.append(res.refactorizations)
        times.append(res.solve_time)
    return {"iterations": float(np.mean(its)), "solved": float(np.mean(solved)),
            "refactorizations": float(np.mean(refs)), "solve_time": float(np.mean(times)),
            "per_problem": its, "solved_per_problem": solved, "refs_per_problem": refs,
            "time_per_problem": times}
