"""Pictures, drawn with matplotlib (in requirements.txt; the rest of svd runs without it).

`detection_png` draws what `run.py detect` found in one file: the mel
spectrogram, the raw and smoothed voice probability with the threshold, and
the detected singing segments. `ablation_png` draws the paper's Figure 2 for
`run.py ablate`, `augmentation_png` its Figure 1 for `run.py show-augment`.
"""
import numpy as np

from svd import augment, backend, excerpt, normalise, spectrum
from svd.util.atomic import replacing
from svd.util.errors import InputError


def pyplot():
    """matplotlib.pyplot, drawing to files only; InputError if matplotlib is missing.

    Commands that will draw call it before any other work, so a missing
    matplotlib is reported at once, not after a long run.
    """
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib, which is not installed; run 'pip install matplotlib' (or install "
                         "svd with its plot extra: pip install 'svd-detector[plot]') or leave out --plot.") from None
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot
    return matplotlib.pyplot


def detection_png(detection, path):
    """Write the picture of a svd.detect.Detection (`detection_figure`) to `path` as a PNG (atomically)."""
    plt = pyplot()
    figure = detection_figure(detection)
    with replacing(path) as temp:
        figure.savefig(temp, format="png", dpi=100)
    plt.close(figure)


def detection_figure(detection):
    """What `run.py detect --plot` draws for one file: a matplotlib Figure of two panels over one time axis.

    Top: the mel spectrogram, its frequency axis labelled in Hz. Bottom: the
    raw and smoothed voice probability, the threshold, and the detected
    singing shaded. Time in m:ss; the legend in a row below the panels, where
    it covers nothing.
    """
    plt = pyplot()
    from matplotlib.patches import Patch  # matplotlib is there: pyplot() said so
    n_frames = len(detection.probabilities)
    seconds = detection.segments[-1][1]  # the audio's duration
    times = spectrum.frame_times_s(n_frames)  # frame centres: frame i is drawn from half a hop before to after
    hop_s = 1 / spectrum.FRAME_RATE_HZ
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, layout="constrained",
                                         gridspec_kw={"height_ratios": [3, 2]})
    top.imshow(detection.log_mel.T, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
               extent=(times[0] - hop_s / 2, times[0] + (n_frames - 0.5) * hop_s, 0, spectrum.MEL_BANDS))
    _mel_hz_ticks(top)
    top.set_title(detection.path.name)
    sung = [(start, end) for start, end, sing in detection.segments if sing]
    for number, (start, end) in enumerate(sung):
        bottom.axvspan(start, end, color="tab:green", alpha=0.2, lw=0,
                       label="singing detected" if number == 0 else "_nolegend_")
    bottom.plot(times, detection.probabilities, color="0.6", lw=0.6, label="raw probability")
    bottom.plot(times, detection.smoothed, color="tab:blue", lw=1.2, label="smoothed (800 ms median)")
    bottom.axhline(detection.threshold, color="tab:red", ls="--", lw=1,
                   label=f"threshold {detection.threshold:.2f}")
    bottom.set_ylim(0, 1)
    bottom.set_xlim(0, seconds)
    _minutes_seconds_axis(bottom, seconds)
    bottom.set_xlabel("time (m:ss)")
    bottom.set_ylabel("p(voice)")
    handles, names = bottom.get_legend_handles_labels()
    if not sung:  # still say what green would mean
        handles.append(Patch(color="tab:green", alpha=0.2, lw=0))
        names.append("singing detected (none)")
    figure.legend(handles, names, loc="outside lower center", ncols=len(handles), fontsize=9, frameon=False)
    return figure


TIME_TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)  # whole seconds, read as m:ss


def _minutes_seconds_axis(axes, seconds, max_ticks=12):
    """Label a time axis in seconds as m:ss, with ticks at the smallest round step giving at most `max_ticks`."""
    from matplotlib import ticker  # matplotlib is there: the caller got pyplot()
    step = next((s for s in TIME_TICK_STEPS_S if seconds / s <= max_ticks), TIME_TICK_STEPS_S[-1])
    axes.xaxis.set_major_locator(ticker.MultipleLocator(step))
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: minutes_seconds(value)))


def minutes_seconds(value_s):
    """'m:ss' for a time in seconds, rounded to the second (minutes may exceed 59: 75:00)."""
    whole = int(round(value_s))
    sign = "-" if whole < 0 else ""
    return f"{sign}{abs(whole) // 60}:{abs(whole) % 60:02d}"


