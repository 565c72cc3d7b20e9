"""The QP env of RLQP and its simulator: an OSQP-exact ADMM solver (:mod:`.admm`), its batched
version (:mod:`.batched`), the benchmark problem generators and the Maros-Meszaros reader
(:mod:`.problems`), and the MDP that sets rho every K iterations (:mod:`.env`)."""

from rlkit.envs.qp.admm import ADMM, QPDataError, Result, RhoPolicy, Settings, Status, solve
from rlkit.envs.qp.batched import BatchedADMM
from rlkit.envs.qp.env import QPEnv, QPSampler
from rlkit.envs.qp.problems import QP, generate, load_maros_meszaros

__all__ = ["ADMM", "BatchedADMM", "QPDataError", "Result", "RhoPolicy", "Settings", "Status", "solve",
           "QPEnv", "QPSampler", "QP", "generate", "load_maros_meszaros"]
