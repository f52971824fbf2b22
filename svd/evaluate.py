"""Frame-wise evaluation (paper Sec. 5.2): median smoothing, threshold, counts, error/recall/specificity.

Per-frame probabilities of each song are smoothed with a sliding median over
800 ms (56 frames at 70 frames/s), then compared with a threshold: a frame is
predicted as voice when its smoothed probability is >= the threshold. True
and false positives and negatives are summed over all songs of a split before
the measures are computed, so long songs weigh more than short ones.

The threshold is chosen on the validation split (minimum error) and applied
to the test split. Beside the errors, `auroc` measures how well the smoothed
probabilities separate voice from no-voice frames whatever the threshold (the
area under the ROC curve: 1 perfect, 0.5 chance), so two models can be compared
without the threshold's own noise. The search is exact: the smoothed probabilities of the
split are sorted once, and every threshold that separates two distinct
values is scored with cumulative counts in O(n log n).

Beside the pooled counts: the measures of each song alone (`song_rows`; a
song's error is its own, so one bad song cannot hide in the pooled figure), and
the base rate of a split (`base_rate`): the error of the two detectors that
ignore the audio, "always voice" (its error is the share of no-voice frames) and
"never voice" (the share of voice frames), the floor any detector must beat.
All measures are fractions (0.3, not 30%); the command line prints them as percent.
"""
import numpy as np
import scipy.ndimage
import scipy.stats

from svd.spectrum import FRAME_RATE_HZ

SMOOTH_S = 0.8  # paper Sec. 5.2, following Lehner et al.
SMOOTH_FRAMES = int(round(SMOOTH_S * FRAME_RATE_HZ))  # 56


def median_smooth(probabilities, window_frames=SMOOTH_FRAMES):
    """Sliding median: (frames,) -> (frames,) float32.

    Output frame i is the median-rank element (index window//2 of the sorted
    window, the upper median for an even window) of the frames
    i - window//2 .. i + window - window//2 - 1; beyond the song's ends the
    first and last values are repeated.
    """
    return scipy.ndimage.median_filter(np.asarray(probabilities, np.float32), size=window_frames,
                                       mode="nearest")


def confusion(predicted, targets):
    """Counts (tp, fp, tn, fn) of boolean predictions against 0/1 targets, as Python ints."""
    predicted = np.asarray(predicted, bool)
    targets = np.asarray(targets, bool)
    tp = int(np.sum(predicted & targets))
    fp = int(np.sum(predicted & ~targets))
    fn = int(np.sum(~predicted & targets))
    return tp, fp, len(targets) - tp - fp - fn, fn


