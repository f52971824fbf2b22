"""What `run.py eval` and `run.py score` print and write: Table 1, the base rate, the per-song table, JSON.

Units, one rule: the screen shows percent ("4.9%"), the JSON files hold the
fractions every measure is computed as (0.049, svd/evaluate.py), and say so in
their "units" entry. Thresholds and AUROC are numbers in [0, 1] in both. A
measure that does not exist (the AUROC of a song without any voice) is '-' on
the screen and null in JSON (strict JSON has no NaN).
"""
import json
import math

UNITS = ("error, recall, specificity, precision, f1, voice_fraction and the base rates are fractions of frames "
         "(0.049 = 4.9%); thresholds and AUROC are in [0, 1]; the printed tables show percent")
MEASURES = (("error", "error"), ("recall", "recall"), ("specificity", "spec."), ("precision", "prec."),
            ("f1", "F1"))
SONG_MEASURES = (("error", "error"), ("recall", "recall"), ("specificity", "spec."))
NAME_WIDTH = 40  # longer song names are cut on screen (the JSON has them whole)


def percent(value, width=8):
    """A fraction as right-aligned percent with one decimal ('   4.9%'); '-' where it does not exist."""
    return f"{'-':>{width}}" if value is None or not math.isfinite(value) else f"{100 * value:>{width - 1}.1f}%"


def number(value, width=8, digits=3):
    """A plain right-aligned number (threshold, AUROC); '-' where it does not exist."""
    return f"{'-':>{width}}" if value is None or not math.isfinite(value) else f"{value:>{width}.{digits}f}"


def format_eval(table, valid_split, test_split):
    """All that `run.py eval` prints of a svd/evaluate.py `table` (made with test_names)."""
    return "\n".join([format_table(table, valid_split, test_split),
                      format_base_rate({valid_split: table["base_rate"]["valid"],
                                        test_split: table["base_rate"]["test"]}), "",
                      format_songs(table["test_songs"], f"each song of {test_split} alone, at threshold "
                                                        f"{table['threshold']:.4f}:")])


def format_score(scored, split):
    """All that `run.py score` prints of a svd/cli/score.py `score` result."""
    return "\n".join([format_pooled(split, len(scored["songs"]), scored["base_rate"]["frames"], scored["pooled"]),
                      format_base_rate({split: scored["base_rate"]}), "",
                      format_songs(scored["songs"], f"each song of {split} alone (frame decisions straight from "
                                                    "the segments, no median filter):")])


def format_table(table, valid_split, test_split):
    """Eval's Table 1 (svd/evaluate.py `table`): a row per split, then the test error at its own optimum."""
    lines = [f"{'split':<8}{'threshold':>10}" + "".join(f"{title:>8}" for _, title in MEASURES) + f"{'AUROC':>8}"]
    for key, split in (("valid", valid_split), ("test", test_split)):
        row = table[key]
        lines.append(f"{split:<8}{number(row['threshold'], 10, 4)}"
                     + "".join(percent(row[m]) for m, _ in MEASURES) + number(row["auroc"]))
    lines.append(f"test error at its own optimal threshold ({table['optimal_threshold']:.4f}): "
                 f"{100 * table['test_optimal']['error']:.1f}%")
    return "\n".join(lines)


def format_pooled(split, songs, frames, row):
    """Score's pooled row: the measures over all songs of `split`, under a header line."""
    return "\n".join([f"{'split':<8}{'songs':>7}{'frames':>10}" + "".join(f"{title:>8}" for _, title in MEASURES),
                      f"{split:<8}{songs:>7}{frames:>10}" + "".join(percent(row[m]) for m, _ in MEASURES)])


def format_base_rate(rates):
    """The base rate block: rates is {split name: svd/evaluate.py `base_rate` dict}, in column order."""
    splits = list(rates)
    width = max(9, *(len(split) + 2 for split in splits))
    lines = [f"{'base rate: the error of a constant answer':<44}" + "".join(f"{s:>{width}}" for s in splits)]
    for key, label in (("always_voice_error", "always voice"), ("never_voice_error", "never voice")):
        lines.append(f"{'  ' + label:<44}" + "".join(percent(rates[s][key], width) for s in splits))
    return "\n".join(lines)


def format_songs(rows, title):
    """The per-song table (svd/evaluate.py `song_rows`) under a title line; an AUROC column if rows have one."""
    width = min(NAME_WIDTH, max([4] + [len(row["song"]) for row in rows]))
    with_auroc = bool(rows) and "auroc" in rows[0]
    lines = [title, f"{'song':<{width}}{'frames':>9}{'voice':>8}" + "".join(f"{t:>8}" for _, t in SONG_MEASURES)
             + (f"{'AUROC':>8}" if with_auroc else "")]
    for row in rows:
        name = row["song"] if len(row["song"]) <= width else row["song"][:width - 1] + "…"
        lines.append(f"{name:<{width}}{row['frames']:>9}{percent(row['voice_fraction'])}"
                     + "".join(percent(row[m]) for m, _ in SONG_MEASURES)
                     + (number(row["auroc"]) if with_auroc else ""))
    return "\n".join(lines)


def json_text(value):
    """`value` as indented strict JSON text: NaN and infinities become null."""
    return json.dumps(_finite(value), indent=2, allow_nan=False) + "\n"


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
