import h5py
import numpy as np
import pytest

from rlkit.data import DatasetError, OfflineDataset, collect_dataset, d4rl_path, normalized_score


def _dataset(n=10, with_timeouts=True):
    rng = np.random.default_rng(0)
    term = np.zeros(n, bool)
    term[3] = True
    to = np.zeros(n, bool)
    to[6] = to[n - 1] = True
    return OfflineDataset(observations=rng.normal(size=(n, 3)).astype(np.float32),
                          actions=rng.normal(size=(n, 2)).astype(np.float32),
                          rewards=np.arange(n, dtype=np.float32), terminals=term,
                          timeouts=to if with_timeouts else np.zeros(n, bool))


def test_hdf5_round_trip_keeps_every_array(tmp_path):
    ds = _dataset()
    ds.infos = {"qpos": np.ones((10, 2))}
    ds.metadata = {"policy/id": np.array(3)}
    ds.to_hdf5(tmp_path / "d.hdf5")
    back = OfflineDataset.from_hdf5(tmp_path / "d.hdf5")
    for k in ("observations", "actions", "rewards", "terminals", "timeouts"):
        assert np.array_equal(getattr(back, k), getattr(ds, k))
    assert np.array_equal(back.infos["qpos"], np.ones((10, 2)))
    assert back.metadata["policy/id"] == 3


def _write_repeatedly(path, times):
    for _ in range(times):
        _dataset(n=20_000).to_hdf5(path)


def test_concurrent_writers_never_leave_a_partial_file(tmp_path):
    """pytest-xdist workers generate the same local: dataset at once; every write must land whole."""
    import multiprocessing as mp

    path = tmp_path / "shared.hdf5"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_write_repeatedly, args=(path, 5)) for _ in range(3)]
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        if path.is_file():
            assert len(OfflineDataset.from_hdf5(path)) == 20_000
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(OfflineDataset.from_hdf5(path)) == 20_000
    assert list(tmp_path.iterdir()) == [path]          # no temporary file left behind


def test_episodes_end_at_terminals_or_timeouts():
    ds = _dataset()
    assert ds.episode_bounds() == [(0, 4), (4, 7), (7, 10)]
    assert ds.episode_returns().tolist() == [6.0, 15.0, 24.0]


def test_rewards_of_shape_n_by_1_are_squeezed(tmp_path):
    path = tmp_path / "r.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.zeros((4, 2), np.float32)
        f["actions"] = np.zeros((4, 1), np.float32)
        f["rewards"] = np.ones((4, 1), np.float32)
        f["terminals"] = np.array([0, 0, 0, 1], bool)
        f["timeouts"] = np.zeros(4, bool)
    assert OfflineDataset.from_hdf5(path).rewards.shape == (4,)


def test_files_without_timeouts_split_at_max_episode_steps(tmp_path):
    path = tmp_path / "v0.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.zeros((7, 1), np.float32)
        f["actions"] = np.zeros((7, 1), np.float32)
        f["rewards"] = np.ones(7, np.float32)
        f["terminals"] = np.array([0, 1, 0, 0, 0, 0, 0], bool)
    with pytest.raises(DatasetError, match="max_episode_steps"):
        OfflineDataset.from_hdf5(path)
    ds = OfflineDataset.from_hdf5(path, max_episode_steps=2)
    assert ds.episode_bounds() == [(0, 2), (2, 4), (4, 6), (6, 7)]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match="nope.hdf5 does not exist"):
        OfflineDataset.from_hdf5(tmp_path / "nope.hdf5")


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.zeros((3, 1))
    with pytest.raises(DatasetError, match=r"lacks required key\(s\) \['actions', 'rewards'"):
        OfflineDataset.from_hdf5(path)


def test_mismatched_lengths_are_named(tmp_path):
    path = tmp_path / "short.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.zeros((5, 1))
        f["actions"] = np.zeros((4, 1))
        f["rewards"] = np.zeros(5)
        f["terminals"] = np.zeros(5, bool)
        f["timeouts"] = np.zeros(5, bool)
    with pytest.raises(DatasetError, match="'actions' has 4 rows but 'observations' has 5"):
        OfflineDataset.from_hdf5(path)