def ablation_png(summary, path, title=""):
    """Write the paper's Figure 2 for an ablation (svd/ablate.py) to `path`: one bar per configuration.

    summary: list of dicts with name, error_mean and error_half_width (None
    for a single seed: no whisker), in the order the rows appear top to bottom.
    Bars are the mean test error at the optimal threshold, whiskers its 95%
    confidence interval; the dotted line marks the first row (the baseline).
    """
    plt = pyplot()
    names = [row["name"] for row in summary]
    means = np.array([100 * row["error_mean"] for row in summary])
    halves = np.array([100 * (row["error_half_width"] or 0.0) for row in summary])
    figure, axes = plt.subplots(figsize=(7, 0.4 * len(names) + 1.4))
    rows = np.arange(len(names))
    colours = ["tab:orange" if name.endswith("+tta") else "tab:blue" for name in names]
    axes.barh(rows, means, xerr=halves, color=colours, alpha=0.8, capsize=3, error_kw={"lw": 1})
    if len(means):
        axes.axvline(means[0], color="0.3", ls=":", lw=1)
    axes.set_yticks(rows, names)
    axes.invert_yaxis()  # first configuration on top, like the paper
    low = max(0.0, float(np.min(means - halves)) * 0.8) if len(means) else 0.0
    axes.set_xlim(low, float(np.max(means + halves)) * 1.05 + 1e-9 if len(means) else 1.0)
    axes.set_xlabel("test error at the optimal threshold (%), mean and 95% interval over seeds")
    axes.set_title(title or "classification error per augmentation (paper Fig. 2)")
    figure.tight_layout()
    with replacing(path) as temp:
        figure.savefig(temp, format="png", dpi=100)
    plt.close(figure)


# ------------------------------------------------ the paper's Figure 1 (run.py show-augment)

SHOW_FACTORS = (0.8, 1.2)  # fixed pitch/stretch factors shown, both directions (paper Fig. 1d-e)
SHOW_LOUDNESS_DB = (-10.0, 10.0)  # Fig. 1f
SHOW_MIX_FRACTION = 0.4  # near the top of f ~ U(0, 0.5), so the blend is visible (Sec. 4.3)
SHOW_FILTER_DB = 10.0  # Fig. 1g-h: filters of up to ±10 dB


