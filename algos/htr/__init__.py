"""PEARL and Hindsight Task Relabelling (Packer et al., NeurIPS 2021). See docs/htr.md."""

from rlkit.algos.htr.encoder import ContextEncoder, kl_to_standard_normal, product_of_gaussians
from rlkit.algos.htr.pearl import PEARL, PEARLConfig

__all__ = ["PEARL", "PEARLConfig", "ContextEncoder", "kl_to_standard_normal", "product_of_gaussians"]
