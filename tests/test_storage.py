import torch

from rlkit.data import PackedTensor, ReplayBuffer


def test_packed_tensor_round_trips_fields():
    st = PackedTensor({"obs": (3,), "action": (2,), "reward": ()}, capacity=4)
    st.write(torch.tensor([1, 3]), {"obs": torch.arange(6.).view(2, 3),
                                    "action": torch.ones(2, 2), "reward": torch.tensor([5., 7.])})
    out = st.read(torch.tensor([3, 1]))
    assert out["obs"].tolist() == [[3., 4., 5.], [0., 1., 2.]]
    assert out["reward"].tolist() == [7., 5.]
    assert out["action"].shape == (2, 2)


def test_packed_tensor_rejects_mismatched_rows():
    st = PackedTensor({"a": (1,), "b": (1,)}, capacity=2)
    try:
        st.pack({"a": torch.zeros(2, 1), "b": torch.zeros(3, 1)})
    except ValueError as err:
        assert "'b'" in str(err)
    else:
        raise AssertionError("expected ValueError")


def _fill(buf, rewards, dones, E=1):
    for t, (r, d) in enumerate(zip(rewards, dones, strict=True)):
        o = torch.full((E, 1), float(t))
        buf.add(o, torch.zeros(E, 1), torch.full((E,), r), o + 1, torch.full((E,), d), torch.zeros(E))


def test_one_step_sample_discount_zero_at_termination():
    buf = ReplayBuffer((1,), (1,), capacity=10, gamma=0.9)
    _fill(buf, [1., 2.], [False, True])
    b = buf.sample(64)
    term = b["terminated"].bool()
    assert torch.allclose(b["discount"][term], torch.zeros(int(term.sum())))
    assert torch.allclose(b["discount"][~term], torch.full((int((~term).sum()),), 0.9))


def test_n_step_return_stops_at_episode_end():
    buf = ReplayBuffer((1,), (1,), capacity=10, n_step=3, gamma=0.5)
    _fill(buf, [1., 2., 4., 8.], [False, True, False, False])
    b = buf.sample(256)
    t = b["obs"][:, 0].long()
    expect_r = {0: 1 + 0.5 * 2, 1: 2., 2: 4 + 0.5 * 8, 3: 8.}  # t=2,3 stop at the write cursor
    expect_next = {0: 2., 1: 2., 2: 4., 3: 4.}
    expect_disc = {0: 0.0, 1: 0.0, 2: 0.25, 3: 0.5}
    for i in range(len(t)):
        k = int(t[i])
        assert b["reward"][i].item() == expect_r[k]
        assert b["next_obs"][i, 0].item() == expect_next[k]
        assert b["discount"][i].item() == expect_disc[k]


def test_ring_buffer_overwrites_oldest_and_keeps_size():
    buf = ReplayBuffer((1,), (1,), capacity=3)
    _fill(buf, [0., 1., 2., 3., 4.], [False] * 5)
    assert len(buf) == 3
    seen = set(buf.sample(200)["obs"][:, 0].tolist())
    assert seen == {2., 3., 4.}


def test_replay_state_dict_restores_samples_exactly():
    buf = ReplayBuffer((2,), (1,), capacity=8, num_envs=2, seed=3)
    for _ in range(5):
        buf.add(torch.randn(2, 2), torch.randn(2, 1), torch.randn(2), torch.randn(2, 2),
                torch.zeros(2), torch.zeros(2))
    state = buf.state_dict()
    a = buf.sample(16)
    other = ReplayBuffer((2,), (1,), capacity=8, num_envs=2, seed=99)
    other.load_state_dict(state)
    b = other.sample(16)
    for k in a:
        assert torch.equal(a[k], b[k])


def test_vector_env_transitions_never_cross_episode_boundaries():
    import numpy as np

    from rlkit.env_spec import make_vector_env, true_next_obs

    envs = make_vector_env("CartPole-v1", 3, seed=0)
    obs, _ = envs.reset(seed=0)
    buf = ReplayBuffer((4,), (), capacity=3000, num_envs=3)
    ends = 0
    for _ in range(300):
        a = envs.action_space.sample()
        nxt, r, term, trunc, info = envs.step(a)
        real_next = true_next_obs(nxt, info)
        buf.add(obs, a, r, real_next, term, trunc)
        ends += int((term | trunc).sum())
        # the stored next_obs is the continuation of obs: a CartPole step moves x by < 0.1
        assert np.abs(real_next[:, 0] - obs[:, 0]).max() < 0.1
        obs = nxt
    assert ends > 5


def test_same_step_vector_env_matches_gymnasiums_sync_vector_env():
    """The lean ``step`` returns what gymnasium's SAME_STEP SyncVectorEnv returns, step by step,
    across episode ends (CartPole's terminations and a 20-step time limit's truncations) and
    for a Dict-info MiniGrid env."""
    import gymnasium as gym
    import numpy as np

    from rlkit.env_spec import EnvSpec, SameStepVectorEnv

    for spec in (EnvSpec("CartPole-v1", {"max_episode_steps": 20}),
                 EnvSpec("rlkit/MiniGrid-v0", {"train_layouts": 5, "max_steps": 15})):
        ours = SameStepVectorEnv([spec.make] * 3)
        ref = gym.vector.SyncVectorEnv([spec.make] * 3, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        np.testing.assert_array_equal(ours.reset(seed=1)[0], ref.reset(seed=1)[0])
        ours.action_space.seed(0)
        ended = 0
        for _ in range(60):
            action = ours.action_space.sample()
            a, b = ours.step(action), ref.step(action)
            for x, y in zip(a[:4], b[:4], strict=True):
                np.testing.assert_array_equal(x, y)
            assert a[4].keys() == b[4].keys()
            for key in a[4]:
                if key == "final_obs":
                    for i in np.flatnonzero(a[4]["_final_obs"]):
                        np.testing.assert_array_equal(a[4][key][i], b[4][key][i])
                elif key != "final_info":
                    np.testing.assert_array_equal(a[4][key], b[4][key])
            ended += int(a[2].sum() + a[3].sum())
        assert ended >= 3
