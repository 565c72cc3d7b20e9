"""The installed package: a user's project with its own ``envs/`` and ``algos/`` packages uses the
toolkit, and the wheel carries the configs and the ``rlkit-run`` console script."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_a_project_with_its_own_envs_and_algos_packages_uses_the_toolkit(tmp_path):
    for pkg in ("envs", "algos"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(f"OWNER = 'user {pkg}'\n")
    (tmp_path / "train.py").write_text(
        "import envs, algos, gymnasium as gym\n"
        "from rlkit.algos.eppo import EPPO, EPPOConfig\n"
        "import rlkit.envs\n"
        "assert envs.OWNER == 'user envs' and algos.OWNER == 'user algos'\n"
        "agent = EPPO(EPPOConfig(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, hidden=(8,),\n"
        "                        num_policies=2), 'CartPole-v1', seed=0)\n"
        "print(sorted(agent.train_step())[:1], gym.make('rlkit/PointMaze-v0').reset(seed=0)[0].shape)\n")
    out = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True,
                         env=CLEAN_ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "(4,)" in out.stdout


@pytest.mark.xdist_group("wheel")
def test_the_wheel_installs_into_a_fresh_venv_and_runs_an_experiment(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("rlkit_offmeta-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rlkit/conf/config.yaml" in names and "rlkit/conf/algo/boot.yaml" in names
    assert "rlkit/algos/boot/agent.py" in names and "rlkit/envs/qp/admm.py" in names
    assert "rlkit/py.typed" in names and "rlkit/algos/rlqp/pretrained/qp_mixed.pt" in names
    assert not [n for n in names if n.split("/")[0] in ("algos", "envs", "conf")]   # no generic top-level names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # the dependencies come from the test's environment (its site-packages, without the editable rlkit)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([str(py), "-c", "import rlkit.algos; print(rlkit.algos.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=CLEAN_ENV, check=True).stdout
    assert where.startswith(site)
    learned = ("from rlkit.algos.rlqp import solve; from rlkit.envs.qp.problems import generate; "
               "qp = generate('random_qp', 15, 1); "
               "print(solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho='learned').status)")
    out = subprocess.run([str(py), "-c", learned], cwd=tmp_path, capture_output=True, text=True, env=CLEAN_ENV)
    assert out.stdout.strip() == "solved", out.stderr[-2000:]             # the shipped policy, from the wheel
    run_dir = tmp_path / "run"
    out = subprocess.run([str(venv / "bin" / "rlkit-run"), "algo=ppo", "env=cartpole", "runner.steps=2",
                          "runner.eval_every=2", "runner.eval_episodes=1", "algo.num_steps=16",
                          "logger.wandb.mode=disabled", f"hydra.run.dir={run_dir}"],
                         cwd=tmp_path, capture_output=True, text=True, env=CLEAN_ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (run_dir / "summary.json").is_file() and (run_dir / "metrics.csv").is_file()
