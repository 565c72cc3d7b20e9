"""Run an experiment from the repository: ``python run.py algo=ppo env=cartpole seed=3``.

The same as the installed console script ``rlkit-run`` (:mod:`rlkit.cli`).
"""

from rlkit.cli import main

if __name__ == "__main__":
    main()
