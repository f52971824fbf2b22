"""svd/bench/: what `run.py bench` reports while it measures (the figures themselves are never asserted)."""
import pytest

from svd import bench


def test_run_all_reports_each_measurement_then_completion(monkeypatch):
    # Stand-ins for the measurements: this test is about the reporting, not the speed.
    monkeypatch.setattr(bench, "features_s_per_audio_min", lambda repeats: 1.0)
    monkeypatch.setattr(bench, "matmul_gflops", lambda repeats, device: 100.0)
    monkeypatch.setattr(bench, "train_updates_per_s", lambda repeats, device: 2.0)
    monkeypatch.setattr(bench, "augment_batches_per_s", lambda repeats, device: 50.0)
    monkeypatch.setattr(bench, "augmented_updates_per_s", lambda repeats, device: (1.5, 517e6))
    monkeypatch.setattr(bench, "predict_s_per_audio_min", lambda repeats, device: (0.5, 50.0))
    monkeypatch.setattr(bench, "pytorch_figures", lambda repeats, device: {"pytorch_train_updates_per_s": 4.0})
    calls = []
    figures = bench.run_all(quick=True, progress=lambda done, extra: calls.append((done, extra)))
    assert [done for done, _ in calls] == list(range(bench.STEPS + 1))
    assert all(extra.startswith("measuring ") for _, extra in calls[:-1]) and calls[-1] == (bench.STEPS, "")
    assert figures["predict_speedup_over_excerptwise"] == 100.0
    assert figures["device"] == "cpu"
    assert figures["train_speed_vs_pytorch"] == 0.5


def test_pytorch_is_measured_only_when_installed(monkeypatch):
    """Without PyTorch the comparison says so (no import error); with it, a positive speed."""
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "torch" else real(name))
    assert bench.pytorch_figures(1) == {"pytorch": "not installed"}
    monkeypatch.setattr(importlib.util, "find_spec", real)
    if real("torch") is None:
        pytest.skip("PyTorch is not installed")
    figures = bench.pytorch_figures(1)
    assert figures["pytorch_train_updates_per_s"] > 0


def test_augmented_updates_use_a_song_store_of_513_bins_per_frame():
    """The measurement really trains on batches from the song store: its size per audio hour is
    70 frames/s x 3600 s x 513 bins x 4 bytes = 517.1 MB, and updates/s is positive and finite."""
    updates_per_s, store_per_hour = bench.augmented_updates_per_s(1, batch=2, songs=2, song_minutes=0.1)
    assert store_per_hour == pytest.approx(70 * 3600 * 513 * 4, rel=1e-12)
    assert 0 < updates_per_s < float("inf")


def test_layer_times_name_every_call_of_an_update():
    """Every operation call of a training update is timed and named by its layer: every row of
    the network's order appears (a call of an unexpected operation, or one call too many,
    fails the naming), the convolutions, pools and dense layers in both directions."""
    times = bench.layer_milliseconds(1, batch=2)
    assert list(dict.fromkeys(layer for layer, _ in times)) == list(bench._ORDER)
    for layer in ("conv1", "conv2", "conv3", "conv4", "pool1", "pool2", "dense1", "dense2", "dense3"):
        assert times[layer, "forward"] > 0 and times[layer, "backward"] > 0
    assert ("nesterov step", "backward") not in times


def test_gpu_timings_come_from_cuda_events_around_each_run():
    """On a GPU device median_seconds records an event before and after each run and waits for the
    second; a stand-in for CuPy's events (a clock that runs 2 ms per call of `work`) shows the
    events bracket exactly one run each and the median is taken in seconds."""
    import types
    from svd.device import Device
    now = [0.0]

    class Event:
        def record(self):
            self.at = now[0]

        def synchronize(self):
            self.waited = True

    def elapsed_ms(start, stop):
        assert stop.waited
        return stop.at - start.at
    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(Event=Event, get_elapsed_time=elapsed_ms))
    runs = []

    def work():
        runs.append(1)
        now[0] += 2.0
    assert bench.median_seconds(work, 5, device=Device("fake gpu", fake_cupy)) == pytest.approx(0.002)
    assert len(runs) == 6  # one warm-up, five timed


def test_a_failing_pytorch_process_is_reported_not_raised(monkeypatch):
    """The PyTorch comparison runs in its own process; if that fails (a GPU image's PyTorch, say),
    the figure says so and the other figures of `bench` are not lost."""
    import importlib.util
    import subprocess
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())

    def fails(*args, **kwargs):
        raise subprocess.CalledProcessError(1, ["python3"], stderr="Traceback\nRuntimeError: CUDA error\n")
    monkeypatch.setattr(bench, "_pytorch_updates_per_s", fails)
    assert bench.pytorch_figures(1) == {"pytorch": "failed (exit code 1): RuntimeError: CUDA error"}
