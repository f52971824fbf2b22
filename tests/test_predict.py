"""svd/predict.py: the whole-song (dilated) network equals the excerpt-wise network, with bounded memory."""
import tracemalloc

import numpy as np
import pytest

from svd import network, predict, spectrum
from svd.util.errors import InputError


def random_params(seed):
    """Orthogonal init scaled up and random biases, so activations are far from trivial."""
    rng = np.random.default_rng(seed)
    params = network.init_params(rng)
    return {name: (1.5 * value if name.endswith(".w") else rng.normal(0, 0.1, value.shape).astype(np.float32))
            for name, value in params.items()}


@pytest.mark.parametrize("frames", [1, 2, 58, 131])
def test_whole_song_network_equals_excerpt_network(frames):
    params = random_params(frames)
    padded = np.random.default_rng(frames).standard_normal((frames + 114, 80)).astype(np.float32)
    expected = predict.excerpt_probabilities(params, padded)
    got = predict.song_probabilities(params, padded, chunk_frames=97)  # chunks that divide nothing
    assert got.shape == (frames,)
    # float32: both sum the same products, possibly in another order.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_chunking_does_not_change_the_result():
    params = random_params(0)
    padded = np.random.default_rng(1).standard_normal((400 + 114, 80)).astype(np.float32)
    whole = predict.song_probabilities(params, padded, chunk_frames=4096)
    for chunk in (7, 151):
        np.testing.assert_allclose(predict.song_probabilities(params, padded, chunk_frames=chunk), whole,
                                   rtol=0, atol=1e-6)


def peak_bytes(work):
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_song_length():
    """Peak memory is set by the chunk, not the song: a 1-hour song needs no more than a short one.

    (NumPy reports its array allocations to tracemalloc.) With 4096-frame
    chunks the peak is ~0.25 GB; an hour of audio (252,000 frames) only adds
    its own input and output arrays (~80 MB), well inside the 2 GB budget.
    """
    params = random_params(0)
    rng = np.random.default_rng(0)
    short = rng.standard_normal((2 * 1024 + 114, 80)).astype(np.float32)
    long = rng.standard_normal((6 * 1024 + 114, 80)).astype(np.float32)
    peak_short = peak_bytes(lambda: predict.song_probabilities(params, short, chunk_frames=1024))
    peak_long = peak_bytes(lambda: predict.song_probabilities(params, long, chunk_frames=1024))
    # 3x the song, same chunks: without chunking the peak would triple; allow 20% for
    # allocator and thread-scheduling noise.
    assert peak_long < 1.2 * peak_short
    hour_chunk_bytes = peak_short * predict.CHUNK_FRAMES / 1024
    assert hour_chunk_bytes + 252_000 * 80 * 4 * 2 < 2e9


def test_padding_uses_the_normalised_silence():
    mean = np.full(80, -5.0, np.float32)
    std = np.full(80, 2.0, np.float32)
    linear = np.ones((10, spectrum.LINEAR_BINS), np.float32)
    padded = predict.padded_input(linear, mean, std)
    assert padded.shape == (10 + 114, 80)
    np.testing.assert_allclose(padded[:57], (np.log(1e-7) + 5) / 2, rtol=1e-6)
    np.testing.assert_allclose(padded[-57:], (np.log(1e-7) + 5) / 2, rtol=1e-6)
    np.testing.assert_allclose(padded[57:-57], (spectrum.log_mel(linear) + 5) / 2, rtol=1e-6)


def test_a_bag_predicts_the_mean_of_its_networks_and_survives_its_file(tmp_path, capsys):
    """`run.py bag`: one file, several networks, the mean of their probabilities (not of their logits)."""
    from svd import model_file
    from svd.cli import options
    rng = np.random.default_rng(4)
    mean, std = rng.normal(-5, 1, 80).astype(np.float32), rng.uniform(1, 2, 80).astype(np.float32)
    paths = []
    for seed in (1, 2):
        params = {k: (3 * v if k.endswith(".w") else v) for k, v in network.init_params(np.random.default_rng(seed)).items()}
        paths.append(tmp_path / f"m{seed}.npz")
        model_file.save(paths[-1], model_file.Model(params, mean, std, {"train": {"seed": seed}}))
    assert options.main(["bag", *map(str, paths), "--out", str(tmp_path / "bag.npz")]) == 0
    assert "a bag of 2 networks" in capsys.readouterr().out
    bag = model_file.load(tmp_path / "bag.npz")
    assert len(bag.networks) == 2 and [m["seed"] for m in bag.config["bag"]] == [1, 2]
    linear = rng.uniform(0, 1, (300, 513)).astype(np.float32)
    alone = [predict.probabilities(model_file.load(p), linear) for p in paths]
    assert np.abs(alone[0] - alone[1]).max() > 0.05  # two different networks: the mean is a real test
    np.testing.assert_allclose(predict.probabilities(bag, linear), (alone[0] + alone[1]) / 2, atol=1e-6)
    other = model_file.Model(bag.params, mean + 1, std, {})
    model_file.save(tmp_path / "other.npz", other)
    assert options.main(["bag", str(paths[0]), str(tmp_path / "other.npz"), "--out", str(tmp_path / "b2.npz")]) == 2
    assert "trained on other songs" in capsys.readouterr().err and not (tmp_path / "b2.npz").exists()
    with np.load(tmp_path / "bag.npz") as stored:  # a gap in the numbering: damaged, refused
        arrays = {k.replace("bag/1/", "bag/2/"): stored[k] for k in stored.files}
    np.savez(tmp_path / "gap.npz", **arrays)
    with pytest.raises(InputError, match="not numbered 1, 2"):
        model_file.load(tmp_path / "gap.npz")
