"""Detecting the singing in many files: which to do, the loop over them, and what survives a kill.

`run.py detect` hands this module its share of the input files (all of them,
or those of its `--shard I/N`) as (audio path, output stem) pairs. `plan`
decides which files still need doing and saves the job's summary
(svd/jobs/detect_summary.py, step 1); `detect_files` runs the detector on
each (svd/detect.py), on the CPU in worker processes that share the cores
(svd/jobs/cores.py, svd/jobs/readahead.py; on the GPU they only read ahead), and
writes, per file, its outputs (`outputs_of`): label files
(`<stem>.lab`, `.txt`, `.csv`, `.json`, `.sing.txt`), frame tables (`<stem>.frames.npy`,
`.frames.csv`) and a picture (`<stem>.png`), each atomically. The first label
file (in the order lab, audacity, csv, json) is the file's *main* output: its path
is the `lab` key that identifies the file in the summary. It is written last, and the file's record is appended
to the summary's journal just before it is renamed into place, so that every
main label file on disk has a record whenever the job is killed, and a file
whose main label file is there has all its other outputs too.
"""
import dataclasses
import functools
import sys
import time

from svd import audio, backend, detect, labels
from svd.cli import plot
from svd.device import CPU
from svd.jobs import cores, detect_summary, readahead
from svd.util.atomic import replacing, write_text_atomic
from svd.util.errors import InputError
from svd.util.progress import Progress


@dataclasses.dataclass(frozen=True)
class Job:
    """What one detect job does with each file.

    model: svd.model_file.Model; model_sha256: its file's SHA-256 (recorded);
    threshold: the decision threshold; pitch_factors: TTA factors, (1.0,)
    without; min_segment_s: shorter segments are absorbed; plot: also write a
    picture; device: svd.device.Device; jobs: worker processes, each detecting
    whole files on its share of the cores (on the GPU: reading ahead; 0: all in
    this process; svd/jobs/cores.py `auto_jobs` gives the default);
    label_formats: names of LABEL_FORMATS to write, frame_formats: of FRAME_FORMATS (both in that order, from `parse_formats`);
    provenance: recorded with each file (svd/util/provenance.py).
    """
    model: object
    model_sha256: str
    threshold: float
    pitch_factors: tuple
    min_segment_s: float
    plot: bool
    device: object
    jobs: int
    quiet: bool
    label_formats: tuple = ("lab",)
    frame_formats: tuple = ()
    provenance: dict = None


    @property
    def settings(self):
        """The options besides model and threshold that change a file's outputs, as recorded in the summary."""
        return {"min_segment_s": self.min_segment_s, "tta_pitch_factors": list(self.pitch_factors)}


LABEL_FORMATS = tuple(labels.LABEL_SUFFIXES)  # lab, audacity, csv, json, sing: --labels; the first is the main output
FRAME_FORMATS = ("npy", "csv")  # --frames


def label_formats(text):
    """The label formats of `--labels text`, the main one first (`parse_formats`).

    A sing-only track cannot be a file's main output (the summary's figures are
    read back from that, and it leaves out where the audio ends): named alone,
    the `.lab` is written beside it.
    """
    names = parse_formats(text, "--labels", LABEL_FORMATS)
    return ("lab",) + names if names[0] in labels.SING_ONLY else names


def parse_formats(text, option, choices):
    """The formats named in a comma-separated `text` (an option's value): a tuple in the order of `choices`.

    InputError for an empty list or a name not in `choices`.
    """
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        what = f"unknown format {unknown[0]!r}" if unknown else "no format named"
        raise InputError(f"{option} {text!r}: {what}; give a comma-separated list of {', '.join(choices)}.")
    return tuple(name for name in choices if name in names)


def output_suffixes(job):
    """(kind, suffix) of every output of a file, in writing order, the main label file last.

    kind: a label format, 'frames.npy', 'frames.csv' or 'png'.
    """
    kinds = [(f"frames.{name}", f".frames.{name}") for name in job.frame_formats]
    kinds += [("png", ".png")] if job.plot else []
    kinds += [(name, labels.LABEL_SUFFIXES[name]) for name in job.label_formats[1:]]
    main = job.label_formats[0]
    return kinds + [(main, labels.LABEL_SUFFIXES[main])]


