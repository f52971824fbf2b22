"""svd/train.py and svd/batches.py: sampling, determinism, checkpoint/resume, divergence, and real learning."""
import json

import numpy as np
import pytest

from svd import backend, batches, dataset, device, excerpt, hyperparameters, model_file, network, spectrum, train
from svd.cli import options
from svd.util.errors import InputError


def test_positions_are_drawn_without_replacement_within_an_epoch():
    sampler = batches.PositionSampler(n_positions=50, batch_size=8, seed=3)
    drawn = np.concatenate([sampler.positions(k) for k in range(12)])  # 96 = 50 + 46
    assert sorted(drawn[:50]) == list(range(50))  # first epoch: each position once
    assert len(set(drawn[50:])) == 46              # second epoch: no repeats either
    assert not np.array_equal(drawn[:46], drawn[50:96])  # reshuffled


def test_a_batch_depends_only_on_seed_and_update():
    a = batches.PositionSampler(1000, 32, seed=1)
    b = batches.PositionSampler(1000, 32, seed=1)
    b.positions(30)  # visiting other updates first changes nothing
    np.testing.assert_array_equal(a.positions(5), b.positions(5))
    assert not np.array_equal(a.positions(5), batches.PositionSampler(1000, 32, seed=2).positions(5))


def test_excerpts_lie_inside_their_song_and_are_centred_on_their_frame(tiny_corpus):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    mean, std = np.zeros(80, np.float32), np.ones(80, np.float32)
    excerpts = batches.TrainingExcerpts(songs, mean, std, train.augment.Augmentation(), 4, seed=0)
    n = len(songs[0].targets)
    np.testing.assert_array_equal(excerpts.centres[:n - 114], np.arange(57, n - 57))  # first song: no edge frames
    log_mel = spectrum.log_mel(songs[0].linear)
    x = excerpts._gather(np.array([57, n - 58]))
    assert x.shape == (2, 115, 80)
    np.testing.assert_array_equal(x[0], log_mel[:115])  # first and last excerpt of the song, no padding
    np.testing.assert_array_equal(x[1], log_mel[-115:])
    seen = np.concatenate([excerpts.centres[excerpts.sampler.positions(k)] for k in range(40)])
    assert np.all(np.isin(seen, excerpts.centres))
    _, targets = excerpts.batch(0)
    assert np.all(np.isclose(targets, 0.02) | np.isclose(targets, 0.98))


def test_gather_excerpts_reads_each_song_and_pad_beyond_its_ends():
    """The textbook gather against a hand-made answer: two songs of 4 and 3 frames (row values
    10*song + frame), width-3 excerpts at both ends of each song read `pad` (-1) beyond it,
    never the neighbouring song."""
    songs = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0], [12.0]], np.float32)
    out = excerpt.gather_excerpts(songs, [0, 4, 7], [0, 0, 1, 1], [0, 3, 0, 2], 3, -1.0)
    assert out[..., 0].tolist() == [[-1, 0, 1], [2, 3, -1], [-1, 10, 11], [11, 12, -1]]
    assert out.dtype == np.float32


def test_the_song_store_holds_the_linear_spectrograms_once(tiny_corpus, tmp_path):
    """With augmentation the store holds every song's linear spectrogram and each song's `linear`
    becomes a view of its rows (same values): on the CPU the spectrograms are not held twice."""
    songs = dataset.load_split(tiny_corpus, "train", tmp_path / "cache", quiet=True)
    originals = [song.linear.copy() for song in songs]
    excerpts = batches.TrainingExcerpts(songs, np.zeros(80, np.float32), np.ones(80, np.float32),
                                        train.augment.PAPER_COMBINATION, 4, seed=0)
    assert excerpts.store.shape == (sum(len(o) for o in originals), spectrum.LINEAR_BINS)
    for song, original in zip(songs, originals):
        assert np.shares_memory(song.linear, excerpts.store)
        np.testing.assert_array_equal(song.linear, original)


