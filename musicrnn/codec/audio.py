"""Audio files <-> sample arrays, and the frame features a vocal model conditions on.

``load_audio`` turns a file (WAV, FLAC, OGG, MP3; a path or bytes) into mono float32
samples, refusing anything unusable with a one-line :class:`AudioError`.
``features`` computes frame-aligned descriptors in the manner of magenta/ddsp:
fundamental frequency (pYIN or YIN), A-weighted loudness, MFCCs, a log-mel
spectrogram and a smooth spectral envelope, every one with the same number of
frames ``T = 1 + len(y) // hop`` (frames centred on ``t * hop / sr`` seconds).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import SettingsError
from .errors import AudioError  # one class for every one-line audio problem (re-exported)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")  # what is read as audio
MAX_SECONDS = 600.0
MIN_SECONDS = 0.5
LOUDNESS_FLOOR_DB = -100.0
FEATURE_NAMES = ("f0", "loudness", "mfcc", "mel", "envelope")


# --------------------------------------------------------------------------- loading


def _seconds(x: float) -> str:
    return f"{x:.1f} s" if x >= 1 else f"{x:.2f} s"


def _check_length(label: str, seconds: float, max_seconds: float, min_seconds: float) -> None:
    if seconds > max_seconds:
        raise AudioError(label, f"is {_seconds(seconds)} long; the limit is {max_seconds:g} s — cut it shorter")
    if seconds < min_seconds:
        raise AudioError(label, f"is only {_seconds(seconds)} long; at least {min_seconds:g} s of audio is needed")


def _sniff(label: str, head: bytes) -> None:
    """Refuse files that are clearly not audio before any decoder sees them."""
    if head[:4] == b"MThd":
        raise AudioError(label, "is a MIDI file, not audio; use it as a MIDI primer (--primer) instead")


def _decode_soundfile(f, label: str, max_seconds: float, min_seconds: float) -> tuple[np.ndarray, int]:
    """Read an open ``soundfile.SoundFile``: (samples, channels) float32 and its rate.

    The length comes from the header, so an over-long file is refused before decoding.
    A header without a usable length (some streams) is decoded in blocks, stopping as
    soon as it passes ``max_seconds``.
    """
    sr = int(f.samplerate)
    if sr <= 0:
        raise AudioError(label, "the file header gives no sample rate")
    frames = int(f.frames)
    known = 0 < frames < 2**62
    if known:
        _check_length(label, frames / sr, max_seconds, min_seconds)
        return f.read(frames, dtype="float32", always_2d=True), sr
    blocks, total, cap = [], 0, int(max_seconds * sr) + 1
    for block in f.blocks(blocksize=sr * 10, dtype="float32", always_2d=True):
        blocks.append(block)
        total += block.shape[0]
        if total > cap:
            raise AudioError(label, f"is longer than {max_seconds:g} s (the limit) — cut it shorter")
    y = np.concatenate(blocks) if blocks else np.zeros((0, max(1, f.channels)), np.float32)
    return y, sr


def _decode_fallback(path: Path, label: str, max_seconds: float, min_seconds: float) -> tuple[np.ndarray, int]:
    """librosa/audioread (ffmpeg) for what libsndfile cannot read; (samples, 1) and rate."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # audioread imports modules deprecated in Python 3.13
        import audioread
        import librosa

        with audioread.audio_open(str(path)) as a:  # header duration first
            duration = float(a.duration or 0.0)
        if duration > 0:
            _check_length(label, duration, max_seconds, min_seconds)
        y, sr = librosa.load(str(path), sr=None, mono=True, duration=max_seconds + 1.0)
    return np.asarray(y, np.float32)[:, None], int(sr)