def outputs_of(stem, job):
    """The outputs of the file with output stem `stem`: [(kind, path relative to --out-dir as a POSIX string)].

    In writing order (`output_suffixes`): the last is the main label file, the file's `lab` in the summary.
    """
    return [(kind, (stem.parent / (stem.name + suffix)).as_posix()) for kind, suffix in output_suffixes(job)]


def write_output(kind, path, found):
    """Write one output of a svd.detect.Detection to `path`, atomically.

    kind: as in `output_suffixes`. `detect_files` writes the main label file itself, with its record.
    """
    if kind == "png":
        plot.detection_png(found, path)
    elif kind == "frames.npy":
        detect.write_frames_npy(path, found)
    elif kind == "frames.csv":
        detect.write_frames_csv(path, found)
    else:
        write_text_atomic(path, labels.segments_text(found.segments, kind))


def plan(share, out_dir, summary, job, overwrite):
    """Which files of this job to do; saves the summary's first version (svd/jobs/detect_summary.py step 1).

    share: [(audio path, output stem)] of this job. A file whose outputs
    (`outputs_of`) are all there and whose main label file reads back is skipped, unless
    `overwrite`; outputs whose summary record names another model or threshold
    are refused (InputError), so that one folder never mixes two detectors
    without a word. Returns (records: one summary dict per file of `share`, todo:
    the indices into `share` of the files to do).
    """
    earlier = detect_summary.read_latest(summary)
    records, todo, foreign, unknown = [], [], [], 0
    for slot, (path, stem) in enumerate(share):
        outputs = outputs_of(stem, job)
        lab = outputs[-1][1]
        segments = None
        if not overwrite and all((out_dir / output).is_file() for _, output in outputs):
            try:
                segments = labels.read_segments(out_dir / lab)
            except InputError:
                segments = None  # damaged by hand, not by us (our writes are atomic): redo it
        if segments is None:
            records.append(detect_summary.record(path, lab, "pending", job.threshold, job.model_sha256,
                                                 provenance=job.provenance, settings=job.settings))
            todo.append(slot)
        else:
            records.append(detect_summary.skipped(path, lab, segments, earlier.get(lab)))
            made_by = records[-1]["model_sha256"], records[-1]["threshold"]
            # Records older than the settings field made their files with the defaults then fixed.
            settings = records[-1]["settings"] or dataclasses.replace(job, min_segment_s=0.0,
                                                                      pitch_factors=(1.0,)).settings
            if made_by[0] is None:
                unknown += 1
            elif made_by != (job.model_sha256, job.threshold):
                foreign.append((lab, f"model {made_by[0][:12]}, threshold {made_by[1]:.4f}; now model "
                                     f"{job.model_sha256[:12]}, threshold {job.threshold:.4f}"))
            elif settings != job.settings:
                foreign.append((lab, f"{_describe(settings)}; now {_describe(job.settings)}"))
    if foreign:
        lab, change = foreign[0]
        raise InputError(f"{out_dir}: {len(foreign)} of the outputs there were made by another model, threshold "
                         f"or options (e.g. {lab}: {change}); pass --overwrite to redo them, or choose another "
                         "--out-dir.")
    if unknown and not job.quiet:
        print(f"detect: {unknown} files have outputs that no summary says how they were made; they are kept "
              "(--overwrite redoes them)", file=sys.stderr)
    detect_summary.save(summary, records)
    return records, todo


def _describe(settings):
    """'--min-segment 0.5, --tta' for messages."""
    tta = "--tta " + ",".join(f"{f:g}" for f in settings["tta_pitch_factors"]) \
        if settings["tta_pitch_factors"] != [1.0] else "no --tta"
    return f"--min-segment {settings['min_segment_s']:g}, {tta}"


def detect_standard_input(job, stdin=None, stdout=None):
    """Detect the singing in an audio file piped to standard input; write its label text to standard output.

    The one output is the label text in job.label_formats[0]; no file is
    written, no summary kept. stdin, stdout: binary and text streams (default: the process's).
    """
    stdin = stdin or sys.stdin.buffer
    if stdin.isatty():
        raise InputError("detect -: standard input is a terminal; pipe the audio in (svd detect - < song.mp3).")
    name = "standard input"
    linear, duration_s = detect.spectrogram_of(name, audio.load_bytes(stdin.read(), name))
    found = detect.detect_spectrogram(job.model, name, linear, duration_s, job.threshold, job.pitch_factors,
                                      job.min_segment_s, job.device)
    (stdout or sys.stdout).write(labels.segments_text(found.segments, job.label_formats[0]))