def _augmented_views(linear_song, centre_frame, seed):
    """The excerpts of Figure 1, as (title, (115, 80) normalised log-mel) pairs, plus what the other panels need.

    linear_song: (frames, 513) float32. Normalised with the song's own statistics.
    Returns (views, source, filter_curves_db, partner_frame): source is the
    (width, 513) linear excerpt the warps read; filter_curves_db (50, bins).
    """
    rng = np.random.default_rng(seed)
    mean, std = normalise.band_statistics([spectrum.log_mel(linear_song)])
    width = augment.source_frames(augment.Augmentation(time_stretch=1 - min(SHOW_FACTORS)))
    half = width // 2
    padded = np.pad(linear_song, ((half, half), (0, 0)))  # silence beyond the song, as in training

    def crop(frame):  # (1, width, 513), centred on `frame` (not named `excerpt`: that is the module)
        return padded[None, frame:frame + width]

    def mel(linear_excerpts):  # (n, 115, bins) -> (n, 115, 80) normalised log-mel
        return normalise.normalise(spectrum.log_mel(linear_excerpts), mean, std)

    source = crop(centre_frame)
    ones = np.ones(2)
    original = augment.warp(source, [1.0], [1.0])  # factor 1: an exact crop, (1, 115, 372)
    pitched = augment.warp(np.repeat(source, 2, axis=0), SHOW_FACTORS, ones)
    stretched = augment.warp(np.repeat(source, 2, axis=0), ones, SHOW_FACTORS)
    louder = original * (10.0 ** (np.array(SHOW_LOUDNESS_DB) / 20.0))[:, None, None].astype(np.float32)
    filter_aug = augment.Augmentation(filter_db=SHOW_FILTER_DB)
    filter_params = augment.draw_parameters(filter_aug, 2, rng)
    filtered = original * augment.amplitude_gains(filter_params)[:, None, :]
    curves = augment.draw_parameters(filter_aug, 50, rng)
    curves_db = augment.filter_response_db(np.arange(spectrum.MEL_INPUT_BINS) * spectrum.BIN_HZ,
                                           curves["filter_mu_hz"], curves["filter_sigma_semitones"],
                                           curves["filter_gain_db"])
    # Another part of the song: an excerpt not overlapping this one, inside the song where possible.
    frames = np.arange(len(linear_song))
    excerpt_frames, context = excerpt.EXCERPT_FRAMES, excerpt.EXCERPT_FRAMES // 2
    far = frames[np.abs(frames - centre_frame) >= excerpt_frames]
    inside = far[(far >= context) & (far < len(linear_song) - context)]
    candidates = inside if len(inside) else far if len(far) else frames[[0, -1]]
    partner = int(rng.choice(candidates))
    mixed = augment.mix(original, augment.warp(crop(partner), [1.0], [1.0]), [SHOW_MIX_FRACTION])
    # Dropout and noise act on the normalised mel input: the real batch function does them.
    dropped = augment.augment_batch(backend.ops(source), source, augment.Augmentation(input_dropout=0.2), rng, mean, std)
    noisy = augment.augment_batch(backend.ops(source), source, augment.Augmentation(noise_sigma=0.2), rng, mean, std)
    partner_s = float(spectrum.frame_times_s(partner + 1)[-1])
    views = [("(b) original", mel(original)[0]), ("(c) dropout 20%", dropped[0]),
             ("(c) Gaussian noise σ 0.2", noisy[0])]
    views += [(f"(d) pitch shift ×{f:g}", v) for f, v in zip(SHOW_FACTORS, mel(pitched))]
    views += [(f"(e) time stretch ×{f:g}", v) for f, v in zip(SHOW_FACTORS, mel(stretched))]
    views += [(f"(f) loudness {g:+g} dB", v) for g, v in zip(SHOW_LOUDNESS_DB, mel(louder))]
    views += [(f"(g) filter {g:+.1f} dB at {mu:.0f} Hz, σ {s:.1f} st", v) for g, mu, s, v in
              zip(filter_params["filter_gain_db"], filter_params["filter_mu_hz"],
                  filter_params["filter_sigma_semitones"], mel(filtered))]
    views.append((f"mixed with the excerpt at {partner_s:.1f} s, f = {SHOW_MIX_FRACTION:g}", mel(mixed)[0]))
    return views, source[0], curves_db, partner


def augmentation_png(linear_song, centre_frame, path, seed=0, title=""):
    """Write the paper's Figure 1 for one excerpt of a song (`augmentation_figure`) to `path` (atomically)."""
    plt = pyplot()
    figure = augmentation_figure(linear_song, centre_frame, seed, title)
    with replacing(path) as temp:
        figure.savefig(temp, format="png", dpi=80)
    plt.close(figure)


# Where each panel of Figure 1 goes in a 4 x 4 grid, in reading order (left to right, top to bottom):
# (a) the linear excerpt over two cells, then the 12 mel views of `_augmented_views` (the original
# first), with (h), the filter responses, over two cells after the filtered views.
SOURCE_CELLS = (0, slice(0, 2))
VIEW_CELLS = ((0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3), (3, 0), (3, 3))
FILTER_CURVE_CELLS = (3, slice(1, 3))


