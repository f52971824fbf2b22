"""svd/evaluate.py: median filter, counts and measures on hand-computed examples, exact threshold search,
per-song rows and base rates; svd/cli/report.py: percent on screen, fractions and null in JSON."""
import json

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


def test_base_rate_is_the_error_of_the_two_constant_answers():
    targets = [np.array([1, 1, 0]), np.array([0, 0, 0, 0, 1])]  # 3 voice frames of 8
    rate = evaluate.base_rate(targets)
    assert rate["frames"] == 8 and rate["voice_fraction"] == pytest.approx(3 / 8)
    for answer, key in ((True, "always_voice_error"), (False, "never_voice_error")):
        constant = [np.full(len(t), answer) for t in targets]
        assert rate[key] == pytest.approx(evaluate.pooled(constant, targets)["error"])


def test_song_rows_measure_each_song_alone_and_add_up_to_the_pooled_counts():
    rng = np.random.default_rng(7)
    smoothed = [rng.random(n).astype(np.float32) for n in (20, 1, 35)]
    targets = [rng.integers(0, 2, len(p)) for p in smoothed]
    targets[1][:] = 1  # one class only: no AUROC for this song
    rows = evaluate.song_rows(["a", "b", "c"], evaluate.decide(smoothed, 0.5), targets, smoothed)
    pooled = evaluate.evaluate_at(smoothed, targets, 0.5)
    for key in ("tp", "fp", "tn", "fn"):
        assert sum(row[key] for row in rows) == pooled[key]
    for row, p, t in zip(rows, smoothed, targets):
        assert row["frames"] == len(t) and row["voice_fraction"] == pytest.approx(t.mean())
        assert row["error"] == pytest.approx(np.mean((p >= 0.5) != (t > 0)))
    assert rows[0]["auroc"] == pytest.approx(brute_force_auroc([smoothed[0]], [targets[0]]))
    assert np.isnan(rows[1]["auroc"])
    assert "auroc" not in evaluate.song_rows(["a"], [smoothed[0] > 0.5], [targets[0]])[0]


def test_table_gives_base_rates_and_with_names_each_test_song():
    p, y = [np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.9, 0.2])], [np.array([0, 0, 1, 1]), np.array([1, 0])]
    table = evaluate.table(p, y, p[:1], y[:1], test_names=["s1", "s2"])
    assert table["base_rate"]["test"]["voice_fraction"] == pytest.approx(3 / 6)
    assert table["base_rate"]["valid"]["frames"] == 4
    assert [row["song"] for row in table["test_songs"]] == ["s1", "s2"]
    assert sum(row["fn"] + row["fp"] for row in table["test_songs"]) == table["test"]["fn"] + table["test"]["fp"]
    assert "test_songs" not in evaluate.table(p, y, threshold=0.5)  # ablate's call: no names, no rows


def test_the_report_shows_percent_and_writes_strict_json_with_fractions():
    from svd.cli import report
    rows = [{"song": "x" * 60, "frames": 10, "voice_fraction": 0.25, "error": 0.049, "recall": 1.0,
             "specificity": float("nan"), "auroc": float("nan")}]
    text = report.format_songs(rows, "songs:")
    assert "4.9%" in text and "25.0%" in text and "x" * 39 + "…" in text and "x" * 40 not in text
    assert text.splitlines()[-1].split()[-2:] == ["-", "-"]  # measures that do not exist
    written = report.json_text({"error": 0.049, "auroc": float("nan"), "rows": [float("inf")]})
    assert json.loads(written) == {"error": 0.049, "auroc": None, "rows": [None]}
