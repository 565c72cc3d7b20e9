"""Shared helpers for tests that drive run.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

TINY_RUNNER = ["runner.steps=4", "runner.eval_every=2", "runner.log_every=1",
               "runner.checkpoint_every=2", "runner.eval_episodes=1", "logger.wandb.mode=disabled"]
TINY_META = ["algo.net_size=16", "algo.net_layers=2", "algo.encoder_hidden=[16]", "algo.meta_batch=4",
             "algo.num_initial_steps=20", "algo.num_tasks_sample=2", "algo.num_steps_prior=20",
             "algo.num_steps_posterior=20", "algo.num_train_steps_per_itr=2", "algo.batch_size=8",
             "algo.embedding_batch_size=8", "algo.num_exp_traj_eval=1", "algo.num_steps_per_eval=40",
             "algo.buffer_size=2000", "env.kwargs.num_tasks=10", "env.kwargs.num_train_tasks=6"]
TINY_LS3 = ["algo.n_demos=2", "algo.n_constraint=2", "algo.vae_arch=small", "algo.vae_iters=4",
            "algo.vae_batch=16",
            "algo.latent_dim=4", "algo.dyn_hidden=[16]", "algo.val_hidden=[16]", "algo.head_hidden=[16]",
            "algo.val_members=2", "algo.dyn_members=2", "algo.dyn_pretrain=3", "algo.val_mc_pretrain=3",
            "algo.val_td_pretrain=3", "algo.safe_pretrain=3", "algo.constr_pretrain=3", "algo.goal_pretrain=3",
            "algo.dyn_updates=2", "algo.val_updates=2", "algo.safe_updates=2", "algo.constr_updates=2",
            "algo.goal_updates=2", "algo.episodes_per_iter=2", "algo.population=16", "algo.elites=4",
            "algo.particles=2", "algo.iterations=3", "algo.batch_size=16", "env.kwargs.image_size=16",
            "env.kwargs.horizon=10"]
TINY_BOOT = ["algo.n_layer=1", "algo.n_head=2", "algo.n_embd=8", "algo.batch_size=16", "algo.n_bins=20",
             "algo.beam_width=4", "algo.horizon=2", "algo.eval_max_steps=3", "algo.generation_epoch_thresh=0.0",
             "algo.generation_num=4", "algo.generation_confidence_factor=0.25", "algo.seq_len=4",
             "algo.eval_open_loop_steps=2"]
TINY_ALGO = {
    "ls3": TINY_LS3,
    "boot": TINY_BOOT,
    "tt": TINY_BOOT,
    "ppo": ["algo.num_envs=2", "algo.num_steps=8", "algo.num_minibatches=2", "algo.update_epochs=1"],
    "eppo": ["algo.num_envs=2", "algo.num_steps=8", "algo.num_minibatches=2", "algo.update_epochs=1",
             "algo.num_policies=2", "algo.hidden=[16]"],
    "sac": ["algo.learning_starts=2", "algo.batch_size=8", "algo.buffer_size=100", "algo.hidden=[16]"],
    "td3": ["algo.learning_starts=2", "algo.batch_size=8", "algo.buffer_size=100", "algo.hidden=[16]"],
    "pearl": TINY_META,
    "htr": TINY_META,
    "cplanning": ["algo.hidden=[16]", "algo.batch_size=16", "algo.random_steps=40", "algo.planning_start=40",
                  "algo.num_nodes=16", "algo.min_prob=0.01", "env.kwargs.max_steps=20"],
    "clearning": ["algo.hidden=[16]", "algo.batch_size=16", "algo.random_steps=40", "env.kwargs.max_steps=20"],
    "rlqp": ["algo.random_episodes=1", "algo.updates_per_step=1.0", "algo.batch_size=16",
             "algo.hidden=[16]", "algo.eval_per_class=1", "env.kwargs.classes={random_qp:[5,6]}",
             "env.kwargs.max_steps=4"],
}


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


def metrics_without_time(run_dir: Path) -> pd.DataFrame:
    df = pd.read_csv(Path(run_dir) / "metrics.csv")
    return df[[c for c in df.columns if not c.startswith("time/")]]


def compose(overrides: list[str]):
    """The composed Hydra configuration of ``run.py`` with ``overrides`` (no run)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=overrides, return_hydra_config=False)
