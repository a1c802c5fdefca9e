"""Pure signal-processing functions for vocal style transfer: WORLD analysis and synthesis,
spectral-envelope warping and smoothing, mel-cepstra and dynamic time warping.

Conventions: audio is a 1-D float64 array in [-1, 1] at ``sr`` Hz; analysis frames are
``frame_ms`` apart (5 ms by default), so T frames cover T * frame_ms ms; spectral
envelopes are WORLD's CheapTrick power spectra of shape [T, F] with F = fft_size // 2 + 1
bins spanning 0 .. sr / 2 Hz; "log envelope" means the natural log of that power. Nothing
here reads files, keeps state or chooses settings (that is ``instant.py`` and
``metrics.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from musicrnn.style.backends import pysptk, pyworld

FRAME_MS = 5.0
F0_FLOOR = 71.0  # Hz: WORLD's default; also fixes CheapTrick's FFT size (1024 at 16 kHz)
F0_CEIL = 800.0  # Hz
LOG_FLOOR = 1e-16  # power floor before taking logs (WORLD gives ~0 in digital silence)
F0_METHODS = ("dio", "harvest")

# The usual all-pass constants for mel-cepstra (SPTK tables; 0.42 at 16 kHz, 0.455 at 22.05 kHz).
MCEP_ALPHAS = {8000: 0.31, 11025: 0.357, 16000: 0.42, 22050: 0.455, 24000: 0.466, 32000: 0.504, 44100: 0.544, 48000: 0.554}


@dataclass(frozen=True)
class WorldFeatures:
    """WORLD parameters of one clip.

    f0: [T] Hz, 0 where unvoiced; sp: [T, F] power spectral envelope; ap: [T, F]
    aperiodicity in [0, 1]; sr: Hz; frame_ms: hop between frames in ms.
    """

    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    sr: int
    frame_ms: float

    @property
    def fft_size(self) -> int:
        return 2 * (self.sp.shape[1] - 1)

    @property
    def freqs(self) -> np.ndarray:
        """[F] centre frequency of each envelope bin, Hz."""
        return bin_freqs(self.sp.shape[1], self.sr)

    @property
    def voiced(self) -> np.ndarray:
        """[T] bool: frames with an f0."""
        return self.f0 > 0

    @property
    def log_sp(self) -> np.ndarray:
        """[T, F] natural log of the power envelope (floored at LOG_FLOOR)."""
        return np.log(np.maximum(self.sp, LOG_FLOOR))


def bin_freqs(n_bins: int, sr: float) -> np.ndarray:
    """[n_bins] frequencies in Hz of the bins of a one-sided spectrum from 0 to sr / 2."""
    return np.linspace(0.0, sr / 2.0, n_bins)


def as_world_input(y: np.ndarray) -> np.ndarray:
    """[N] float64, C-contiguous (what pyworld requires) from any 1-D float array."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio of shape [N], got shape {y.shape}")
    return np.ascontiguousarray(y)


def world_f0(y: np.ndarray, sr: int, *, method: str = "dio", frame_ms: float = FRAME_MS,
             f0_floor: float = F0_FLOOR, f0_ceil: float = F0_CEIL) -> tuple[np.ndarray, np.ndarray]:
    """f0 [T] Hz (0 = unvoiced) and frame times [T] s of ``y`` [N] at ``sr``.

    ``dio`` is DIO refined by StoneMask (about 0.015 x real time at 16 kHz on one core);
    ``harvest`` is Harvest (about 0.28 x real time, fewer voicing errors).
    """
    pw = pyworld()
    y = as_world_input(y)
    if method == "dio":
        f0, t = pw.dio(y, sr, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_ms)
        f0 = pw.stonemask(y, f0, t, sr)
    elif method == "harvest":
        f0, t = pw.harvest(y, sr, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_ms)
    else:
        raise ValueError(f"f0 method {method!r}: use one of {F0_METHODS}")
    return f0, t


HIGH_F0_CEIL = 1600.0  # Hz: a soprano's top, tracked when a voice sings up near F0_CEIL
HIGH_VOICE_HZ = 600.0  # a voice whose 90th-percentile f0 passes this is tracked again up to HIGH_F0_CEIL
LOW_F0_FLOOR = 50.0  # Hz: a bass's low notes (G1 is 49 Hz), tracked when a voice sits near F0_FLOOR
LOW_VOICE_HZ = 90.0  # a voice whose 10th-percentile f0 is below this is tracked again down to LOW_F0_FLOOR


