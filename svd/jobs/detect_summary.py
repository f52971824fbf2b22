"""The machine-readable record of a detect job: one JSON line per audio file, and the merge of shards' records.

A job writes `<out-dir>/summary.jsonl` (the whole input) or, for `--shard I/N`,
`<out-dir>/summary-I-of-N.jsonl`, with one line per file of its share:

    path            the audio file as named on the command line or in the list
    lab             its `.lab` file relative to --out-dir (with `detect --labels`
                    without lab: its first label file, svd/jobs/detection.py):
                    what identifies the file in every summary (the same on every machine)
    status          done | skipped (its outputs were there already) | failed |
                    pending (the job stopped before reaching it)
    duration_s      length of the audio in seconds (the end of the .lab)
    voice_fraction  share of the duration inside `sing` segments
    segments        number of `sing` segments
    threshold       decision threshold the .lab was made with
    model_sha256    SHA-256 of the model file it was made with
    error           why the file failed, else null
    provenance      the job that made it (svd/util/provenance.py: svd version and commit,
                    the model's training seed, device, date, libraries); null where
                    unknown, absent in summaries of older versions

The three figures are read from the `.lab` as written (times in ms), so a file
skipped later gets exactly the figures it got when it was done; threshold and
model are null for a skipped file that no record says was done.

How it is written, so that the summary never holds a half-written line and
every `.lab` on disk has a record, whenever the job is killed:

1. at the start, the summary is replaced atomically (svd/util/atomic.py) by every
   file of the job in order: `skipped` (taking threshold and model from the
   latest record of that file, if it says the file was done) or `pending`;
2. after each file, its new record is appended to the job's *journal*,
   `<out-dir>/.<summary name>.journal`, with one write() call. A `done` record
   is appended just before its `.lab` is renamed into place: a kill in between
   leaves a record without its `.lab`, and that file is redone;
3. every SAVE_EVERY_S, and at the end, the summary is replaced atomically by
   the records so far, and the journal is deleted.

The summary is only ever replaced whole. The journal is only appended to, and
a kill can cut its last line short: even one write() may stop at a page
boundary of the file when a fatal signal arrives. A cut line has no newline, so
`read` ignores it, and the next start of the job deletes the journal. The
latest state of a job is its summary with its journal's records laid over it
(`read_latest`): the next start of the job reads that, and so does `merge`,
which joins the jobs of all shards into one table and names the files that are
missing (a shard that did not run or did not finish, a `.lab` that is not there)
or that two summaries both claim.
"""
import collections
import contextlib
import errno
import hashlib
import json
import os
import pathlib
import re

from svd.util.atomic import write_failed, write_text_atomic
from svd.util.errors import InputError

STATUSES = ("done", "skipped", "failed", "pending")
SAVE_EVERY_S = 30.0  # longest time between two complete summaries while a job runs
_NAME = re.compile(r"summary(?:-(\d+)-of-(\d+))?\.jsonl")


def file_name(index, count):
    """The summary's file name: 'summary.jsonl' for the whole input, else 'summary-I-of-N.jsonl'."""
    return "summary.jsonl" if count == 1 else f"summary-{index}-of-{count}.jsonl"


def sha256_of(path):
    """SHA-256 of a file's bytes as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(path, lab, status, threshold=None, model_sha256=None, segments=None, error=None, provenance=None,
           settings=None):
    """One summary line as a dict. segments: [(start_s, end_s, is_sing)] of the .lab, or None (no figures).

    settings: the other options that shape the outputs (svd/jobs/detection.py Job.settings), or None.
    """
    figures = lab_figures(segments) if segments is not None else {
        "duration_s": None, "voice_fraction": None, "segments": None}
    return {"path": str(path), "lab": lab, "status": status, **figures, "threshold": threshold,
            "model_sha256": model_sha256, "settings": settings, "error": error, "provenance": provenance}


def lab_figures(segments):
    """duration_s, voice_fraction and segments (the number sung) of a .lab's segments, times as written (ms).

    segments: [(start_s, end_s, is_sing)] covering [0, duration] (svd/labels.py);
    rounding the times as `.lab` files do makes a file's figures the same whether
    they come from its detection or from reading its `.lab` back.
    """
    rounded = [(float(f"{start:.3f}"), float(f"{end:.3f}"), sing) for start, end, sing in segments]
    duration_s = rounded[-1][1]
    sung_s = sum(end - start for start, end, sing in rounded if sing)
    return {"duration_s": duration_s, "voice_fraction": round(sung_s / duration_s, 6) if duration_s > 0 else 0.0,
            "segments": sum(1 for *_, sing in rounded if sing)}


def skipped(path, lab, segments, earlier):
    """The record of a file whose outputs exist: figures from its .lab, provenance from `earlier` if it made them.

    earlier: the file's latest record (`read_latest`), or None. Only a `done` or
    `skipped` record vouches for the .lab on disk (a `done` record is written just
    before its .lab, step 2 of the module docstring); otherwise threshold, model
    and provenance are unknown (null).
    """
    vouched = earlier is not None and earlier.get("status") in ("done", "skipped")
    return record(path, lab, "skipped", earlier["threshold"] if vouched else None,
                  earlier["model_sha256"] if vouched else None, segments,
                  provenance=earlier.get("provenance") if vouched else None,
                  settings=earlier.get("settings") if vouched else None)


def journal_of(summary):
    """The journal of the summary file `summary` (see the module docstring): a hidden file beside it."""
    summary = pathlib.Path(summary)
    return summary.with_name(f".{summary.name}.journal")


def read_latest(summary, damaged=None):
    """The latest records of a job: its summary's, overlaid by its journal's. {lab: dict}.

    damaged: a list to which 'FILE, line N' is added for each line that is not a record (see `read`).
    """
    return {**read(summary, damaged), **read(journal_of(summary), damaged)}


def read(path, damaged=None):
    """The records of a summary or journal file, the last one per `lab`: {lab: dict} ({} if there is no file).

    A whole line (one that ends in a newline) that is not a record with the fields above, of
    the right types, is left out; if `damaged` is a list, 'FILE, line N' is added to it.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    records = {}
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):  # after the last newline: a line cut short
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if is_record(entry):
            records[entry["lab"]] = entry
        elif damaged is not None and line.strip():
            damaged.append(f"{path.name}, line {number}")
    return records


