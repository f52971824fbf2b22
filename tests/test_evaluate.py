"""svd/evaluate.py: median filter, counts and measures on hand-computed examples, exact threshold search."""
import numpy as np
import pytest

from svd import evaluate


def median_reference(p, window):
    """Slow obvious version of the documented filter: edges repeat the end values, upper median."""
    padded = np.concatenate([np.full(window, p[0]), p, np.full(window, p[-1])])
    out = np.empty(len(p), np.float32)
    for i in range(len(p)):
        first = i + window - window // 2
        out[i] = np.sort(padded[first:first + window])[window // 2]
    return out


def test_smoothing_window_is_800_ms():
    assert evaluate.SMOOTH_FRAMES == 56


@pytest.mark.parametrize("n, window", [(1, 56), (30, 56), (500, 56), (101, 5), (40, 4)])
def test_median_filter_matches_a_loop_reference(n, window):
    p = np.random.default_rng(n).random(n).astype(np.float32)
    np.testing.assert_array_equal(evaluate.median_smooth(p, window), median_reference(p, window))


def test_median_filter_removes_short_blips_and_keeps_long_segments():
    p = np.zeros(300, np.float32)
    p[50:70] = 1.0     # 20 frames < 28: gone
    p[150:250] = 1.0   # 100 frames: kept, edges in place
    smoothed = evaluate.median_smooth(p)
    assert smoothed[:140].max() == 0
    assert smoothed[160:240].min() == 1
    assert smoothed[260:].max() == 0


def test_measures_on_a_hand_computed_example():
    predicted = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 0], bool)
    targets = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1, 0])
    tp, fp, tn, fn = evaluate.confusion(predicted, targets)
    assert (tp, fp, tn, fn) == (3, 1, 4, 2)
    m = evaluate.measures(tp, fp, tn, fn)
    assert m["error"] == pytest.approx(3 / 10)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_counts_are_accumulated_over_songs_not_averaged():
    smoothed = [np.array([0.9, 0.9], np.float32), np.array([0.1] * 8, np.float32)]
    targets = [np.array([0, 0]), np.ones(8)]
    result = evaluate.evaluate_at(smoothed, targets, 0.5)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (0, 2, 0, 8)
    assert result["error"] == 1.0


def brute_force_errors(smoothed, targets):
    values = np.unique(np.concatenate(smoothed).astype(np.float64))
    candidates = np.concatenate([values, [np.inf]])  # ">= value" for each value, plus "nothing"
    return min(sum(int(np.sum((np.asarray(p, np.float64) >= c) != (t > 0))) for p, t in zip(smoothed, targets))
               for c in candidates)


@pytest.mark.parametrize("seed", range(30))
def test_threshold_search_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    songs = rng.integers(1, 4)
    if seed % 3 == 0:  # many ties, like median-filtered output
        smoothed = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9], rng.integers(1, 30)).astype(np.float32) for _ in range(songs)]
    else:
        smoothed = [rng.random(rng.integers(1, 30)).astype(np.float32) for _ in range(songs)]
    targets = [rng.integers(0, 2, len(p)) for p in smoothed]
    threshold, errors = evaluate.best_threshold(smoothed, targets)
    assert errors == brute_force_errors(smoothed, targets)
    result = evaluate.evaluate_at(smoothed, targets, threshold)
    assert result["fp"] + result["fn"] == errors


def test_threshold_search_on_separable_data_gives_zero_error_between_the_classes():
    smoothed = [np.array([0.1, 0.2, 0.3, 0.6, 0.8], np.float32)]
    targets = [np.array([0, 0, 0, 1, 1])]
    threshold, errors = evaluate.best_threshold(smoothed, targets)
    assert errors == 0 and 0.3 < threshold < 0.6


def brute_force_auroc(smoothed, targets):
    """Every (voice, no-voice) pair of frames: 1 if the voice frame scores higher, 1/2 on a tie."""
    p = np.concatenate(smoothed)
    y = np.concatenate(targets).astype(bool)
    diff = p[y][:, None] - p[~y][None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_counting_every_pair(seed):
    rng = np.random.default_rng(seed)
    # Coarse values (many ties) over songs of random lengths, like median-smoothed outputs.
    smoothed = [np.round(rng.random(n), 1).astype(np.float32) for n in rng.integers(1, 60, 3)]
    targets = [rng.random(len(p)) < 0.6 for p in smoothed]
    if not (np.concatenate(targets).any() and not np.concatenate(targets).all()):
        targets[0][0] = not targets[0][0]
    assert evaluate.auroc(smoothed, targets) == pytest.approx(brute_force_auroc(smoothed, targets), abs=1e-12)


def test_auroc_extremes_and_a_missing_class():
    y = [np.array([0, 0, 1, 1])]
    assert evaluate.auroc([np.array([0.1, 0.2, 0.8, 0.9])], y) == 1.0
    assert evaluate.auroc([np.array([0.9, 0.8, 0.2, 0.1])], y) == 0.0
    assert evaluate.auroc([np.full(4, 0.5)], y) == 0.5
    assert np.isnan(evaluate.auroc([np.array([0.1, 0.2])], [np.array([1, 1])]))


def test_table_reports_the_auroc_of_both_splits():
    p, y = [np.array([0.1, 0.4, 0.35, 0.8])], [np.array([0, 0, 1, 1])]
    table = evaluate.table(p, y, p, y)
    assert table["test"]["auroc"] == table["valid"]["auroc"] == 0.75
