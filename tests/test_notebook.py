"""The analysis notebook runs on a tiny sweep that this test generates."""

import os

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
    assert (c["count"] == 3).all() and (c["lo"] <= c["mean"]).all() and (c["mean"] <= c["hi"]).all()
    t = final_table(runs)
    assert t["count"].tolist() == [3, 3] and t["algo"].tolist() == ["eppo", "ppo"]


def test_analysis_notebook_executes(sweep):
    nb = nbformat.read(ROOT / "notebooks" / "analyze_sweep.ipynb", as_version=4)
    os.environ["RLKIT_SWEEP_DIR"] = str(sweep)
    os.environ["MPLBACKEND"] = "Agg"
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()   # where Jupyter starts
    assert (sweep / "curves.png").stat().st_size > 1000
    assert (sweep / "eppo_diagnostics.png").stat().st_size > 1000
    assert (sweep / "rlqp_claim.png").stat().st_size > 1000       # from the committed results/rlqp/
    table_cell = next(c for c in nb.cells if c.source.startswith("table = final_table"))
    table_out = table_cell.outputs[0]["data"]["text/plain"]
    assert "eppo" in table_out and "ppo" in table_out and "cartpole" in table_out
