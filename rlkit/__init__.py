"""rlkit: shared core of the offline / meta-RL toolkit (distribution name ``rlkit-offmeta``).

Submodules: :mod:`rlkit.runner` (the experiment loop), :mod:`rlkit.checkpoint`,
:mod:`rlkit.logging`, :mod:`rlkit.seeding`, :mod:`rlkit.data`, :mod:`rlkit.nn`, :mod:`rlkit.rl`.
"""

__version__ = "0.1.0"
