"""Network building blocks: MLP, batched ensembles, GPT with KV cache, conv encoders and VAE."""

from rlkit.nn.conv import VAE, ConvDecoder, ConvEncoder, NatureCNN, policy_network
from rlkit.nn.ensemble import EnsembleLinear, EnsembleMLP
from rlkit.nn.gpt import GPT, GPTConfig, KVCache
from rlkit.nn.mlp import MLP

__all__ = ["MLP", "EnsembleLinear", "EnsembleMLP", "GPT", "GPTConfig", "KVCache", "ConvEncoder",
           "ConvDecoder", "VAE", "NatureCNN", "policy_network"]
