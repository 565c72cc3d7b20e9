"""Run an experiment like ``run.py`` and SIGKILL this process at a chosen moment after its first
checkpoint (used by tests/test_resume.py).

    python tests/kill_driver.py KILL_AT BEFORE run.py-overrides...

After the first ``checkpoints/last.pt`` is written, the process kills itself with SIGKILL at the
KILL_AT-th following call of ``train_step`` or ``evaluate``: before the call when BEFORE is 1, or
after it returns (its result computed, not yet logged or checkpointed) when 0. Nothing is flushed
or cleaned up, as with a real kill.
"""

import os
import signal
import sys

from rlkit import runner

kill_at, before = int(sys.argv[1]), sys.argv[2] == "1"
state = {"armed": False, "calls": 0}
_save, _init = runner.Runner.save, runner.Runner.__init__


def _tick() -> None:
    if state["armed"]:
        state["calls"] += 1
        if state["calls"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _wrapped(fn):
    def call(*args, **kwargs):
        if before:
            _tick()
        out = fn(*args, **kwargs)
        if not before:
            _tick()
        return out
    return call


def save(self) -> None:
    _save(self)
    state["armed"] = True


def init(self, algo, *args, **kwargs) -> None:
    algo.train_step, algo.evaluate = _wrapped(algo.train_step), _wrapped(algo.evaluate)
    _init(self, algo, *args, **kwargs)


runner.Runner.save, runner.Runner.__init__ = save, init
sys.argv = ["run.py", *sys.argv[3:]]

from rlkit.cli import main  # noqa: E402

main()
