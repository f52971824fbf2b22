"""svd/fast/choice.py: the fastest candidate is chosen by measurement, kept per machine, never stale, and
whichever is chosen the layers give the textbook's results."""
import json
import time

import numpy as np
import pytest

from svd import fast, layers
from svd.fast import blas, blocked, build, choice, winograd, workers


@pytest.fixture(autouse=True)
def measuring(monkeypatch):
    monkeypatch.setattr(choice, "_measuring", True)
    monkeypatch.setattr(choice, "_choices", {})


def sleeper(seconds, calls, name):
    def run():
        calls.append(name)
        time.sleep(seconds)
        return name
    return run


def test_the_fastest_candidate_wins_and_is_kept_in_a_file_per_machine(monkeypatch):
    calls = []
    here = choice.path()
    candidates = [("slow", sleeper(0.02, calls, "slow")), ("fast", sleeper(0.0, calls, "fast"))]
    assert choice.choose("op (4,) x", candidates, lambda function: function()) == "fast"
    per_candidate = choice.WARMUP + choice.REPEATS
    assert calls.count("slow") == per_candidate and calls.count("fast") == per_candidate + 1  # + the result
    stored = json.loads(choice.path().read_text())
    assert stored["choices"]["op (4,) x"]["chosen"] == "fast" and stored["machine"] == choice.machine_tag()
    assert stored["choices"]["op (4,) x"]["seconds"]["slow"] >= 0.02
    calls.clear()
    monkeypatch.setattr(choice, "_choices", {})  # a new process reads the file: nothing measured again
    assert choice.choose("op (4,) x", candidates, lambda function: function()) == "fast" and calls == ["fast"]
    # Another machine (or changed C sources: the library's name changes) is another file: measured anew.
    monkeypatch.setattr(build, "cpu_tag", lambda: "another CPU without avx512f")
    monkeypatch.setattr(choice, "_machine", None)  # as a process on that machine would read it
    assert choice.path() != here
    assert choice.choose("op (4,) x", candidates, lambda function: function()) == "fast"
    assert calls.count("slow") == per_candidate


def test_a_choice_made_among_other_candidates_is_measured_again(monkeypatch):
    """A new candidate (a code change, e.g. another block size) must get its chance on a machine that chose
    before it existed: the kept choice is not reused."""
    calls = []
    old = [("slow", sleeper(0.01, calls, "slow"))]
    new = old + [("fast", sleeper(0.0, calls, "fast"))]
    choice.choose("op", old + [("other", sleeper(0.02, calls, "other"))], lambda function: function())
    assert choice.chosen()["op"]["chosen"] == "slow"
    monkeypatch.setattr(choice, "_choices", {})  # a later process, with the changed candidates
    assert choice.choose("op", new, lambda function: function()) == "fast"
    assert set(choice.chosen()["op"]["seconds"]) == {"slow", "fast"}


def test_a_damaged_file_is_measured_again_and_fixed_takes_the_first(monkeypatch):
    choice.path().parent.mkdir(parents=True, exist_ok=True)
    choice.path().write_text('{"format": 1, "choices": {"op": {"chosen": 3}}}')
    calls = []
    candidates = [("slow", sleeper(0.01, calls, "slow")), ("fast", sleeper(0.0, calls, "fast"))]
    assert choice.choose("op", candidates, lambda function: function()) == "fast"
    monkeypatch.setattr(choice, "_measuring", False)
    assert choice.choose("other op", candidates, lambda function: function()) == "slow"  # the fixed order


def test_songs_of_every_length_share_a_key():
    x = np.zeros((1, 5000, 80, 1), np.float32)
    assert choice.key("conv", x[:, :3000], (3, 3)) == choice.key("conv", x[:, :2100], (3, 3)) == \
        f"conv (4096, 80, 1) (3, 3) threads {workers.num_threads()}"
    assert choice.key("conv", x) != choice.key("conv", x[:, :4096])
    assert choice.key("conv", np.zeros((32, 115, 80, 1))) == \
        f"conv (4096, 80, 1) threads {workers.num_threads()}"  # a training batch: 3680 rows


@pytest.mark.skipif(not blas.gil_free(), reason="one thread only without a BLAS that releases the GIL")
def test_one_thread_and_all_threads_are_chosen_apart():
    """A `detect --jobs` worker runs one thread per core of its share: its choices are its own."""
    x = np.zeros((32, 115, 80, 1))
    before = workers.num_threads()
    try:
        workers.set_num_threads(1)
        one = choice.key("conv", x)
        workers.set_num_threads(2)
        assert choice.key("conv", x) != one and one.endswith("threads 1")
    finally:
        workers.set_num_threads(before)


@pytest.mark.skipif(not winograd.available(), reason="no C compiler: one convolution candidate only")
@pytest.mark.parametrize("winner", ["winograd", "blocked"])
def test_whichever_convolution_is_chosen_the_results_are_the_textbook_s(monkeypatch, winner):
    """A machine without AVX-512 (where the compiled code loses) is emulated by making the other candidate slow."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 12, 10, 8)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 8, 5)) / 8).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    loser = {"winograd": blocked, "blocked": winograd}[winner]
    for direction in ("conv2d_forward", "conv2d_backward"):
        real = getattr(loser, direction)
        monkeypatch.setattr(loser, direction,
                            lambda *args, real=real, **options: (time.sleep(0.01), real(*args, **options))[1])
    y, cache = fast.conv2d_forward(x, w, b, (1, 2), True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = fast.conv2d_backward(dy, cache)
    assert {entry["chosen"].split(",")[0] for entry in choice.chosen().values()} == {winner}  # blocked: any size
    want_y, want_cache = layers.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b, (1, 2), True)
    wants = layers.conv2d_backward(dy.astype(np.float64), want_cache)
    np.testing.assert_allclose(y, want_y, atol=2e-5 * np.abs(want_y).max())
    for got, want in zip((dx, dw, db), wants):
        np.testing.assert_allclose(got, want, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize("name", sorted(fast.BLOCK_SCALES))
def test_every_block_size_gives_the_textbook_s_results(monkeypatch, name):
    """The blocked path at each block size it is offered at (several blocks per example at every size here)."""
    monkeypatch.setattr(blocked, "_FORWARD_BLOCK_BYTES", 10000)
    monkeypatch.setattr(blocked, "_BACKWARD_BLOCK_BYTES", 10000)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 40, 10, 8))
    w = rng.standard_normal((3, 3, 8, 5)) / 8
    b = rng.standard_normal(5)
    candidates = dict(fast._conv_candidates(x, w, (2, 1), True, "conv2d_forward"))
    backwards = dict(fast._conv_candidates(x, w, (2, 1), True, "conv2d_backward"))
    y, cache = candidates[name](x, w, b, (2, 1), True, None)
    dy = rng.standard_normal(y.shape)
    want_y, want_cache = layers.conv2d_forward(x, w, b, (2, 1), True)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    for got, want in zip(backwards[name](dy, cache, True, None), layers.conv2d_backward(dy, want_cache)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    row_bytes = 8 * (8 + 2 * 5)  # the forward's: a row of x and two of z, float64
    blocks = blocked._line_blocks(2, 40, 36, 10, row_bytes, int(10000 * fast.BLOCK_SCALES[name]))
    assert len(blocks) > 2  # even the largest blocks split an example: blocks and halos are tested
