import torch

from rlkit.data import EpisodeBuffer, MultiTaskBuffer, discounted_cumsum, relabel_tasks, sample_her
from rlkit.envs.point_goal import compute_reward


def _episode(T, start=0.0):
    return {"obs": torch.arange(start, start + T).view(T, 1), "reward": torch.ones(T)}


def test_discounted_cumsum():
    assert discounted_cumsum(torch.tensor([1., 1., 1.]), 0.5).tolist() == [1.75, 1.5, 1.0]


def test_windows_pad_past_episode_end_and_carry_returns_to_go():
    buf = EpisodeBuffer({"obs": (1,), "reward": ()}, capacity=100)
    buf.add_episode(_episode(3))
    buf.add_episode(_episode(5, start=10))
    b = buf.sample_windows(200, length=4)
    assert b["obs"].shape == (200, 4, 1) and b["mask"].shape == (200, 4)
    for i in range(200):
        m = b["mask"][i]
        valid = int(m.sum())
        obs = b["obs"][i, :, 0]
        assert m[:valid].all() and not m[valid:].any()       # padding only at the end
        assert (obs[valid:] == 0).all()
        ts = b["timestep"][i, :valid]
        assert torch.equal(ts, ts[0] + torch.arange(valid))
        T = 3 if obs[0] < 10 else 5
        assert torch.equal(b["rtg"][i, :valid], (T - ts).float())  # undiscounted reward-to-go


def test_fifo_eviction_of_whole_episodes():
    buf = EpisodeBuffer({"obs": (1,), "reward": ()}, capacity=8)
    for k in range(4):
        buf.add_episode(_episode(3, start=10 * k))
    assert buf.num_episodes == 2 and buf.size == 6
    assert buf.episode(0)["obs"][0, 0].item() == 20.0


def test_her_future_goals_come_from_later_steps_of_the_same_episode():
    buf = EpisodeBuffer({"t": (), "ep": (), "next_achieved_goal": (2,), "desired_goal": (2,),
                         "reward": ()}, capacity=1000)
    for e in range(3):
        T = 6
        ag = torch.stack([torch.full((T,), float(e)), torch.arange(T).float()], 1)
        buf.add_episode({"t": torch.arange(T), "ep": torch.full((T,), e), "next_achieved_goal": ag,
                         "desired_goal": torch.full((T, 2), 9.0), "reward": -torch.ones(T)})
    b = sample_her(buf, 500, compute_reward, strategy="future", relabel_prob=1.0)
    assert (b["desired_goal"][:, 0] == b["ep"]).all()                 # same episode
    assert (b["desired_goal"][:, 1] >= b["t"]).all()                  # future step
    own = b["desired_goal"][:, 1] == b["t"]
    assert (b["reward"][own] == 0).all() and (b["reward"][~own] == -1).all()


def test_her_final_strategy_and_relabel_fraction():
    buf = EpisodeBuffer({"next_achieved_goal": (1,), "desired_goal": (1,), "reward": ()}, 100)
    buf.add_episode({"next_achieved_goal": torch.arange(5.).view(5, 1),
                     "desired_goal": torch.full((5, 1), -1.0), "reward": torch.zeros(5)})
    b = sample_her(buf, 2000, lambda a, g: -(a - g).abs().sum(-1), "final", relabel_prob=0.5)
    assert set(b["desired_goal"][b["relabelled"], 0].tolist()) == {4.0}
    assert abs(b["relabelled"].float().mean().item() - 0.5) < 0.05


def test_task_relabelling_recomputes_rewards_with_the_pure_function():
    batch = {"obs": torch.zeros(4, 2), "action": torch.zeros(4, 2),
             "next_obs": torch.tensor([[1., 0.], [0., 1.], [1., 1.], [0., 0.]]),
             "reward": torch.zeros(4)}
    tasks = torch.tensor([[1., 0.], [1., 0.], [1., 1.], [5., 5.]])
    out = relabel_tasks(batch, tasks, lambda o, a, o2, task: -(o2 - task).norm(dim=-1))
    assert torch.allclose(out["reward"], torch.tensor([0., -2 ** 0.5, 0., -50 ** 0.5]))
    assert out["task"] is tasks and batch["reward"].eq(0).all()


def test_multitask_buffer_samples_per_task():
    mt = MultiTaskBuffer(3, {"obs": (1,), "reward": ()}, capacity_per_task=50)
    for task in range(3):
        mt.add_episode(task, {"obs": torch.full((10, 1), float(task)), "reward": torch.zeros(10)})
    b = mt.sample([2, 0], batch_size=7)
    assert b["obs"].shape == (2, 7, 1)
    assert (b["obs"][0] == 2).all() and (b["obs"][1] == 0).all()
    ctx = mt.sample_context([1], 5)
    assert ctx["obs"].shape == (1, 5, 1) and (ctx["obs"] == 1).all()
