"""The analysis notebook runs on a tiny sweep that this test generates."""


import nbformat
import pytest
from helpers import ROOT, TINY_ALGO, TINY_RUNNER, run_cli
from nbclient import NotebookClient

from rlkit.analysis import curves, final_table, load_runs


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    out = run_cli("-m", "algo=ppo,eppo", "seed=0,1,2", f"hydra.sweep.dir={root}", *TINY_RUNNER,
                  *TINY_ALGO["ppo"])
    assert out.returncode == 0, out.stderr[-2000:]
    return root


def test_curves_aggregate_over_seeds(sweep):
    runs = load_runs(sweep)
    assert sorted(runs["seed"].unique()) == [0, 1, 2]
    c = curves(runs)
    assert (c["count"] == 3).all() and (c["lo"] <= c["iqm"]).all() and (c["iqm"] <= c["hi"]).all()
    t = final_table(runs)
    assert t["count"].tolist() == [3, 3] and t["group"].tolist() == ["eppo", "ppo"]


def test_a_sweep_over_two_learning_rates_gives_two_labelled_groups_inside_the_metric_range(tmp_path):
    out = run_cli("-m", "algo=ppo", "env=cartpole", "seed=0,1,2", "algo.lr=2.5e-4,1e-3",
                  f"hydra.sweep.dir={tmp_path}", *TINY_RUNNER, *TINY_ALGO["ppo"])
    assert out.returncode == 0, out.stderr[-2000:]
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert any("algo.lr=0.001" in n and "_s2_" in n for n in names)   # folders name the overrides
    runs = load_runs(tmp_path)
    table = final_table(runs)
    assert table["group"].tolist() == ["algo.lr=0.00025", "algo.lr=0.001"] and table["count"].tolist() == [3, 3]
    final = runs.dropna(subset=["eval/return"]).sort_values("step").groupby("run").tail(1)
    assert (table["lo"] >= final["eval/return"].min()).all() and (table["hi"] <= 500).all()
    for x in ("train/env_steps", "train/grad_steps"):
        c = curves(runs, x=x)
        assert set(c["group"]) == set(table["group"])
        assert all(g[x].is_monotonic_increasing for _, g in c.groupby("group"))


def test_analysis_notebook_executes(sweep, monkeypatch):
    nb = nbformat.read(ROOT / "notebooks" / "analyze_sweep.ipynb", as_version=4)
    monkeypatch.setenv("RLKIT_SWEEP_DIR", str(sweep))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()   # where Jupyter starts
    assert (sweep / "curves.png").stat().st_size > 1000
    assert (sweep / "eppo_diagnostics.png").stat().st_size > 1000
    assert (sweep / "claim_baseline_ppo_cartpole.png").stat().st_size > 1000   # from the committed results/
    table_cell = next(c for c in nb.cells if c.source.startswith("table = final_table"))
    table_out = next(o for o in table_cell.outputs if "data" in o)["data"]["text/plain"]
    assert "eppo" in table_out and "ppo" in table_out and "iqm" in table_out
    assert any("P(eppo > ppo)" in o.get("text", "") for o in table_cell.outputs)
    assert (sweep / "profile.png").stat().st_size > 1000