def register_f0(y: np.ndarray, sr: int, *, method: str = "dio", frame_ms: float = FRAME_MS,
                f0_floor: float = F0_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """:func:`world_f0` over the whole singing range, 50 to 1,600 Hz: tracked from F0_FLOOR
    (71 Hz) to F0_CEIL (800 Hz) first; again up to HIGH_F0_CEIL when the voice reaches near
    that ceiling (its 90th-percentile f0 above HIGH_VOICE_HZ), or again down to LOW_F0_FLOOR
    when it sits near the floor (its 10th-percentile f0 below LOW_VOICE_HZ). One wide search
    for every voice tracked the others worse: up to 1,600 Hz, more octave slips in low and
    middle voices and a soprano at 800 Hz an octave low; down to 50 Hz, altos and sopranos
    kept a little less of their pitch (docs/benchmarks.md)."""
    f0, t = world_f0(y, sr, method=method, frame_ms=frame_ms, f0_floor=f0_floor, f0_ceil=F0_CEIL)
    heard = f0[f0 > 0]
    if heard.size >= 5 and np.percentile(heard, 90) > HIGH_VOICE_HZ:
        f0, t = world_f0(y, sr, method=method, frame_ms=frame_ms, f0_floor=f0_floor, f0_ceil=HIGH_F0_CEIL)
    elif heard.size >= 5 and f0_floor > LOW_F0_FLOOR and np.percentile(heard, 10) < LOW_VOICE_HZ:
        f0, t = world_f0(y, sr, method=method, frame_ms=frame_ms, f0_floor=LOW_F0_FLOOR, f0_ceil=F0_CEIL)
    return f0, t


def envelope_floor(f0: np.ndarray, f0_floor: float = F0_FLOOR) -> float:
    """The f0 floor CheapTrick needs for ``f0`` [T]: ``f0_floor``, or LOW_F0_FLOOR when a pitch
    below it was tracked (:func:`register_f0` for a low voice). CheapTrick reads a frame whose
    f0 is at or below its floor as unvoiced; its FFT stays 1,024 at 16 kHz either way."""
    return LOW_F0_FLOOR if np.any((f0 > 0) & (f0 <= f0_floor)) else f0_floor


def world_analyze(y: np.ndarray, sr: int, *, method: str = "dio", frame_ms: float = FRAME_MS,
                  f0_floor: float = F0_FLOOR, f0_ceil: float | None = F0_CEIL) -> WorldFeatures:
    """WORLD analysis of ``y`` [N]: f0 (``method``; ``f0_ceil`` None: :func:`register_f0`),
    CheapTrick envelope, D4C aperiodicity."""
    pw = pyworld()
    y = as_world_input(y)
    if f0_ceil is None:
        f0, t = register_f0(y, sr, method=method, frame_ms=frame_ms, f0_floor=f0_floor)
    else:
        f0, t = world_f0(y, sr, method=method, frame_ms=frame_ms, f0_floor=f0_floor, f0_ceil=f0_ceil)
    sp = world_envelope(y, sr, f0, t, f0_floor=envelope_floor(f0, f0_floor))
    ap = pw.d4c(y, f0, t, sr, fft_size=2 * (sp.shape[1] - 1))
    return WorldFeatures(f0=f0, sp=sp, ap=ap, sr=sr, frame_ms=frame_ms)


def running_rms(y: np.ndarray, hop: int, win: int) -> np.ndarray:
    """RMS [len(y) // hop + 1] of ``y`` [N] over ``win`` samples centred on every ``hop``-th sample."""
    y = np.asarray(y, np.float64)
    c = np.concatenate([[0.0], np.cumsum(np.pad(y, (win // 2, win // 2 + hop)) ** 2)])
    starts = np.arange(len(y) // hop + 1) * hop
    return np.sqrt((c[starts + win] - c[starts]) / win + 1e-12)


def follow_level(y: np.ndarray, ref: np.ndarray, sr: int, *, hop_s: float = 0.005, win_s: float = 0.02,
                 lowest: float = 0.05, highest: float = 2.0) -> np.ndarray:
    """``y`` [N] with ``ref``'s [N] level contour: each 5 ms is scaled by the ratio of their
    20-ms RMS (normalised to 1 at its median over ``ref``'s active part, kept within
    [``lowest``, ``highest``]), then the peak restored. A decoder that smooths the dips between
    sung notes (the "l" of "la, la") gets them back, so repeated notes stay separate notes."""
    y = np.asarray(y, np.float64)
    hop, win = max(1, int(hop_s * sr)), max(2, int(win_s * sr))
    r_ref, r_y = running_rms(ref, hop, win), running_rms(y, hop, win)
    gain = r_ref / r_y
    active = r_ref > 0.05 * r_ref.max()
    if not active.any():
        return y
    gain = np.clip(gain / np.median(gain[active]), lowest, highest)
    out = y * np.interp(np.arange(len(y)), np.arange(len(gain)) * hop, gain)
    peak = float(np.abs(out).max())
    return out * (float(np.abs(y).max()) / peak) if peak > 0 else out


def world_envelope(y: np.ndarray, sr: int, f0: np.ndarray, times: np.ndarray, *, f0_floor: float = F0_FLOOR) -> np.ndarray:
    """CheapTrick power envelope [T, F] of ``y`` [N] at the frames (f0 [T] Hz, times [T] s);
    F = fft_size // 2 + 1 with WORLD's FFT size for ``f0_floor`` (1024 at 16 kHz)."""
    pw = pyworld()
    fft_size = pw.get_cheaptrick_fft_size(sr, f0_floor)
    return pw.cheaptrick(as_world_input(y), f0, times, sr, f0_floor=f0_floor, fft_size=fft_size)


def world_synthesize(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, sr: int, frame_ms: float, n_samples: int) -> np.ndarray:
    """[n_samples] audio from WORLD parameters (f0 [T] Hz, sp and ap [T, F]), cut or zero-padded."""
    pw = pyworld()
    y = pw.synthesize(np.ascontiguousarray(f0, dtype=np.float64), np.ascontiguousarray(sp, dtype=np.float64),
                      np.ascontiguousarray(ap, dtype=np.float64), sr, frame_ms)
    out = np.zeros(n_samples)
    n = min(n_samples, len(y))
    out[:n] = y[:n]
    return out


def confident_f0(f0: np.ndarray, active: np.ndarray | None = None, min_frames: int = 10) -> np.ndarray:
    """[T] bool: the frames whose f0 can be trusted for a register: voiced, loud enough
    (``active``), and within a semitone of the frame before, which is voiced too (a tracker's
    octave jumps and its voicing blips at the edges of notes drop out). Falls back to the
    voiced (active) frames when fewer than ``min_frames`` remain."""
    f0 = np.asarray(f0, np.float64)
    voiced = f0 > 0
    if active is not None:
        voiced = voiced & np.asarray(active, bool)
    steady = np.zeros_like(voiced)
    both = voiced[1:] & voiced[:-1]
    step = np.zeros(both.shape)
    step[both] = np.abs(12.0 * np.log2(f0[1:][both] / f0[:-1][both]))
    steady[1:] = both & (step < 1.0)
    return steady if steady.sum() >= min_frames else voiced


def octave_shift(source_log_f0: float, target_log_f0: float) -> float:
    """The default transposition: whole octaves toward the target's register (median ln f0s),
    at most one octave either way, so a melody keeps its key and its range: 0 unless the
    registers are more than 6 semitones apart."""
    semitones = 12.0 / np.log(2.0) * (target_log_f0 - source_log_f0)
    return 12.0 * float(np.clip(np.round(semitones / 12.0), -1, 1))


def frame_energy_db(sp: np.ndarray) -> np.ndarray:
    """[T] frame energy in dB (10 log10 of the mean power of the envelope sp [T, F])."""
    return 10.0 * np.log10(np.maximum(sp.mean(axis=1), LOG_FLOOR))


def active_frames(energy_db: np.ndarray, floor_db: float = 40.0) -> np.ndarray:
    """[T] bool: frames not more than ``floor_db`` below the clip's loud level.

    The loud level is the 95th percentile of ``energy_db`` [T] (robust to a few clicks),
    so silence, breaths and fade-outs drop out while quiet consonants stay.
    """
    if energy_db.size == 0:
        return np.zeros(0, dtype=bool)
    return energy_db > np.percentile(energy_db, 95) - floor_db


def warp_positions(n_bins: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation indices [F] and weights [F] that read bin k / ratio for each output bin k.

    Reading the input at k / ratio moves every spectral feature from frequency f to
    ratio * f; positions past the last bin (ratio < 1) repeat the last bin.
    """
    pos = np.minimum(np.arange(n_bins) / ratio, n_bins - 1.0)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_bins - 2)
    return lo, pos - lo


def warp_log_envelope(log_env: np.ndarray, ratio: float) -> np.ndarray:
    """Log envelope(s) [..., F] with frequency axis scaled by ``ratio`` (1.2: formants 20% up).

    Linear interpolation along frequency in the log domain; the shape is unchanged.
    """
    if ratio == 1.0:
        return log_env.copy()
    lo, w = warp_positions(log_env.shape[-1], ratio)
    return (1.0 - w) * log_env[..., lo] + w * log_env[..., lo + 1]


def smooth_log_envelope(log_env: np.ndarray, n_cepstra: int) -> np.ndarray:
    """Log envelope(s) [..., F] keeping only the first ``n_cepstra`` cepstral coefficients.

    Cepstral liftering: the envelope is treated as a log spectrum, its real cepstrum
    (length 2 (F - 1)) is cut after quefrency ``n_cepstra - 1`` and transformed back,
    which smooths over about sr / (2 n_cepstra) Hz.
    """
    c = np.fft.irfft(log_env, axis=-1)
    c[..., n_cepstra:c.shape[-1] - n_cepstra + 1] = 0.0
    return np.fft.rfft(c, axis=-1).real


def resample_log_envelope(log_env: np.ndarray, freqs: np.ndarray, new_freqs: np.ndarray) -> np.ndarray:
    """Log envelope [F] given at ``freqs`` [F] Hz, read at ``new_freqs`` [F'] Hz (edge values beyond)."""
    return np.interp(new_freqs, freqs, log_env)


def mel_grid(f_lo: float, f_hi: float, n: int) -> np.ndarray:
    """[n] frequencies in Hz equally spaced on the mel scale (HTK formula) from f_lo to f_hi."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    m = np.linspace(mel(f_lo), mel(f_hi), n)
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def formant_fit_errors(source_log_env: np.ndarray, target_log_env: np.ndarray, freqs: np.ndarray,
                       ratios: np.ndarray, f_lo: float = 200.0, f_hi: float = 5000.0) -> np.ndarray:
    """[R] mismatch between the target and the source warped by each of ``ratios`` [R].

    Both envelopes [F] are mean voiced log envelopes on the bin frequencies ``freqs`` [F]
    Hz. For each ratio r the source is read at f / r, both are sampled on 64 mel-spaced
    frequencies from ``f_lo`` to ``f_hi`` (capped at 0.9 x Nyquist; the mel spacing keeps the
    many high bins from outweighing the first formants), each has its own mean removed
    (overall level is not a formant cue), and the error is the mean squared difference.
    """
    grid = mel_grid(f_lo, min(f_hi, 0.9 * freqs[-1]), 64)
    tgt = np.interp(grid, freqs, target_log_env)
    tgt = tgt - tgt.mean()
    errors = np.empty(len(ratios))
    for i, r in enumerate(ratios):
        src = np.interp(grid / r, freqs, source_log_env)
        errors[i] = np.mean((src - src.mean() - tgt) ** 2)
    return errors


def fit_formant_ratio(source_log_env: np.ndarray, target_log_env: np.ndarray, freqs: np.ndarray,
                      ratios: np.ndarray | None = None) -> float:
    """The frequency-warp factor in ``ratios`` (default 0.70..1.40 in 1% geometric steps)
    that best maps the source's mean voiced log envelope [F] onto the target's [F]; see
    :func:`formant_fit_errors` for the criterion."""
    if ratios is None:
        ratios = np.geomspace(0.7, 1.4, 71)
    return float(ratios[int(np.argmin(formant_fit_errors(source_log_env, target_log_env, freqs, ratios)))])


# ---------------------------------------------------------------------------------------
# Mel-cepstra


@functools.cache
def mcep_alpha(sr: int) -> float:
    """All-pass constant that makes the warped frequency axis closest to the mel scale.

    The usual tabulated value for common rates (0.42 at 16 kHz, 0.455 at 22.05 kHz);
    otherwise the grid search of SPTK/pysptk ``mcepalpha`` (least squares against the
    mel scale, steps of 0.001).
    """
    if int(sr) in MCEP_ALPHAS:
        return MCEP_ALPHAS[int(sr)]
    n = 1000
    mel = np.log1p((sr / 2000.0) / n * np.arange(n))  # mel scale up to Nyquist
    mel /= mel[-1]
    omega = np.pi / n * np.arange(n)
    best, best_d = 0.0, np.inf
    for a in np.arange(0.0, 1.0, 0.001):
        w = np.arctan2((1 - a * a) * np.sin(omega), (1 + a * a) * np.cos(omega) - 2 * a)
        w /= w[-1]
        d = np.sqrt(np.mean((mel - w) ** 2))
        if d < best_d:
            best, best_d = float(a), d
    return round(best, 3)


@functools.cache
def freqt_matrix(n_in: int, order: int, alpha: float) -> np.ndarray:
    """[order + 1, n_in] matrix of SPTK's ``freqt`` (frequency warping of a cepstrum).

    ``freqt`` is linear in its input, so running its recursion (SPTK freqt.c, taking
    c_in[n_in - 1] first and c_in[0] last) on every unit vector at once gives the matrix.
    """
    b = 1.0 - alpha * alpha
    eye = np.eye(n_in)
    c = np.zeros((order + 1, n_in))
    for i in range(n_in - 1, -1, -1):
        d = c.copy()
        c[0] = eye[i] + alpha * d[0]
        if order >= 1:
            c[1] = b * d[0] + alpha * d[1]
        for j in range(2, order + 1):
            c[j] = d[j - 1] + alpha * (d[j] - c[j - 1])
    return c


def sp2mc_numpy(sp: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """Mel-cepstrum [T, order + 1] of power envelopes sp [T, F]: NumPy twin of pysptk.sp2mc.

    log power -> real cepstrum (inverse real FFT, c0 halved: the SPTK convention where
    log|H(w)| = sum_m c_m cos(m w)) -> all-pass frequency warping (``freqt``) to
    ``order`` + 1 coefficients.
    """
    c = np.fft.irfft(np.log(np.maximum(sp, LOG_FLOOR)), axis=-1)
    c[..., 0] /= 2.0
    return c @ freqt_matrix(c.shape[-1], order, float(alpha)).T


def sp2mc(sp: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """Mel-cepstrum [T, order + 1] of power envelopes sp [T, F] (pysptk.sp2mc if installed)."""
    sptk = pysptk()
    if sptk is None:
        return sp2mc_numpy(sp, order, alpha)
    return sptk.sp2mc(np.maximum(sp, LOG_FLOOR), order, alpha)


# ---------------------------------------------------------------------------------------
# Dynamic time warping


def dtw_path(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimum-cost monotone alignment of x [N, D] and y [M, D]: path [L, 2] of (i, j) pairs.

    Euclidean frame distance; steps (1, 1), (1, 0), (0, 1) with equal weight (librosa's
    default); the path runs from (0, 0) to (N - 1, M - 1). The accumulated cost is filled
    one anti-diagonal at a time (vectorised), the path traced back from stored steps.
    """
    n, m = len(x), len(y)
    if n == 0 or m == 0:
        raise ValueError("dtw_path needs two non-empty sequences")
    cost = np.sqrt(np.maximum(
        (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T, 0.0))
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    step = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 from (i-1, j), 2 from (i, j-1)
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        prev = np.stack([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        k = np.argmin(prev, axis=0)
        acc[i, j] = cost[i - 1, j - 1] + prev[k, np.arange(len(i))]
        step[i, j] = k
    path = []
    i, j = n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        k = step[i, j]
        if k == 0:
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
    return np.array(path[::-1], dtype=np.int64)
