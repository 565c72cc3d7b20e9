import torch

from rlkit.data import EpisodeBuffer


def _episode(T, start=0.0):
    return {"obs": torch.arange(start, start + T).view(T, 1), "reward": torch.ones(T)}


def test_transitions_know_their_episode_and_step():
    buf = EpisodeBuffer({"obs": (1,), "reward": ()}, capacity=100, seed=0)
    buf.add_episode(_episode(3))
    buf.add_episode(_episode(5, start=10))
    b = buf.sample_transitions(200)
    starts = torch.tensor([0.0, 10.0])
    assert torch.equal(b["obs"][:, 0], starts[b["episode"]] + b["t"])
    assert set(b["episode"].tolist()) == {0, 1} and b["t"].max() == 4


def test_fifo_eviction_of_whole_episodes():
    buf = EpisodeBuffer({"obs": (1,), "reward": ()}, capacity=8)
    for k in range(4):
        buf.add_episode(_episode(3, start=10 * k))
    assert buf.num_episodes == 2 and buf.size == 6
    assert buf.episode(0)["obs"][0, 0].item() == 20.0


def test_state_dict_round_trip_continues_the_draws():
    buf = EpisodeBuffer({"obs": (1,)}, capacity=50, seed=3)
    buf.add_episode({"obs": torch.arange(7.0).view(7, 1)})
    other = EpisodeBuffer({"obs": (1,)}, capacity=50, seed=9)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(buf.sample_transitions(16)["obs"], other.sample_transitions(16)["obs"])
