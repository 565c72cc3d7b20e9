"""Network building blocks: MLP, batched ensembles, GPT with KV cache, the Nature-DQN conv trunk."""

from rlkit.nn.conv import NatureCNN, policy_network
from rlkit.nn.ensemble import EnsembleLinear, EnsembleMLP
from rlkit.nn.gpt import GPT, GPTConfig, KVCache
from rlkit.nn.mlp import MLP

__all__ = ["MLP", "EnsembleLinear", "EnsembleMLP", "GPT", "GPTConfig", "KVCache", "NatureCNN", "policy_network"]
