"""The algorithms of the toolkit, one package each (installed as ``rlkit.algos``).

Importing any of them registers the toolkit's envs (``rlkit/<Name>-v0``, :mod:`rlkit.envs`), so
that ``PEARL(cfg, "rlkit/SparsePointRobot-v0")`` works without a separate ``import rlkit.envs``.
"""

import rlkit.envs  # noqa: F401  (registers the gymnasium ids)