def _read(source, label: str, max_seconds: float, min_seconds: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise AudioError(label, "empty file (0 bytes)")
        _sniff(label, data[:16])
        opener, path = (lambda: sf.SoundFile(io.BytesIO(data))), None
    else:
        path = Path(source)
        if path.is_dir():
            raise AudioError(label, "is a folder, not an audio file")
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
        except FileNotFoundError:
            raise AudioError(label, "no such file") from None
        except OSError as e:
            raise AudioError(label, f"cannot be read ({e.strerror})") from None
        if not head:
            raise AudioError(label, "empty file (0 bytes)")
        _sniff(label, head)
        opener = lambda: sf.SoundFile(str(path))  # noqa: E731
    try:
        with opener() as f:
            return _decode_soundfile(f, label, max_seconds, min_seconds)
    except AudioError:
        raise
    except Exception as e:  # sf.LibsndfileError, RuntimeError, struct/EOF errors on a truncated file
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
    if path is not None:
        try:
            return _decode_fallback(path, label, max_seconds, min_seconds)
        except AudioError:
            raise
        except Exception:
            pass
    detail = re.sub(r"^Error opening .*?: ", "", first).strip()
    if "does not exist" in detail or "Format not recognised" in detail:  # libsndfile's words for "unknown data"
        detail = ""
    problem = "not a readable audio file (corrupt, or not WAV/FLAC/OGG/MP3)"
    raise AudioError(label, problem + (f": {detail}" if detail else ""))


def load_audio(
    source: str | os.PathLike | bytes,
    sr: int | None = 22050,
    *,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = MIN_SECONDS,
    name: str | None = None,
) -> tuple[np.ndarray, int]:
    """Read audio as mono float32 samples in [-1, 1], shape (samples,), and its rate in Hz.

    source: a path, or the file's bytes (``name`` then labels error messages).
    sr: the rate to resample to (soxr, high quality); None keeps the file's own rate.
    Channels are averaged. NaN/inf samples become 0; a float file peaking above 1 is
    scaled down to peak 1 (not clipped). Silence is returned as is: the caller decides.
    Every unusable input raises :class:`AudioError` with a one-line message.
    """
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    label = name if name is not None else ("audio bytes" if is_bytes else str(source))
    y, file_sr = _read(source, label, max_seconds, min_seconds)
    if y.shape[0] == 0:
        raise AudioError(label, "contains no audio samples")
    y = np.nan_to_num(y.mean(axis=1, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    _check_length(label, y.shape[0] / file_sr, max_seconds, min_seconds)
    peak = float(np.abs(y).max())
    if peak > 1.0:
        y = y / peak
    if sr is not None and int(sr) != file_sr:
        import librosa

        y = librosa.resample(y, orig_sr=file_sr, target_sr=int(sr), res_type="soxr_hq")
        y = np.clip(y, -1.0, 1.0)  # resampling can overshoot a full-scale signal slightly
        file_sr = int(sr)
    return np.ascontiguousarray(y, dtype=np.float32), file_sr


# --------------------------------------------------------------------------- features


@dataclass
class FeatureConfig:
    """Frame analysis settings. Times in samples at ``sr``; frequencies in Hz.

    fmin/fmax bound the f0 search. f0_method: "pyin" (probabilistic YIN with an HMM,
    robust; about 1-2 s per 10 s of audio on one core) or "yin" (plain YIN plus a
    periodicity/level voicing decision; about 10x faster, more octave and voicing
    errors). pyin_resolution is the HMM's pitch grid in
    semitones (librosa's default 0.1 is 4x slower; the YIN refinement below restores
    the precision). f0_frame is the f0 analysis window in samples (must hold two
    periods of fmin). voicing_threshold and gate_db drive YIN's voicing decision.
    """

    sr: int = 22050
    hop: int = 256
    n_fft: int = 1024
    n_mels: int = 80
    n_mfcc: int = 20
    fmin: float = 50.0
    fmax: float = 1100.0
    f0_method: str = "pyin"
    f0_frame: int = 2048
    pyin_resolution: float = 0.2
    voicing_threshold: float = 0.75
    gate_db: float = 45.0


@dataclass
class Features:
    """Frame-aligned descriptors; every array has T frames (None where not computed).

    f0: (T,) Hz, 0 where unvoiced. voiced: (T,) bool. voiced_prob: (T,) in [0, 1].
    loudness: (T,) A-weighted power in dB relative to a full-scale square wave
    (a 1 kHz sine of amplitude 1 reads -3 dB), floored at -100 dB.
    mfcc: (T, n_mfcc). mel: (T, n_mels) log-mel power in dB.
    envelope: (T, n_fft // 2 + 1) spectral envelope, linear power (cepstrally liftered).
    """

    sr: int
    hop: int
    f0: np.ndarray | None = None
    voiced: np.ndarray | None = None
    voiced_prob: np.ndarray | None = None
    loudness: np.ndarray | None = None
    mfcc: np.ndarray | None = None
    mel: np.ndarray | None = None
    envelope: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        for a in (self.f0, self.loudness, self.mfcc, self.mel, self.envelope):
            if a is not None:
                return int(a.shape[0])
        return 0

    @property
    def times(self) -> np.ndarray:
        """Frame centres in seconds, shape (T,)."""
        return np.arange(self.n_frames) * (self.hop / self.sr)


def n_frames(n_samples: int, hop: int) -> int:
    """Frames of a centred analysis: ``1 + n_samples // hop``."""
    return 1 + int(n_samples) // int(hop)


def _fit(a: np.ndarray, t: int, fill=0) -> np.ndarray:
    """Trim or pad axis 0 of ``a`` to exactly ``t`` frames."""
    if a.shape[0] >= t:
        return a[:t]
    pad = np.full((t - a.shape[0],) + a.shape[1:], fill, dtype=a.dtype)
    return np.concatenate([a, pad])


def _periodicity(y: np.ndarray, f0: np.ndarray, sr: int, frame: int, hop: int) -> np.ndarray:
    """Normalised autocorrelation at the lag of each frame's f0, shape (T,), in [-1, 1].

    Frames are centred like librosa.yin's (zero padding of frame // 2); the correlation
    compares the first half of the frame with itself shifted by one period.
    """
    pad = np.pad(y.astype(np.float64), frame // 2)
    import librosa

    frames = librosa.util.frame(pad, frame_length=frame, hop_length=hop, axis=0)  # (T, frame)
    win = frame // 2
    lag = np.clip(np.round(sr / np.maximum(f0[: frames.shape[0]], 1e-3)).astype(np.int64), 1, frame - win)
    rows = np.arange(frames.shape[0])[:, None]
    a = frames[:, :win]
    b = frames[rows, np.arange(win)[None, :] + lag[:, None]]
    num = np.sum(a * b, axis=1)
    den = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    return np.where(den > 1e-12, num / np.maximum(den, 1e-300), 0.0)


def _frame_rms_db(y: np.ndarray, frame: int, hop: int) -> np.ndarray:
    import librosa

    rms = librosa.feature.rms(y=y, frame_length=frame, hop_length=hop, center=True)[0]
    return 20 * np.log10(np.maximum(rms, 1e-5))


def f0(y: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fundamental frequency of mono audio ``y`` (samples,) at ``cfg.sr``.

    Returns ``(f0, voiced, voiced_prob)``, each shape (T,) with T = 1 + len(y) // hop:
    f0 in Hz (0 where unvoiced), voiced bool, voiced_prob in [0, 1].

    "pyin": librosa.pyin on a ``pyin_resolution`` semitone grid; each voiced frame's
    f0 is then replaced by YIN's parabolically interpolated estimate when that lies
    within one grid step (sub-cent precision at a quarter of pYIN's cost).
    "yin": librosa.yin; a frame is voiced when the normalised autocorrelation at the
    YIN period is >= ``voicing_threshold`` (voiced_prob is that value, clipped to
    [0, 1]) and its RMS is within ``gate_db`` of the loudest frame and above -70 dBFS.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    t = n_frames(y.shape[0], cfg.hop)
    kw = dict(fmin=cfg.fmin, fmax=cfg.fmax, sr=cfg.sr, frame_length=cfg.f0_frame, hop_length=cfg.hop, center=True)
    if not np.any(y):
        z = np.zeros(t)
        return z, np.zeros(t, bool), z.copy()
    f_yin = _fit(librosa.yin(y, **kw), t, fill=cfg.fmin)
    if cfg.f0_method == "pyin":
        fp, voiced, prob = librosa.pyin(y, resolution=cfg.pyin_resolution, **kw)
        fp, voiced, prob = _fit(fp, t, np.nan), _fit(voiced, t, False), _fit(prob, t, 0.0)
        close = np.abs(12 * np.log2(f_yin / np.where(np.isfinite(fp), fp, 1.0))) <= cfg.pyin_resolution
        hz = np.where(voiced & close, f_yin, fp)
        voiced = voiced & np.isfinite(hz)
        prob = np.nan_to_num(prob, nan=0.0)
    elif cfg.f0_method == "yin":
        r = _periodicity(y, f_yin, cfg.sr, cfg.f0_frame, cfg.hop)
        r = _fit(r, t, 0.0)
        level = _fit(_frame_rms_db(y, cfg.f0_frame, cfg.hop), t, -100.0)
        loud = (level >= level.max() - cfg.gate_db) & (level > -70.0)
        in_range = (f_yin > cfg.fmin * 1.01) & (f_yin < cfg.fmax * 0.99)
        voiced = (r >= cfg.voicing_threshold) & loud & in_range
        hz, prob = f_yin, np.clip(r, 0.0, 1.0)
    else:
        raise SettingsError(f"f0_method must be 'pyin' or 'yin', not {cfg.f0_method!r}")
    hz = np.where(voiced, hz, 0.0).astype(np.float64)
    return hz, voiced.astype(bool), prob.astype(np.float64)


def power_stft(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2 with a Hann window, centred frames: shape (T, n_fft // 2 + 1)."""
    import librosa

    return (np.abs(librosa.stft(y.astype(np.float32), n_fft=n_fft, hop_length=hop, center=True)) ** 2).T


def loudness_from_power(power: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """A-weighted loudness in dB (floor ``LOUDNESS_FLOOR_DB``) of each frame of a power
    STFT from :func:`power_stft` (T, n_fft // 2 + 1): shape (T,)."""
    import librosa

    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    with np.errstate(divide="ignore"):  # the weight at 0 Hz is -inf dB, i.e. 0
        weight = 10.0 ** (librosa.A_weighting(freqs) / 10.0)
    window_energy = np.sum(np.hanning(n_fft + 1)[:-1] ** 2)  # librosa's periodic Hann
    mean_square = 2.0 * (power * weight).sum(axis=1) / (n_fft * window_energy)
    return np.maximum(10.0 * np.log10(mean_square + 1e-12), LOUDNESS_FLOOR_DB)


def a_weighted_loudness(y: np.ndarray, sr: int, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """A-weighted loudness per frame in dB, shape (T,), T = 1 + len(y) // hop.

    The A-weighted power spectrum summed over frequency, scaled so that the value is
    the weighted mean square of the signal: a 1 kHz sine of amplitude 1 reads -3 dB,
    halving the amplitude lowers it by 6 dB. Silence reads the floor, -100 dB.
    """
    return _fit(loudness_from_power(power_stft(y, n_fft, hop), sr, n_fft), n_frames(len(y), hop), LOUDNESS_FLOOR_DB)


def _mel_db(power: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    import librosa

    fb = librosa.filters.mel(sr=cfg.sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels)  # (n_mels, bins)
    return 10.0 * np.log10(np.maximum(power @ fb.T, 1e-10))


def cepstral_envelope(power: np.ndarray, sr: int, fmax: float = 1100.0) -> np.ndarray:
    """Smooth spectral envelope of power spectra (T, bins), same shape, linear power.

    The real cepstrum of each frame's log spectrum is kept below the quefrency of the
    highest f0 searched (1 / fmax s): flat to half of it, then a half-Hann taper to 0,
    so the harmonic ripple of any f0 in range is removed and the formant shape stays.
    Being a smoothed log spectrum it runs a few dB under the harmonic peaks. Unlike
    WORLD's CheapTrick it needs no f0 (and pyworld 0.3 fails to import without
    setuptools' pkg_resources).
    """
    n_fft = 2 * (power.shape[1] - 1)
    log_p = np.log(np.maximum(power, 1e-12))
    ceps = np.fft.irfft(log_p, n=n_fft, axis=1)
    cut = max(2.0, sr / fmax)  # quefrency index of the highest f0's harmonic ripple
    k = np.minimum(np.arange(n_fft), n_fft - np.arange(n_fft))  # symmetric quefrency index
    half = cut / 2
    lifter = np.where(k < half, 1.0, 0.5 * (1 + np.cos(np.pi * np.clip((k - half) / half, 0, 1))))
    return np.exp(np.fft.rfft(ceps * lifter, axis=1).real)


def features(y: np.ndarray, cfg: FeatureConfig = FeatureConfig(), which=FEATURE_NAMES) -> Features:
    """The frame features named in ``which`` for mono audio ``y`` (samples,) at ``cfg.sr``.

    Features not asked for are None. All computed arrays have T = 1 + len(y) // hop
    frames; one power STFT is shared by loudness, mel, MFCC and envelope.
    """
    which = tuple(which)
    unknown = [w for w in which if w not in FEATURE_NAMES]
    if unknown:
        raise SettingsError(f"unknown feature {unknown[0]!r}; choose from {', '.join(FEATURE_NAMES)}")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise SettingsError(f"features need mono audio of shape (samples,), not {y.shape}")
    t = n_frames(y.shape[0], cfg.hop)
    out = Features(sr=cfg.sr, hop=cfg.hop)
    if "f0" in which:
        out.f0, out.voiced, out.voiced_prob = f0(y, cfg)
    if not set(which) & {"loudness", "mel", "mfcc", "envelope"}:
        return out
    power = _fit(power_stft(y, cfg.n_fft, cfg.hop), t, 0.0)
    if "loudness" in which:
        out.loudness = loudness_from_power(power, cfg.sr, cfg.n_fft)
    if "mel" in which or "mfcc" in which:
        mel = _mel_db(power, cfg)
        out.mel = mel if "mel" in which else None
        if "mfcc" in which:
            import scipy.fft

            out.mfcc = scipy.fft.dct(mel, type=2, norm="ortho", axis=1)[:, : cfg.n_mfcc]
    if "envelope" in which:
        out.envelope = cepstral_envelope(power, cfg.sr, cfg.fmax)
    return out