def test_random_streams_are_independent_by_construction():
    """Keys that NumPy pads to the same words would give the same numbers: every stream differs."""
    draws = {}
    for stream in (batches.STREAM_INIT, batches.STREAM_ORDER, batches.STREAM_AUGMENT, batches.STREAM_DROPOUT):
        for index in (0, 1):
            draws[stream, index] = batches.stream_rng(3, stream, index).random(4).tobytes()
    assert len(set(draws.values())) == len(draws)


def test_songs_shorter_than_an_excerpt_leave_no_positions(tiny_corpus):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    short = [dataset.Song(s.name, s.linear[:114], s.targets[:114], 1.6) for s in songs]
    with pytest.raises(InputError, match="shorter than one 115-frame training excerpt"):
        batches.TrainingExcerpts(short, np.zeros(80, np.float32), np.ones(80, np.float32),
                                 train.augment.Augmentation(), 4, seed=0)


def tiny_config(**overrides):
    settings = dict(updates=6, batch=4, seed=5)
    settings.update(overrides)
    return hyperparameters.TrainConfig(**settings)


def interrupt_at_update_4(songs, config, out, monkeypatch):
    """Train with checkpoints every 3 updates and stop at update 4 as Ctrl-C would: a checkpoint at 3 is left."""
    real_step = train._step

    def interrupted_step(state, x, targets, update, config, workspace):
        if update == 4:
            raise KeyboardInterrupt
        return real_step(state, x, targets, update, config, workspace)
    monkeypatch.setattr(train, "_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        train.train(songs, config, out, checkpoint_every=3, quiet=True)
    monkeypatch.setattr(train, "_step", real_step)


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tiny_corpus, tmp_path, monkeypatch):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    reference = train.train(songs, tiny_config(), tmp_path / "a.npz", quiet=True)
    interrupt_at_update_4(songs, tiny_config(), tmp_path / "b.npz", monkeypatch)
    assert train.checkpoint_path(tmp_path / "b.npz").is_file()
    assert not (tmp_path / "b.npz").exists()
    resumed = train.train(songs, tiny_config(), tmp_path / "b.npz", resume=True, checkpoint_every=3, quiet=True)
    for name in reference.params:
        np.testing.assert_array_equal(resumed.params[name], reference.params[name])
    assert not train.checkpoint_path(tmp_path / "b.npz").exists()  # the finished model supersedes it