def measures(tp, fp, tn, fn):
    """Error, recall, specificity, precision, F-measure from counts (fractions; 0.0 where undefined)."""
    def ratio(numerator, denominator):
        return numerator / denominator if denominator else 0.0
    recall = ratio(tp, tp + fn)
    precision = ratio(tp, tp + fp)
    return {
        "error": ratio(fp + fn, tp + fp + tn + fn),
        "recall": recall,
        "specificity": ratio(tn, tn + fp),
        "precision": precision,
        "f1": ratio(2 * precision * recall, precision + recall),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


def decide(smoothed, threshold):
    """Per-song voice decisions: lists of (frames,) arrays -> list of (frames,) bool, voice where >= threshold."""
    # float64: a midpoint threshold must not round onto a float32 neighbour.
    return [np.asarray(probabilities, np.float64) >= threshold for probabilities in smoothed]


def pooled(decisions, targets):
    """Measures of a split's decisions, counts summed over its songs. decisions, targets: per-song (frames,)."""
    counts = np.zeros(4, np.int64)
    for predicted, truth in zip(decisions, targets):
        counts += confusion(predicted, truth)
    return measures(*(int(c) for c in counts))


def evaluate_at(smoothed, targets, threshold):
    """Measures for one split at a given threshold.

    smoothed, targets: lists of per-song (frames,) arrays (smoothed probabilities, 0/1 targets).
    """
    return {**pooled(decide(smoothed, threshold), targets), "threshold": float(threshold)}


def base_rate(targets):
    """The frames of a split, its share of voice frames, and the errors of the two constant answers.

    targets: per-song (frames,) 0/1 arrays. Returns {"frames", "voice_fraction",
    "always_voice_error" (= 1 - voice_fraction), "never_voice_error" (= voice_fraction)};
    fractions are nan for a split without frames.
    """
    frames = sum(len(truth) for truth in targets)
    voiced = sum(int(np.count_nonzero(truth)) for truth in targets)
    fraction = voiced / frames if frames else float("nan")
    return {"frames": frames, "voice_fraction": fraction,
            "always_voice_error": 1 - fraction, "never_voice_error": fraction}


def song_rows(names, decisions, targets, smoothed=None):
    """The measures of each song alone, in order: a list of dicts.

    names: song names; decisions: per-song (frames,) bool; targets: per-song
    (frames,) 0/1; smoothed: per-song smoothed probabilities, for each song's
    AUROC (nan when the song has one class only), or None (no "auroc" key: the
    decisions of `run.py score` have no scores to rank). Each dict: "song",
    "frames", "voice_fraction", the `measures` and their counts, ["auroc"].
    """
    rows = []
    for k, (name, predicted, truth) in enumerate(zip(names, decisions, targets)):
        facts = base_rate([truth])
        row = {"song": name, "frames": facts["frames"], "voice_fraction": facts["voice_fraction"],
               **measures(*confusion(predicted, truth))}
        if smoothed is not None:
            row["auroc"] = auroc([smoothed[k]], [truth])
        rows.append(row)
    return rows


def auroc(smoothed, targets):
    """Area under the ROC curve of a split, pooled over its songs (nan if a class is absent).

    smoothed, targets: lists of per-song (frames,) arrays. The area is the
    probability that a random voice frame scores higher than a random
    no-voice frame, ties counting one half (Mann-Whitney U / (positives * negatives)):

        AUROC = (sum of the positives' ranks - P (P + 1) / 2) / (P N)

    with ranks 1..P+N over all frames (tied values share their mean rank).
    """
    probabilities = np.concatenate([np.asarray(p, np.float64) for p in smoothed])
    truth = np.concatenate([np.asarray(t, bool) for t in targets])
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = scipy.stats.rankdata(probabilities)  # average ranks for ties
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def best_threshold(smoothed, targets):
    """The threshold with the fewest errors over a split, and that error count.

    Candidates are the midpoints between consecutive distinct probabilities,
    plus one below the smallest (everything is voice) and one above the
    largest (nothing is voice). Ties go to the lowest candidate.
    Returns (threshold, errors).
    """
    probabilities = np.concatenate([np.asarray(p, np.float64) for p in smoothed])
    truth = np.concatenate([np.asarray(t, bool) for t in targets])
    order = np.argsort(probabilities, kind="stable")
    probabilities, truth = probabilities[order], truth[order]
    distinct = np.flatnonzero(np.diff(probabilities) > 0) + 1  # first index of each new value
    starts = np.concatenate([[0], distinct, [len(probabilities)]])
    # A threshold just below sorted position s predicts positions >= s as voice:
    # errors = positives below s (missed) + negatives from s on (false alarms).
    positives_below = np.concatenate([[0], np.cumsum(truth)])[starts]
    negatives_from = (~truth).sum() - np.concatenate([[0], np.cumsum(~truth)])[starts]
    errors = positives_below + negatives_from
    best = int(np.argmin(errors))
    return _candidate(probabilities, starts, best), int(errors[best])


def _candidate(sorted_probabilities, starts, k):
    """Threshold value for candidate k: midpoint below sorted_probabilities[starts[k]]."""
    n = len(sorted_probabilities)
    if k == 0:
        return float(sorted_probabilities[0] - 1e-6) if n else 0.5
    below = sorted_probabilities[starts[k] - 1]
    if starts[k] == n:
        return float(below + 1e-6)
    return float((below + sorted_probabilities[starts[k]]) / 2)


def table(test_smoothed, test_targets, valid_smoothed=None, valid_targets=None, threshold=None, test_names=None):
    """The paper's Table 1 protocol (Sec. 5.5) in one place, for `run.py eval` and `run.py ablate`.

    The threshold is the one with the fewest errors on the validation split
    unless `threshold` is given; measures at it on valid (if given) and test;
    and the test split's own optimal threshold with its measures (the Figure 2
    measure, Sec. 5.3). Arguments are lists of per-song (frames,) arrays;
    test_names: the test songs' names, for the per-song rows.

    Returns {"threshold", "valid" (measures or None), "test", "optimal_threshold", "test_optimal",
    "base_rate": {"valid" (or None), "test"}, and with test_names "test_songs" (`song_rows` at
    the threshold)}; the measures of valid and test carry their split's "auroc" too.
    """
    if threshold is None:
        threshold, _ = best_threshold(valid_smoothed, valid_targets)
    optimal, _ = best_threshold(test_smoothed, test_targets)
    valid = None
    if valid_smoothed is not None:
        valid = {**evaluate_at(valid_smoothed, valid_targets, threshold), "auroc": auroc(valid_smoothed, valid_targets)}
    result = {"threshold": float(threshold),
              "valid": valid,
              "test": {**evaluate_at(test_smoothed, test_targets, threshold),
                       "auroc": auroc(test_smoothed, test_targets)},
              "optimal_threshold": float(optimal),
              "test_optimal": evaluate_at(test_smoothed, test_targets, optimal),
              "base_rate": {"valid": None if valid_targets is None else base_rate(valid_targets),
                            "test": base_rate(test_targets)}}
    if test_names is not None:
        result["test_songs"] = song_rows(test_names, decide(test_smoothed, threshold), test_targets, test_smoothed)
    return result
