"""The Hydra configs of the toolkit (installed as ``rlkit.conf``; ``rlkit-run`` reads them from here)."""