def test_resume_refuses_a_checkpoint_with_other_settings(tiny_corpus, tmp_path, monkeypatch):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    monkeypatch.setattr(train, "_step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt) if a[3] == 4 else 0.5)
    with pytest.raises(KeyboardInterrupt):
        train.train(songs, tiny_config(), tmp_path / "m.npz", checkpoint_every=2, quiet=True)
    with pytest.raises(InputError, match="checkpoint was made with other settings \\(lr\\)"):
        train.train(songs, tiny_config(lr=0.5), tmp_path / "m.npz", resume=True, quiet=True)


def test_a_leftover_checkpoint_is_never_silently_replaced(tiny_corpus, tmp_path, monkeypatch):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    monkeypatch.setattr(train, "_step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt) if a[3] == 4 else 0.5)
    with pytest.raises(KeyboardInterrupt):
        train.train(songs, tiny_config(), tmp_path / "m.npz", checkpoint_every=2, quiet=True)
    ckpt = train.checkpoint_path(tmp_path / "m.npz")
    saved = ckpt.read_bytes()
    with pytest.raises(InputError, match="pass --resume to continue it, or delete the file to start over"):
        train.train(songs, tiny_config(), tmp_path / "m.npz", quiet=True)
    with pytest.raises(InputError, match="the checkpoint is at update 4, past --updates 3"):
        train.train(songs, tiny_config(updates=3), tmp_path / "m.npz", resume=True, quiet=True)
    assert ckpt.read_bytes() == saved and not (tmp_path / "m.npz").exists()


def test_a_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tiny_corpus, tmp_path, monkeypatch):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    monkeypatch.setattr(train, "_step", lambda *a: float("nan") if a[3] == 5 else 0.5)
    with pytest.raises(train.TrainingDiverged, match="loss became nan at update 5"):
        train.train(songs, tiny_config(updates=8), tmp_path / "m.npz", checkpoint_every=2, quiet=True)
    checkpoint = model_file.load(train.checkpoint_path(tmp_path / "m.npz"))
    assert json.loads(str(checkpoint.extra["progress"]))["update"] == 4


def test_training_on_the_synthetic_corpus_learns(tmp_path, capsys):
    """End to end through the CLI: synth -> train -> eval must clearly beat chance.

    Chance here is the majority-class error, ~45% (the corpus is ~55% voice).
    160 updates of 16 excerpts reach ~20% test error at the optimal threshold
    on this seed; the bar of 33% leaves a wide margin for BLAS rounding
    differences between machines while still failing for a network that does
    not learn (a broken backward pass stays at ~45%). Deterministic: fixed seeds.
    """
    corpus = tmp_path / "synthetic"
    assert options.main(["synth", "--out-dir", str(corpus), "--clips", "6", "--seconds", "12", "--quiet"]) == 0
    model = tmp_path / "model.npz"
    assert options.main(["train", "--data", str(corpus), "--out", str(model), "--updates", "160", "--batch", "16",
                         "--lr-every", "50", "--quiet"]) == 0
    results = tmp_path / "results.json"
    assert options.main(["eval", str(model), "--data", str(corpus), "--json", str(results), "--quiet"]) == 0
    table = json.loads(results.read_text())
    voice_fraction = (table["test"]["tp"] + table["test"]["fn"]) / sum(
        table["test"][k] for k in ("tp", "fp", "tn", "fn"))
    chance = min(voice_fraction, 1 - voice_fraction)
    assert chance > 0.3
    assert table["test_optimal"]["error"] < 0.33
    for split in ("valid", "test"):
        for key in ("error", "recall", "specificity", "precision", "f1", "threshold"):
            assert 0.0 <= table[split][key] <= 1.0
    assert model_file.load(model).threshold == pytest.approx(table["valid"]["threshold"])
    assert "test error at its own optimal threshold" in capsys.readouterr().out


def test_the_ismir2016_network_learns_the_synthetic_corpus_through_the_cli(tmp_path):
    """`train --arch ismir2016` end to end, as the paper's network above (same corpus, updates, bar:
    chance is ~45%; it reaches ~1% test error at its optimal threshold on this seed)."""
    corpus = tmp_path / "synthetic"
    assert options.main(["synth", "--out-dir", str(corpus), "--clips", "6", "--seconds", "12", "--quiet"]) == 0
    model = tmp_path / "model.npz"
    assert options.main(["train", "--data", str(corpus), "--out", str(model), "--updates", "160", "--batch", "16",
                         "--lr-every", "50", "--arch", "ismir2016", "--quiet"]) == 0
    results = tmp_path / "results.json"
    assert options.main(["eval", str(model), "--data", str(corpus), "--json", str(results), "--quiet"]) == 0
    assert json.loads(results.read_text())["test_optimal"]["error"] < 0.33
    assert model_file.load(model).config["train"]["arch"] == "ismir2016"


def test_train_textbook_runs_the_plain_layers_and_matches_the_fast_path(tiny_corpus, tmp_path, monkeypatch):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    fast = train.train(songs, tiny_config(updates=3), tmp_path / "fast.npz", quiet=True)
    seen = []
    real_update_step = train.update_step

    def spy(params, *args, **kwargs):
        seen.append(backend.ops(params["conv1.w"]).name)
        return real_update_step(params, *args, **kwargs)
    monkeypatch.setattr(train, "update_step", spy)
    textbook = train.train(songs, tiny_config(updates=3), tmp_path / "textbook.npz", quiet=True,
                           device=device.TEXTBOOK)
    assert seen == ["reference"] * 3
    assert backend.ops(textbook.params["conv1.w"]).name == "fast"  # the choice ends with the run
    # The two paths round differently (float32 sums in other orders, Winograd), by ~1e-6 of a
    # gradient; where two inputs of a max-pool window are that close, the tiny difference picks
    # the other one, and the gradient of that window goes elsewhere: with this tiny batch up to 3%
    # of a conv layer's update changes so (measured on an AVX-512 machine). A wrong backward would
    # change all of it.
    from svd import network
    initial = network.init_params(batches.stream_rng(5, batches.STREAM_INIT))
    for name in fast.params:
        step_fast, step_textbook = fast.params[name] - initial[name], textbook.params[name] - initial[name]
        relative = np.linalg.norm(step_fast - step_textbook) / np.linalg.norm(step_textbook)
        assert relative < 0.15, (name, relative)


def test_zero_mean_training_gives_a_model_deaf_to_the_recording_level(tiny_corpus, tmp_path):
    """train --zero-mean (Schlüter & Lehner 2018): a gain on the audio leaves the probabilities unchanged.

    A gain g multiplies the linear spectrogram by g, adds log(g) to every log-mel value
    above the 1e-7 floor and, after one shared scale, the same constant to every
    network input; zero-mean conv1 filters cancel it. The plain model is the control:
    the same gain moves its outputs, so the test can fail. Frames within one excerpt
    of the song's ends see the (unscaled) silence padding and are left out.
    """
    from svd import predict
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    level = train.train(songs, tiny_config(zero_mean=True), tmp_path / "z.npz", quiet=True)
    plain = train.train(songs, tiny_config(), tmp_path / "p.npz", quiet=True)
    w = level.params["conv1.w"].astype(np.float64)
    assert np.abs(w.sum(axis=(0, 1, 2))).max() < 1e-5 * np.abs(w).sum(axis=(0, 1, 2)).max()
    assert np.ptp(level.std) == 0 and np.ptp(plain.std) > 0
    assert model_file.load(tmp_path / "z.npz").config["train"]["zero_mean"] is True
    linear = songs[0].linear
    inner = slice(excerpt.CONTEXT_FRAMES, len(linear) - excerpt.CONTEXT_FRAMES)
    for model, invariant in ((level, True), (plain, False)):
        loud = predict.probabilities(model, linear)[inner]
        quiet = predict.probabilities(model, linear * np.float32(0.1))[inner]
        change = np.abs(loud - quiet).max()
        assert (change < 1e-4) if invariant else (change > 1e-3), (invariant, change)


def test_per_recording_training_standardises_each_song_and_hears_neither_level_nor_equalisation(tiny_corpus,
                                                                                                 tmp_path):
    """train --per-recording: every song at zero mean and unit deviation per band on its own, so the pooled
    statistics are 0 and 1, and a gain on the audio leaves the probabilities of the frames away from the padding
    where they were, a tilt of its spectrum (nearly a gain per band) nearly; the plain model is the control."""
    from svd import predict
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    own = train.train(songs, tiny_config(per_recording=True), tmp_path / "r.npz", quiet=True)
    plain = train.train(songs, tiny_config(), tmp_path / "p.npz", quiet=True)
    np.testing.assert_allclose(own.mean, 0, atol=1e-5)
    np.testing.assert_allclose(own.std, 1, atol=1e-5)
    assert model_file.load(tmp_path / "r.npz").per_recording and not plain.per_recording
    linear = songs[0].linear
    inner = slice(excerpt.CONTEXT_FRAMES, len(linear) - excerpt.CONTEXT_FRAMES)
    # A gain per mel band: a factor per linear bin that is constant wherever a band reads (bands of one slope).
    tilt = np.exp(np.linspace(-1.0, 1.0, linear.shape[1])).astype(np.float32)
    for model, invariant in ((own, True), (plain, False)):
        reference = predict.probabilities(model, linear)[inner]
        for changed in (linear * np.float32(0.1), linear * np.float32(30.0)):
            change = np.abs(predict.probabilities(model, changed)[inner] - reference).max()
            assert (change < 1e-4) if invariant else (change > 1e-3), (invariant, change)
    tilted = [np.abs(predict.probabilities(model, linear * tilt)[inner] - predict.probabilities(model, linear)[inner]
                     ).max() for model in (own, plain)]
    assert tilted[1] > 1e-3 and tilted[0] < tilted[1] / 10, tilted  # not exact: a band's bins get unequal factors


def test_per_recording_with_augmentation_standardises_each_excerpt_by_its_own_song(tiny_corpus):
    """An augmented excerpt is standardised by the statistics of the song it was cut from: with an augmentation
    that changes nothing (a gain of at most 1e-6 dB) the batches equal those of per-recording training without
    augmentation (log-mel store), and with a real one (pitch shift) a gain of 30 on every song changes nothing,
    while the same gain moves the batches of plain augmented training (the control)."""
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    mean, std = np.linspace(-1, 1, 80).astype(np.float32), np.linspace(0.5, 2, 80).astype(np.float32)
    Augmentation = train.augment.Augmentation

    def batch(aug, gain=1.0, per_recording=True, update=3):
        scaled = [dataset.Song(s.name, s.linear * np.float32(gain), s.targets, s.duration_s) for s in songs]
        return batches.TrainingExcerpts(scaled, mean, std, aug, 8, seed=2, per_recording=per_recording).batch(update)

    unaugmented, targets = batch(Augmentation())
    nearly, nearly_targets = batch(Augmentation(loudness_db=1e-6))
    np.testing.assert_array_equal(targets, nearly_targets)
    np.testing.assert_allclose(nearly, unaugmented, atol=1e-4)
    shifted = Augmentation(pitch_shift=0.3)
    np.testing.assert_allclose(batch(shifted, gain=30.0)[0], batch(shifted)[0], atol=1e-3)
    assert np.abs(batch(shifted, gain=30.0, per_recording=False)[0] - batch(shifted, per_recording=False)[0]
                  ).max() > 1.0


def test_pcen_training_reads_pcen_features_in_training_and_prediction_alike(tiny_corpus, tmp_path):
    """train --pcen: the stored statistics are those of the songs' PCEN features, the model file says so, and
    prediction feeds the network the PCEN features padded with PCEN's silence (0), standardised: computed here
    by hand. Refused with augmentation in one line."""
    from svd import normalise, predict
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    model = train.train(songs, tiny_config(pcen=True), tmp_path / "c.npz", quiet=True)
    mean, std = normalise.band_statistics(normalise.pcen(spectrum.mel(song.linear)) for song in songs)
    np.testing.assert_allclose(model.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(model.std, std, rtol=1e-6)
    loaded = model_file.load(tmp_path / "c.npz")
    assert loaded.pcen and not loaded.per_recording
    linear = songs[0].linear
    features = (normalise.pcen(spectrum.mel(linear)) - mean) / std
    silence = np.broadcast_to(-mean / std, (excerpt.CONTEXT_FRAMES, 80))
    by_hand = predict.song_probabilities(loaded.params, np.concatenate([silence, features, silence]).astype(np.float32))
    np.testing.assert_allclose(predict.probabilities(loaded, linear), by_hand, atol=1e-5)
    as_log_mel = model_file.Model(loaded.params, loaded.mean, loaded.std, {})  # the control: the same network fed log-mel
    assert np.abs(predict.probabilities(loaded, linear) - predict.probabilities(as_log_mel, linear)).max() > 1e-3
    with pytest.raises(InputError, match="--pcen with augmentation is not built"):
        tiny_config(pcen=True, augmentation={"pitch_shift": 0.3})


@pytest.mark.parametrize("damage", ["no progress", "bad json", "no update", "no velocity", "negative update"])
def test_a_damaged_checkpoint_is_refused_with_one_line(tiny_corpus, tmp_path, monkeypatch, damage):
    """KeyError and JSONDecodeError tracebacks on --resume before (issue 29)."""
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    monkeypatch.setattr(train, "_step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt) if a[3] == 4 else 0.5)
    with pytest.raises(KeyboardInterrupt):
        train.train(songs, tiny_config(), tmp_path / "m.npz", checkpoint_every=2, quiet=True)
    ckpt = train.checkpoint_path(tmp_path / "m.npz")
    with np.load(ckpt) as stored:
        arrays = {k: stored[k] for k in stored.files}
    if damage == "no progress":
        del arrays["progress"]
    elif damage == "bad json":
        arrays["progress"] = np.array("{update: 4")
    elif damage == "no update":
        arrays["progress"] = np.array(json.dumps({"saved_at": 1.0}))
    elif damage == "negative update":
        arrays["progress"] = np.array(json.dumps({"update": -3}))
    else:
        del arrays["velocity/conv2.w"]
    np.savez(ckpt, **arrays)
    with pytest.raises(InputError, match="the checkpoint is damaged"):
        train.train(songs, tiny_config(), tmp_path / "m.npz", resume=True, quiet=True)


def test_the_ismir2016_network_trains_with_adam_resumes_exactly_and_its_model_predicts(tiny_corpus, tmp_path,
                                                                                        monkeypatch):
    """`--arch ismir2016`: Adam's two moments and the running statistics live through a checkpoint, so an
    interrupted run resumed equals an uninterrupted one; the model file names its network, and
    prediction folds its batch normalisation (svd/predict.py)."""
    from svd import network2016, predict
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    config = tiny_config(arch="ismir2016")
    assert (config.lr, config.momentum) == (0.001, 0.9)  # the network's own defaults
    reference = train.train(songs, config, tmp_path / "a.npz", quiet=True)
    interrupt_at_update_4(songs, config, tmp_path / "b.npz", monkeypatch)
    checkpoint = model_file.load(train.checkpoint_path(tmp_path / "b.npz"))
    assert {key.split("/")[0] for key in checkpoint.extra} == {"velocity", "moment2", "progress"}
    assert sum(key.startswith("moment2/") for key in checkpoint.extra) == len(network2016.TRAINED)
    resumed = train.train(songs, config, tmp_path / "b.npz", resume=True, checkpoint_every=3, quiet=True)
    assert list(resumed.params) == list(network2016.PARAM_SHAPES)
    for name in reference.params:
        np.testing.assert_array_equal(resumed.params[name], reference.params[name])
    model = model_file.load(tmp_path / "b.npz")
    assert model.arch == "ismir2016"
    assert not np.array_equal(model.params["conv2.mean"], 0)  # the running statistics were averaged in
    probabilities = predict.probabilities(model, songs[0].linear)
    # six updates leave the running statistics half at their start (mean 0, inv_std 1): far from calibrated
    assert probabilities.shape == (len(songs[0].linear),) and 0 <= probabilities.min() < probabilities.max() <= 1


def test_an_ismir2016_checkpoint_without_its_second_moments_is_refused(tiny_corpus, tmp_path, monkeypatch):
    songs = dataset.load_split(tiny_corpus, "train", quiet=True)
    monkeypatch.setattr(train, "_step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt) if a[3] == 4 else 0.5)
    with pytest.raises(KeyboardInterrupt):
        train.train(songs, tiny_config(arch="ismir2016"), tmp_path / "m.npz", checkpoint_every=2, quiet=True)
    ckpt = train.checkpoint_path(tmp_path / "m.npz")
    with np.load(ckpt) as stored:
        arrays = {k: stored[k] for k in stored.files if k != "moment2/conv5.w"}
    np.savez(ckpt, **arrays)
    with pytest.raises(InputError, match="the checkpoint is damaged"):
        train.train(songs, tiny_config(arch="ismir2016"), tmp_path / "m.npz", resume=True, quiet=True)
    with pytest.raises(InputError, match="checkpoint was made with other settings \\(lr, momentum, arch\\)"):
        train.train(songs, tiny_config(), tmp_path / "m.npz", resume=True, quiet=True)


def test_an_unknown_network_is_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="--arch vgg: choose one of ismir2015, ismir2016"):
        tiny_config(arch="vgg")
    model = model_file.Model(network.init_params(np.random.default_rng(0)), np.zeros(80, np.float32),
                             np.ones(80, np.float32), {"train": {"arch": "ismir2030"}})
    model_file.save(tmp_path / "future.npz", model)
    with pytest.raises(InputError, match="future.npz: network 'ismir2030' is not one this version knows.*Update svd"):
        model_file.load(tmp_path / "future.npz")
