"""Pictures (optional: needs matplotlib, which the rest of svd does not).

`detection_png` draws what `run.py detect` found in one file: the mel
spectrogram, the raw and smoothed voice probability with the threshold, and
the detected singing segments.
"""
import numpy as np

from svd import spectrum
from svd.atomic import replacing
from svd.errors import InputError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib, which is not installed; "
                         "run 'pip install matplotlib' or leave out --plot.") from None
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot
    return matplotlib.pyplot


def detection_png(detection, path):
    """Write a PNG of a svd.detect.Detection to `path` (atomically)."""
    plt = _pyplot()
    n_frames = len(detection.probabilities)
    seconds = n_frames / spectrum.FRAME_RATE_HZ
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 2]})
    top.imshow(detection.log_mel.T, origin="lower", aspect="auto", cmap="magma",
               extent=(0, seconds, 0, spectrum.MEL_BANDS))
    top.set_ylabel("mel band")
    top.set_title(detection.path.name)
    times = np.arange(n_frames) / spectrum.FRAME_RATE_HZ
    for start, end, sing in detection.segments:
        if sing:
            bottom.axvspan(start, end, color="tab:green", alpha=0.2, lw=0)
    bottom.plot(times, detection.probabilities, color="0.6", lw=0.6, label="raw probability")
    bottom.plot(times, detection.smoothed, color="tab:blue", lw=1.2, label="smoothed (800 ms median)")
    bottom.axhline(detection.threshold, color="tab:red", ls="--", lw=1,
                   label=f"threshold {detection.threshold:.2f}")
    bottom.set_ylim(0, 1)
    bottom.set_xlim(0, seconds)
    bottom.set_xlabel("time (s); green: singing detected")
    bottom.set_ylabel("voice")
    bottom.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    with replacing(path) as temp:
        figure.savefig(temp, format="png", dpi=100)
    plt.close(figure)