def is_record(entry):
    """Whether `entry` (parsed JSON) is a summary record: every field there, each of its type."""
    def number_or_none(value):
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))

    def text_or_none(value):
        return value is None or isinstance(value, str)

    return (isinstance(entry, dict) and isinstance(entry.get("lab"), str) and isinstance(entry.get("path"), str)
            and entry.get("status") in STATUSES
            and all(number_or_none(entry.get(key)) for key in ("duration_s", "voice_fraction", "threshold"))
            and (entry.get("segments") is None or type(entry.get("segments")) is int)
            and text_or_none(entry.get("model_sha256")) and text_or_none(entry.get("error"))
            and (entry.get("provenance") is None or isinstance(entry.get("provenance"), dict))
            and (entry.get("settings") is None or (
                isinstance(entry["settings"], dict) and set(entry["settings"]) == {"min_segment_s", "tta_pitch_factors"}
                and number_or_none(entry["settings"]["min_segment_s"])
                and isinstance(entry["settings"]["tta_pitch_factors"], list)
                and all(number_or_none(f) and f is not None for f in entry["settings"]["tta_pitch_factors"]))))


def write(path, records):
    """Replace the file `path` atomically by `records` (dicts), one JSON line each."""
    write_text_atomic(path, "".join(_line(entry) for entry in records))


def save(summary, records):
    """Replace the summary file `summary` by `records` (see `write`); its journal, now contained in it, goes."""
    write(summary, records)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_of(summary))


def append(summary, entry):
    """Add one record to the journal of the summary file `summary`, in one write() call."""
    data = _line(entry).encode("utf-8")
    journal = journal_of(summary)
    try:
        handle = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.write(handle, data) != len(data):
                raise OSError(errno.ENOSPC, "short write, disk full?")
        finally:
            os.close(handle)
    except OSError as error:
        raise write_failed(journal, error) from None


def _line(entry):
    """One JSON line; names stay readable (UTF-8), but a file name that is not UTF-8 (lone surrogates,
    PEP 383) is written as \\udcXX escapes, which read back as the same name."""
    text = json.dumps(entry, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(entry)
    return text + "\n"


def merge(out_dir):
    """Join the summaries in `out_dir`: (records sorted by lab, problems: list of one-line strings).

    Problems are what makes the table incomplete or ambiguous: a shard with no
    summary, files still `pending`, a `done`/`skipped` file whose .lab is
    missing, a file in two summaries, and whole lines that are not records
    (damaged or edited by hand; they are left out of the table). InputError if there is no summary, or
    summaries of different shard counts (an older split) lie side by side.
    """
    out_dir = pathlib.Path(out_dir)
    found = {}  # (index, count) -> file
    for path in sorted(out_dir.glob("summary*.jsonl")):
        match = _NAME.fullmatch(path.name)
        if match:
            found[(int(match[1]), int(match[2])) if match[1] else (0, 1)] = path
    if not found:
        raise InputError(f"{out_dir}: no detect summaries (summary.jsonl or summary-I-of-N.jsonl); "
                         "name the --out-dir of the detect jobs.")
    counts = sorted({count for _, count in found})
    if len(counts) > 1:
        raise InputError(f"{out_dir}: summaries of {' and '.join(map(str, counts))} shards lie side by side "
                         "(an older split?); remove the old ones, or give each split its own --out-dir.")
    count = counts[0]
    problems = [f"missing: shard {index}/{count} (no {file_name(index, count)}: not started, or writing "
                "to another --out-dir)" for index in range(count) if (index, count) not in found]
    merged, owners, damaged = {}, collections.defaultdict(list), []
    for _, path in sorted(found.items()):
        for lab, entry in read_latest(path, damaged).items():
            owners[lab].append(path.name)
            merged.setdefault(lab, entry)
    records = [merged[lab] for lab in sorted(merged)]
    pending = [entry["lab"] for entry in records if entry.get("status") == "pending"]
    absent = [entry["lab"] for entry in records
              if entry.get("status") in ("done", "skipped") and not (out_dir / entry["lab"]).is_file()]
    twice = [f"{lab} ({', '.join(names)})" for lab, names in sorted(owners.items()) if len(names) > 1]
    if damaged:
        problems.append(f"damaged: {len(damaged)} line(s) are not summary records (edited by hand?) and were "
                        f"left out: {'; '.join(damaged[:5])}" + ("; ..." if len(damaged) > 5 else "")
                        + "; fix or delete them, or run their shard again")
    for kind, what, labs in (("missing", "not reached: its shard stopped early; run it again", pending),
                             ("missing", "recorded but its .lab is not there; run its shard again", absent),
                             ("duplicated", "in more than one summary", twice)):
        if labs:
            problems.append(f"{kind}: {len(labs)} file(s) {what}: {', '.join(labs[:5])}"
                            + (", ..." if len(labs) > 5 else ""))
    return records, problems
