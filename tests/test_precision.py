"""precision=fp32|bf16 (rlkit.precision): fp32 outputs at the network boundaries, the runner key, a
bf16 run that resumes exactly, fp32 checkpoints continued in bf16 with a notice, clear errors, and
BooT's beam search deciding as in fp32. The per-algorithm training check is in test_contract.py,
LS3's elites in test_ls3.py, C-Planning's graph in test_cplanning.py."""

import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ROOT, TINY_ALGO, TINY_RUNNER, metrics_without_time, run_cli

from rlkit.algos.boot import BeamPlanner, PlannerConfig, QuantileDiscretizer
from rlkit.algos.boot.model import TrajectoryGPT
from rlkit.nn import GPT, MLP, EnsembleMLP, GPTConfig, NatureCNN
from rlkit.precision import autocast, full_precision, reuses_weight_casts

SAC = ["algo=sac", "env=pendulum", *TINY_ALGO["sac"]]


@pytest.mark.parametrize("make, x", [
    (lambda: MLP(6, 3, (32, 32)), torch.randn(5, 6)),
    (lambda: EnsembleMLP(4, 6, 3, (32, 32)), torch.randn(5, 6)),
    (lambda: GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.0)),
     torch.randint(0, 11, (2, 8))),
    (lambda: NatureCNN((1, 36, 36), 8, members=2), torch.rand(3, 1, 36, 36)),
], ids=["mlp", "ensemble", "gpt", "nature_cnn"])
def test_networks_return_fp32_computed_in_bf16(make, x):
    torch.manual_seed(0)
    net = make()
    reference = net(x)
    with autocast("bf16", "cpu"):
        out = net(x)
        with full_precision("cpu"):
            exact = net(x)
    assert out.dtype == torch.float32 and torch.equal(exact, reference)
    assert not torch.equal(out, reference)                       # the products ran in bfloat16
    torch.testing.assert_close(out, reference, rtol=0.05, atol=0.05)


def test_weights_updated_inside_the_region_are_used_by_the_next_forward():
    """A train_step takes several optimizer steps inside one autocast region; each forward must see
    the current weights (torch's default weight-cast cache would keep the bf16 copy of the old ones)."""
    torch.manual_seed(0)
    net, x = MLP(8, 4, (64, 64)), torch.randn(32, 8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    with autocast("bf16", "cpu"):
        net(x).sum().backward()
        opt.step()
        inside = net(x)
    with autocast("bf16", "cpu"):
        assert torch.equal(inside, net(x))


def test_a_search_reuses_weight_casts_and_leaves_none_behind():
    """reuses_weight_casts (the planners): the same numbers as casting at every product, and after an
    optimizer step in the same region both paths see the new weights."""
    torch.manual_seed(0)
    net, x = MLP(8, 4, (64, 64)), torch.randn(32, 8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    search = reuses_weight_casts(lambda: net(x))
    with autocast("bf16", "cpu"):
        assert torch.equal(search(), net(x))
        net(x).sum().backward()
        opt.step()
        assert torch.equal(search(), net(x))


def test_float64_networks_are_left_in_float64():
    net = MLP(6, 3, (32,)).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    with autocast("bf16", "cpu"):
        out = net(x)
    assert out.dtype == torch.float64 and torch.equal(out, net(x))


def test_bf16_beam_search_changes_the_executed_action_less_than_its_own_sampling():
    """Beam search samples its action tokens, so bf16's rounding can flip a draw: on 50 fixed prefixes
    the executed action (the best plan's first) equals fp32's on 45 (42 at width 64), while fp32 with
    another generator seed agrees with itself on 2 (13 at width 64)."""
    torch.manual_seed(0)
    obs, act = 3, 2
    D = obs + act + 2
    model = TrajectoryGPT(obs, act, 20, 5 * D - 1, n_layer=2, n_head=2, n_embd=16, dropout=0.0).eval()
    disc = QuantileDiscretizer(np.random.default_rng(0).normal(size=(500, D)), 20)
    cfg = PlannerConfig(horizon=4, beam_width=8, n_expand=2, max_context_transitions=2)
    g = torch.Generator().manual_seed(1)
    same_bf16 = same_reseeded = 0
    for i in range(50):
        prefix = torch.randint(0, 20, (1, 2 * D + obs), generator=g)
        actions = []
        for precision, seed in (("fp32", i), ("bf16", i), ("fp32", i + 1000)):
            planner = BeamPlanner(model, disc, cfg, torch.Generator().manual_seed(seed))
            with autocast(precision, "cpu"):
                actions.append(planner.actions(planner.plan(prefix)[0]))
        same_bf16 += bool(np.array_equal(actions[0], actions[1]))
        same_reseeded += bool(np.array_equal(actions[0], actions[2]))
    assert same_bf16 >= 40 and same_reseeded <= 10, (same_bf16, same_reseeded)


def test_a_bf16_run_killed_at_a_random_moment_resumes_exactly(tmp_path):
    args = [*SAC, "precision=bf16", "runner.steps=12", "runner.eval_every=4", "runner.log_every=2",
            "runner.checkpoint_every=3", "runner.eval_episodes=1"]
    ref = run_cli(*args, f"hydra.run.dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr[-2000:]
    killed = subprocess.run([sys.executable, str(ROOT / "tests" / "kill_driver.py"), "5", "0", *args,
                             f"hydra.run.dir={tmp_path / 'killed'}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    again = run_cli(*args, f"hydra.run.dir={tmp_path / 'killed'}")
    assert again.returncode == 0 and "resumed from" in again.stdout, again.stderr[-2000:]
    pd.testing.assert_frame_equal(metrics_without_time(tmp_path / "killed"),
                                  metrics_without_time(tmp_path / "ref"), check_exact=True)


def test_an_fp32_checkpoint_continues_in_bf16_with_a_notice(tmp_path):
    run_dir = tmp_path / "run"
    assert run_cli(*SAC, *TINY_RUNNER, f"hydra.run.dir={run_dir}").returncode == 0
    longer = [a.replace("runner.steps=4", "runner.steps=6") for a in TINY_RUNNER]
    out = run_cli(*SAC, *longer, "precision=bf16", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "resumed from" in out.stdout
    assert f"note: {run_dir} was trained with precision=fp32; it continues with precision=bf16" in out.stdout
    assert "precision: bf16" in (run_dir / "config.yaml").read_text()
    assert pd.read_csv(run_dir / "metrics.csv")["step"].max() == 6


@pytest.mark.parametrize("args, message", [
    ([*SAC, "precision=fp16"], "error: precision=fp16 is not one of fp32, bf16"),
    (["algo=rlqp", "env=qp_mixed", *TINY_ALGO["rlqp"], "precision=bf16"],
     "error: precision=bf16: algo=rlqp supports fp32 only (RLQP.precisions); use precision=fp32"),
])
def test_an_unsupported_precision_is_refused_in_one_line(tmp_path, args, message):
    out = run_cli(*args, *TINY_RUNNER, f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == message
    assert not (tmp_path / "run").exists()