def augmentation_figure(linear_song, centre_frame, seed=0, title=""):
    """The paper's Figure 1 for one excerpt of a song, as a matplotlib Figure.

    linear_song: (frames, 513) float32 magnitudes; centre_frame: the frame the
    115-frame excerpt is centred on; seed: the random parts (dropout mask,
    noise, filters, mix partner). Pitch and stretch use the fixed factors 0.8
    and 1.2 so both directions are visible. Mel panels share one colour scale:
    log-mel normalised per band with the song's own mean and deviation.
    """
    plt = pyplot()
    views, source, curves_db, _ = _augmented_views(linear_song, centre_frame, seed)
    figure = plt.figure(figsize=(17, 14), layout="constrained")
    grid = figure.add_gridspec(4, 4)
    _draw_source(figure.add_subplot(grid[SOURCE_CELLS]), source, centre_frame)
    low, high = np.percentile(views[0][1], [1, 99])  # the original's range, shared by every mel panel
    extent = (*_excerpt_span_s(centre_frame, len(views[0][1])), 0, spectrum.MEL_BANDS)
    mel_axes, image = [], None
    for cell, (name, values) in zip(VIEW_CELLS, views):
        axes = figure.add_subplot(grid[cell])
        image = axes.imshow(values.T, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high,
                            extent=extent, interpolation="nearest")
        axes.set_title(name, fontsize=10)
        _mel_hz_ticks(axes)
        axes.set_xlabel("time (s)")
        mel_axes.append(axes)
    figure.colorbar(image, ax=mel_axes, shrink=0.5, label="normalised log-mel (song statistics)")
    curve_axes = figure.add_subplot(grid[FILTER_CURVE_CELLS])
    bins_hz = np.arange(curves_db.shape[1]) * spectrum.BIN_HZ
    curve_axes.plot(bins_hz[1:], curves_db[:, 1:].T, lw=0.8, alpha=0.7)
    curve_axes.set_xscale("log")
    curve_axes.set_xlim(bins_hz[1], spectrum.MEL_MAX_HZ)
    ticks_hz = [50, 100, 250, 500, 1000, 2000, 4000, 8000]
    curve_axes.set_xticks(ticks_hz, [f"{f:g}" for f in ticks_hz])
    curve_axes.minorticks_off()
    curve_axes.set_xlabel("frequency (Hz)")
    curve_axes.set_ylabel("gain (dB)")
    curve_axes.set_title(f"(h) 50 random filter responses (±{SHOW_FILTER_DB:g} dB, σ 5-7 semitones)", fontsize=10)
    figure.suptitle(f"{title}: data augmentation (paper Fig. 1), excerpt centred at "
                    f"{spectrum.frame_times_s(centre_frame + 1)[-1]:.2f} s", fontsize=13)
    return figure


def _draw_source(axes, source, centre_frame):
    """Panel (a): the linear excerpt in dB with the crop borders of the pitch/stretch factors."""
    centre_s = float(spectrum.frame_times_s(centre_frame + 1)[-1])
    decibels = 20 * np.log10(np.maximum(source, 1e-7))
    top = float(decibels.max())
    axes.imshow(decibels.T, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                extent=(*_excerpt_span_s(centre_frame, len(source)), 0, spectrum.LINEAR_BINS * spectrum.BIN_HZ),
                interpolation="nearest")
    styles = {1.0: "-", SHOW_FACTORS[0]: "--", SHOW_FACTORS[1]: ":"}
    for factor, style in styles.items():
        # Output frame t reads source offset t / factor; output bin j reads source bin j / factor.
        half_s = excerpt.EXCERPT_FRAMES / 2 / factor / spectrum.FRAME_RATE_HZ
        top_hz = spectrum.MEL_INPUT_BINS * spectrum.BIN_HZ / factor
        axes.plot([centre_s - half_s, centre_s - half_s, centre_s + half_s, centre_s + half_s],
                  [0, top_hz, top_hz, 0], color="cyan", ls=style, lw=1.5,
                  label=f"×{factor:g}" + (" (unchanged)" if factor == 1.0 else ""))
    axes.set_ylim(0, spectrum.LINEAR_BINS * spectrum.BIN_HZ)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("frequency (Hz)")
    # The legend goes between the title and the panel, not on it: the borders run over the whole
    # picture. Cyan lines on a dark background, so they look as they do on the spectrogram.
    axes.set_title("(a) linear spectrogram (dB) with the crop borders read at pitch and stretch", fontsize=10,
                   pad=28)
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.01), ncols=3, fontsize=10, facecolor="0.25",
                labelcolor="white", borderaxespad=0)


def _excerpt_span_s(centre_frame, width):
    """(left, right) edges in seconds of `width` frames centred on `centre_frame` (frame i is drawn
    from its centre time minus half a hop to plus half a hop)."""
    centre_s = float(spectrum.frame_times_s(centre_frame + 1)[-1])
    half_s = (width / 2) / spectrum.FRAME_RATE_HZ
    return centre_s - half_s, centre_s + half_s


def _mel_hz_ticks(axes):
    """Label a mel-band axis (band k spans [k, k+1]) in Hz at round frequencies."""
    centres_mel = spectrum.hz_to_mel(spectrum.mel_band_edges_hz()[1:-1])
    ticks_hz = [100, 250, 500, 1000, 2000, 4000, 8000]
    positions = np.interp(spectrum.hz_to_mel(np.array(ticks_hz, float)), centres_mel,
                          np.arange(spectrum.MEL_BANDS) + 0.5)
    axes.set_yticks(positions, [f"{f:g}" if f < 1000 else f"{f // 1000:g}k" for f in ticks_hz])
    axes.set_ylabel("frequency (Hz)")
