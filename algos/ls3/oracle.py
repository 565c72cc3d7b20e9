"""Ground-truth stand-ins for LS3's learned parts on the navigation task, to find which learned part
a failure lives in. These are diagnostics, not part of LS3 (each is off by default):

- ``latent="state"``: z is the robot's true position scaled to [-1, 1]^2 instead of the VAE's latent
  (every latent model is then trained on positions);
- ``dynamics_model="oracle"``: the planner rolls out positions with the noise-free dynamics
  (``noise_free_step``) and scores the latent of every predicted position: the posterior mean of its
  image (image latent; a table over the integer positions, which are all the renderer tells apart)
  or the scaled position (state latent);
- ``value_model="oracle"``: V*(s) = -(1 - gamma^n(s)) / (1 - gamma), n(s) the fewest noise-free steps
  from s to the goal (``optimal_steps``, on the integer grid), the discounted value LS3's TD targets aim at;
- ``safe_set_model="oracle"``: probability 1 outside the obstacle, 0 inside. LS3's safe set is the set
  of states from which the task can be completed without a violation; in this task that is every
  free position (the farthest needs 60 of the 100 steps).

The true value and safe set need the position of each imagined state: the true dynamics give it, and
with the state latent it is the latent itself.
"""

from __future__ import annotations

import numpy as np
import torch

from rlkit.envs.ls3_navigation import WORLD, in_obstacle, noise_free_step, optimal_steps

STATE_LOG_STD = -20.0     # the state latent's "posterior" log-std: z is the position itself


def state_latent(position: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Positions [..., 2] in the world -> latents in [-1, 1]^2."""
    world = torch.as_tensor(WORLD, dtype=torch.float32)
    return torch.as_tensor(position, dtype=torch.float32) / world * 2 - 1


def latent_position(z: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`state_latent`."""
    return (z + 1) / 2 * torch.as_tensor(WORLD, dtype=z.dtype, device=z.device)


class NavigationOracle:
    """True dynamics, value and safe set of the navigation task (module docstring).

    ``latent_table``: [181, 151, d] posterior means of the image at every integer position (image
    latent), or None (state latent)."""

    def __init__(self, latent_table: torch.Tensor | None, gamma: float, device: torch.device) -> None:
        self.latent_table, self.device = latent_table, device
        steps = torch.tensor(optimal_steps(), dtype=torch.float32, device=device)  # copies the read-only cache
        self.value_table = -(1 - gamma**steps) / (1 - gamma)          # inf steps -> -1 / (1 - gamma)

    def step(self, position: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Next positions [N, 2] under the noise-free dynamics."""
        moved = noise_free_step(position.cpu().numpy(), action.cpu().numpy())
        return torch.as_tensor(moved, dtype=torch.float32, device=self.device)

    def _cells(self, position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = position[:, 0].long().clamp(0, int(WORLD[0]))
        y = position[:, 1].long().clamp(0, int(WORLD[1]))
        return x, y

    def latent(self, position: torch.Tensor) -> torch.Tensor:
        """The latent the agent would see at each position (noise-free)."""
        if self.latent_table is None:
            return state_latent(position).to(self.device)
        return self.latent_table[self._cells(position)]

    def value(self, position: torch.Tensor) -> torch.Tensor:
        return self.value_table[self._cells(position)]

    def safe(self, position: torch.Tensor) -> torch.Tensor:
        """P(in the safe set): 1 at free positions, 0 in the obstacle."""
        inside = in_obstacle(position.cpu().numpy())
        return torch.as_tensor(~inside, dtype=torch.float32, device=self.device)


@torch.no_grad()
def image_latent_table(render, encode, chunk: int = 2048) -> torch.Tensor:
    """[181, 151, d] posterior means of ``render(position)`` (uint8 [C, S, S]) for every integer
    position, encoded ``chunk`` images at a time by ``encode`` (uint8 [N, C, S, S] -> mean [N, d])."""
    cells = np.stack(np.meshgrid(np.arange(WORLD[0] + 1), np.arange(WORLD[1] + 1), indexing="ij"), -1)
    flat = cells.reshape(-1, 2)
    means = [encode(np.stack([render(p) for p in flat[i:i + chunk]])) for i in range(0, len(flat), chunk)]
    return torch.cat(means).view(*cells.shape[:2], -1)