def test_nan_values_are_reported_with_their_row(tmp_path):
    ds = _dataset()
    ds.observations[5, 1] = np.nan
    path = tmp_path / "nan.hdf5"
    with h5py.File(path, "w") as f:
        for k in ("observations", "actions", "rewards", "terminals", "timeouts"):
            f[k] = getattr(ds, k)
    with pytest.raises(DatasetError, match="'observations' contains NaN or inf.*row 5"):
        OfflineDataset.from_hdf5(path)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "junk.hdf5"
    path.write_text("not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        OfflineDataset.from_hdf5(path)


def test_normalized_score_uses_d4rl_reference_returns():
    assert normalized_score("hopper", -20.272305) == pytest.approx(0.0)
    assert normalized_score("hopper-medium-v2", 3234.3) == pytest.approx(100.0)
    assert normalized_score("halfcheetah", 5927.41) == pytest.approx(50.0, abs=1e-3)
    with pytest.raises(KeyError, match="no D4RL reference"):
        normalized_score("cartpole", 1.0)


def test_d4rl_name_resolves_to_the_d4rl_cache_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path))
    assert d4rl_path("hopper-medium-v2") == tmp_path / "hopper_medium-v2.hdf5"
    with pytest.raises(DatasetError, match="hopper_medium-v2.hdf5"):
        OfflineDataset.from_d4rl("hopper-medium-v2")
    _dataset().to_hdf5(tmp_path / "hopper_medium-v2.hdf5")
    assert len(OfflineDataset.from_d4rl("hopper-medium-v2")) == 10


def test_qlearning_transitions_drop_timeout_steps_without_next_observations():
    tr = _dataset().transitions()
    assert len(tr["obs"]) == 8                      # rows 6 and 9 are timeouts
    assert tr["terminated"].sum() == 1


def test_collector_records_terminals_and_timeouts(tmp_path):
    import gymnasium as gym

    env = gym.make("CartPole-v1", max_episode_steps=20)
    ds = collect_dataset(env, lambda o: 0, num_steps=100, seed=1, progress=False)
    assert len(ds) == 100
    bounds = ds.episode_bounds()
    assert bounds[-1][1] == 100 and all(e - s <= 20 for s, e in bounds)
    assert np.allclose(ds.next_observations[:-1][~(ds.terminals | ds.timeouts)[:-1]],
                       ds.observations[1:][~(ds.terminals | ds.timeouts)[:-1]])
    ds.to_hdf5(tmp_path / "c.hdf5")
    assert np.array_equal(OfflineDataset.from_hdf5(tmp_path / "c.hdf5").episode_returns(),
                          ds.episode_returns())


def _write_minari(dataset_id, episodes):
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    env = gym.make("CartPole-v1", max_episode_steps=50)
    buffers = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        cols = {"o": [obs], "a": [], "r": [], "te": [], "tr": []}
        while True:
            obs, r, te, tr, _ = env.step(ep % 2)
            for k, v in zip(("o", "a", "r", "te", "tr"), (obs, ep % 2, r, te, tr), strict=True):
                cols[k].append(v)
            if te or tr:
                break
        buffers.append(EpisodeBuffer(id=ep, observations=np.array(cols["o"]), actions=np.array(cols["a"]),
                                     rewards=cols["r"], terminations=cols["te"], truncations=cols["tr"],
                                     infos={}))
    minari.create_dataset_from_buffers(dataset_id, buffers, env=env, algorithm_name="test")
    return buffers


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_minari_dataset_is_read_locally_without_download(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    buffers = _write_minari("test/cartpole/fixed-v0", 3)
    ds = OfflineDataset.from_minari("test/cartpole/fixed-v0")
    lengths = [len(b.rewards) for b in buffers]
    assert len(ds) == sum(lengths)
    assert [e - s for s, e in ds.episode_bounds()] == lengths
    assert np.array_equal(ds.next_observations[: lengths[0]], buffers[0].observations[1:])
    with pytest.raises(DatasetError, match="not stored locally"):
        OfflineDataset.from_minari("test/cartpole/missing-v0")