def detect_files(share, records, todo, out_dir, summary, job):
    """Runs the detector on share[slot] for each slot of `todo` (from `plan`); returns the number that failed.

    A file that cannot be read is recorded as failed and the job goes on; the
    summary is saved whole every detect_summary.SAVE_EVERY_S and at the end.
    """
    failed, minutes, saved_at = 0, 0.0, time.monotonic()
    paths = [share[slot][0] for slot in todo]
    whole_files = job.jobs > 0 and job.device == CPU  # the workers run the network too
    if whole_files:
        read = functools.partial(detect_file, job.model, job.threshold, job.pitch_factors, job.min_segment_s,
                                 not job.quiet)
        workers = max(1, min(job.jobs, len(paths)))
        reading = readahead.read_ahead(read, paths, workers, cores.shares(cores.available(), workers))
    else:
        reading = readahead.read_ahead(detect.read_spectrogram, paths, job.jobs)
    with Progress("detecting", len(todo), "files", quiet=job.quiet) as bar:
        for done, (index, result) in enumerate(reading, start=1):  # in the order the files finish
            slot = todo[index]
            path, stem = share[slot]
            if not (whole_files or isinstance(result, InputError)):
                try:
                    result = _detected(job.model, path, *result, job.threshold, job.pitch_factors,
                                       job.min_segment_s, job.device)
                except InputError as error:
                    result = error
            if isinstance(result, InputError):
                failed += 1
                records[slot] = {**records[slot], "status": "failed", "error": str(result)}
                detect_summary.append(summary, records[slot])
                bar.note(f"failed: {result}")
            else:
                found = result
                *others, (main, _) = outputs_of(stem, job)
                for kind, output in others:
                    write_output(kind, out_dir / output, found)
                records[slot] = detect_summary.record(path, records[slot]["lab"], "done", job.threshold,
                                                      job.model_sha256, found.segments, provenance=job.provenance,
                                                      settings=job.settings)
                lab = out_dir / records[slot]["lab"]
                with replacing(lab) as temp:
                    temp.write_text(labels.segments_text(found.segments, main), encoding="utf-8")
                    detect_summary.append(summary, records[slot])  # before the rename: a .lab always has its record
                minutes += records[slot]["duration_s"] / 60
                print(f"{detect.shown(path)}: {100 * records[slot]['voice_fraction']:.1f}% singing -> "
                      f"{detect.shown(lab)}")
            bar.update(done, f"{minutes:.1f} audio min")
            if time.monotonic() - saved_at >= detect_summary.SAVE_EVERY_S:
                detect_summary.save(summary, records)
                saved_at = time.monotonic()
    detect_summary.save(summary, records)
    print(f"detect: {len(todo) - failed} done, {len(share) - len(todo)} skipped, {failed} failed; "
          f"summary in {summary}", file=sys.stderr)
    return failed


def detect_file(model, threshold, pitch_factors, min_segment_s, notices, path):
    """One file read and detected on the CPU, as a worker process does it (`--jobs`): a detect.Detection.
    InputError for a file that cannot be read or whose network output is unusable. notices: whether the
    compiled code may say on stderr that it is being built or measured (False: the command's --quiet)."""
    backend.fast_build_notices(notices)
    linear, duration_s = detect.read_spectrogram(path)
    return _detected(model, path, linear, duration_s, threshold, pitch_factors, min_segment_s, CPU)


def _detected(model, path, linear, duration_s, threshold, pitch_factors, min_segment_s, device):
    """detect.detect_spectrogram, with running out of memory as an InputError naming the file."""
    try:
        return detect.detect_spectrogram(model, path, linear, duration_s, threshold, pitch_factors,
                                         min_segment_s, device)
    except MemoryError:
        raise InputError(f"{detect.shown(path)}: not enough memory to run the network on it; split the file or "
                         "free memory.") from None
