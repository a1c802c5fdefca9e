"""The instant tier of vocal style transfer: no training, one short clip of the target voice.

``build_profile`` summarises the target clip (register, mean spectral envelope);
``convert`` moves a source clip toward it with WORLD resynthesis: f0 transposed by a
constant, the spectral envelope frequency-warped (formant scaling) and equalised toward
the target's mean envelope, aperiodicity kept. The signal processing is in ``dsp.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from musicrnn.core.errors import CheckpointError, DataError, SettingsError
from musicrnn.style import dsp

PROFILE_VERSION = 1
# The converter's pitch range: up to 800 Hz, and up to 1,600 Hz for a voice that sings near
# 800 Hz (dsp.register_f0). At 800 Hz alone a soprano line was tracked an octave low (pitch kept
# 0.04-0.82 on Voice Oohs melodies at 587-1,567 Hz, 0.69-0.99 now); 1,600 Hz for every voice cost low voices
# (Festival's baritone singing: log-f0 correlation 0.961 -> 0.931; docs/benchmarks.md).
CONVERT_F0_CEIL = None
CONVERT_F0_METHOD = "dio"  # DIO + StoneMask: ~0.015 x real time at 16 kHz; Harvest alone is ~0.28, over the 0.2 budget
PEAK = 0.99  # output peak ceiling
MIN_VOICED_FRAMES = 20  # 0.1 s of voiced 5-ms frames to build a profile
SILENCE_PEAK = 1e-6  # inputs whose peak is below this are silence
MAX_FRAMES = 4000  # voiced frames a profile keeps for the kNN envelope mapping (20 s of voice)


@dataclass
class InstantSettings:
    """How ``convert`` moves a source toward the target profile.

    transpose: semitones added to every f0; None moves the source by whole octaves toward
      the target's register (:func:`dsp.octave_shift`: at most one octave, 0 when the
      medians of their confident f0 are within 6 semitones), so a melody keeps its key.
    formant: frequency-warp factor of the spectral envelope (1.2: formants 20% higher);
      None fits it to the target (:func:`dsp.fit_formant_ratio`).
    eq: fraction (0..2) of the mean-envelope equalisation to apply (0: none, 1: full).
    protect: 0..1, how much unvoiced frames (consonants, breath) keep their own envelope.
    eq_cepstra: smoothness of the equalisation curve: cepstral coefficients kept (fewer =
      smoother; 24 at 16 kHz smooths over about 330 Hz).
    knn: 0..1, how far each voiced frame's envelope moves to the mean of its ``knn_k``
      nearest frames of the target clip (:func:`knn_envelopes`); needs a profile that kept
      its frames (every profile built now does).
    """

    transpose: float | None = None
    formant: float | None = None
    eq: float = 1.0
    protect: float = 0.33
    eq_cepstra: int = 24
    knn: float = 1.0
    knn_k: int = 4

    def check(self) -> "InstantSettings":
        """Self, or SettingsError naming the first unusable setting and the allowed range."""
        if self.transpose is not None and not (math.isfinite(self.transpose) and -36 <= self.transpose <= 36):
            raise SettingsError(f"transpose {self.transpose}: use semitones from -36 to 36, or None (match the target)")
        if self.formant is not None and not (math.isfinite(self.formant) and 0.5 <= self.formant <= 2.0):
            raise SettingsError(f"formant {self.formant}: use a ratio from 0.5 to 2.0, or None (fitted)")
        if not (math.isfinite(self.eq) and 0.0 <= self.eq <= 2.0):
            raise SettingsError(f"eq {self.eq}: use 0 to 2 (1 = full equalisation to the target)")
        if not (math.isfinite(self.protect) and 0.0 <= self.protect <= 1.0):
            raise SettingsError(f"protect {self.protect}: use 0 to 1")
        if not (math.isfinite(self.knn) and 0.0 <= self.knn <= 1.0):
            raise SettingsError(f"knn {self.knn}: use 0 to 1")
        if not (1 <= int(self.knn_k) <= 64):
            raise SettingsError(f"knn_k {self.knn_k}: use 1 to 64")
        if not (2 <= int(self.eq_cepstra) <= 256):
            raise SettingsError(f"eq_cepstra {self.eq_cepstra}: use 2 to 256")
        return self


@dataclass
class VoiceProfile:
    """What the instant tier knows of a target voice, from one clip.

    median_log_f0: median of ln f0 (f0 in Hz) over voiced frames; log_f0_spread: standard
    deviation of ln f0 over voiced frames; freqs: [F] Hz of the envelope bins;
    mean_log_env_voiced / mean_log_env_unvoiced: [F] mean natural-log power envelope over
    the voiced / unvoiced non-silent frames (the voiced mean stands in if there are no
    unvoiced frames); sr: the clip's sample rate; seconds, voiced_seconds: clip length and
    how much of it was voiced; frame_ms: analysis hop.
    """

    sr: int
    median_log_f0: float
    log_f0_spread: float
    freqs: np.ndarray
    mean_log_env_voiced: np.ndarray
    mean_log_env_unvoiced: np.ndarray
    seconds: float
    voiced_seconds: float
    frame_ms: float = dsp.FRAME_MS
    version: int = field(default=PROFILE_VERSION)
    frames_log_env_voiced: np.ndarray | None = None  # [N, F] the voiced frames' own log envelopes (kNN mapping)

    ARRAYS = ("freqs", "mean_log_env_voiced", "mean_log_env_unvoiced")

    @property
    def median_f0(self) -> float:
        """Median f0 over voiced frames, Hz."""
        return math.exp(self.median_log_f0)

    @classmethod
    def from_audio(cls, y: np.ndarray, sr: int) -> "VoiceProfile":
        """Profile of the voice in ``y`` [N] at ``sr`` Hz; DataError if under 0.1 s is voiced."""
        feats = dsp.world_analyze(y, sr, method=CONVERT_F0_METHOD, f0_ceil=CONVERT_F0_CEIL)
        active = dsp.active_frames(dsp.frame_energy_db(feats.sp))
        voiced = feats.voiced & active
        unvoiced = ~feats.voiced & active
        if voiced.sum() < MIN_VOICED_FRAMES:
            raise DataError(f"target clip: only {int(voiced.sum()) * feats.frame_ms / 1000:.2f} s is voiced; "
                            "give at least a few seconds of speech or singing")
        log_f0 = np.log(feats.f0[dsp.confident_f0(feats.f0, active)])  # the register, from confident pitch only
        log_sp = feats.log_sp
        mean_v = log_sp[voiced].mean(axis=0)
        mean_u = log_sp[unvoiced].mean(axis=0) if unvoiced.any() else mean_v.copy()
        return cls(sr=int(sr), median_log_f0=float(np.median(log_f0)), log_f0_spread=float(log_f0.std()),
                   freqs=feats.freqs, mean_log_env_voiced=mean_v, mean_log_env_unvoiced=mean_u,
                   seconds=len(y) / sr, voiced_seconds=float(voiced.sum() * feats.frame_ms / 1000), frame_ms=feats.frame_ms,
                   frames_log_env_voiced=log_sp[voiced][:: max(1, int(voiced.sum()) // MAX_FRAMES + 1)])

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.json`` (scalars) and ``<path>.npz`` (arrays, no pickle); returns the .json path."""
        path = Path(path).with_suffix(".json")
        meta = {k: v for k, v in asdict(self).items() if k not in (*self.ARRAYS, "frames_log_env_voiced")}
        meta["arrays"] = path.with_suffix(".npz").name
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in self.ARRAYS}
        if self.frames_log_env_voiced is not None:
            arrays["frames_log_env_voiced"] = np.asarray(self.frames_log_env_voiced, np.float32)
        np.savez(path.with_suffix(".npz"), **arrays)
        path.write_text(json.dumps(meta, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "VoiceProfile":
        """Read a profile written by :meth:`save` (give the .json or the stem)."""
        path = Path(path).with_suffix(".json")
        try:
            meta = json.loads(path.read_text())
            if meta.get("version") != PROFILE_VERSION:
                raise ValueError(f"version {meta.get('version')}, this code reads {PROFILE_VERSION}")
            with np.load(path.parent / meta.pop("arrays"), allow_pickle=False) as z:
                arrays = {k: z[k] for k in cls.ARRAYS}
                frames = z["frames_log_env_voiced"].astype(np.float64) if "frames_log_env_voiced" in z.files else None
            profile = cls(**meta, **arrays, frames_log_env_voiced=frames)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"voice profile {path}: cannot be read ({e})") from e
        n = {len(a) for a in arrays.values()}
        if frames is not None and (frames.ndim != 2 or frames.shape[1] not in n or not np.isfinite(frames).all()):
            raise CheckpointError(f"voice profile {path}: its frames do not fit its envelopes")
        if len(n) != 1:
            raise CheckpointError(f"voice profile {path}: envelope arrays differ in length {sorted(n)}")
        return profile


def build_profile(y: np.ndarray, sr: int) -> VoiceProfile:
    """Profile of the target voice from one clip ``y`` [N] at ``sr`` Hz (see VoiceProfile)."""
    return VoiceProfile.from_audio(y, sr)


@dataclass(frozen=True)
class Conversion:
    """A converted clip and what was applied: audio [N]; semitones of f0 shift;
    formant_ratio of the envelope warp; source_median_f0 in Hz (None if nothing voiced)."""

    audio: np.ndarray
    semitones: float
    formant_ratio: float
    source_median_f0: float | None


def _mean_rows(x: np.ndarray, rows: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray | None:
    """Mean over the selected rows of x [T, F] -> [F]; ``fallback`` when none are selected."""
    return x[rows].mean(axis=0) if rows.any() else fallback


def convert_with_info(source_y: np.ndarray, sr: int, target: VoiceProfile, settings: InstantSettings | None = None) -> Conversion:
    """Move ``source_y`` [N] at ``sr`` Hz toward ``target``; returns audio [N] and what was applied.

    1. WORLD analysis (DIO + StoneMask f0, CheapTrick envelope, D4C aperiodicity; 5 ms).
    2. f0 x 2^(semitones / 12): ``transpose``, or whole octaves toward the target's
       register (:func:`dsp.octave_shift` of the medians over confident frames).
    3. Envelope (log power) read at f / ratio along frequency: ``formant``, or fitted
       between the source's and the target's mean voiced log envelopes.
    4. Equalisation: the smoothed difference between the target's mean log envelope and
       the warped source's, voiced and unvoiced frames each with their own means, times
       ``eq``; unvoiced frames then keep ``protect`` of their own (unwarped, unequalised)
       log envelope.
    5. WORLD synthesis with the source's aperiodicity, cut/padded to N samples, scaled so
       that its peak equals the input's peak, at most 0.99. Silence in gives zeros out.
    """
    s = (settings or InstantSettings()).check()
    y = dsp.as_world_input(source_y)
    n = len(y)
    peak_in = float(np.max(np.abs(y))) if n else 0.0
    if not math.isfinite(peak_in):
        raise DataError("source audio contains NaN or infinite samples")
    if peak_in < SILENCE_PEAK:
        return Conversion(np.zeros(n), float(s.transpose or 0.0), float(s.formant or 1.0), None)

    feats = dsp.world_analyze(y, sr, method=CONVERT_F0_METHOD, f0_ceil=CONVERT_F0_CEIL)
    log_sp = feats.log_sp
    voiced = feats.voiced
    active = dsp.active_frames(dsp.frame_energy_db(feats.sp))
    freqs = feats.freqs
    tgt_v = dsp.resample_log_envelope(target.mean_log_env_voiced, target.freqs, freqs)
    tgt_u = dsp.resample_log_envelope(target.mean_log_env_unvoiced, target.freqs, freqs)

    src_median = float(np.median(np.log(feats.f0[dsp.confident_f0(feats.f0, active)]))) if voiced.any() else None
    if s.transpose is not None:
        semitones = float(s.transpose)
    else:  # whole octaves toward the target's register, at most one
        semitones = dsp.octave_shift(src_median, target.median_log_f0) if src_median is not None else 0.0

    src_mean_v = _mean_rows(log_sp, voiced & active)
    if s.formant is not None:
        ratio = float(s.formant)
    else:
        ratio = dsp.fit_formant_ratio(src_mean_v, tgt_v, freqs) if src_mean_v is not None else 1.0

    warped = dsp.warp_log_envelope(log_sp, ratio)
    means = None
    if src_mean_v is not None:
        means = (_mean_rows(warped, voiced & active), _mean_rows(warped, ~voiced & active))
    out = moved_envelopes(log_sp, warped, voiced, active, freqs, target, means, s)

    f0 = feats.f0 * 2.0 ** (semitones / 12.0)
    audio = dsp.world_synthesize(f0, np.exp(out), feats.ap, sr, feats.frame_ms, n)
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    peak_out = float(np.max(np.abs(audio)))
    if peak_out > 0:
        audio *= min(peak_in, PEAK) / peak_out
    return Conversion(audio, semitones, ratio, math.exp(src_median) if src_median is not None else None)


def moved_envelopes(log_sp: np.ndarray, warped: np.ndarray, voiced: np.ndarray, active: np.ndarray, freqs: np.ndarray,
                    target: VoiceProfile, means, s: InstantSettings) -> np.ndarray:
    """Steps 4 and the kNN mapping of :func:`convert_with_info` on frames [T, F]: ``warped`` (the
    source's log envelopes ``log_sp`` after the formant warp) equalised toward the target's
    mean envelopes, voiced and unvoiced apart, where ``means`` = (mean warped voiced, mean
    warped unvoiced or None) of the source (over the clip, or so far in a stream; None: no
    equalisation); voiced active frames then take ``s.knn`` of the target's most similar
    frames; unvoiced frames keep ``s.protect`` of their own envelope."""
    out = warped
    if s.eq > 0 and means is not None and means[0] is not None:
        tgt_v = dsp.resample_log_envelope(target.mean_log_env_voiced, target.freqs, freqs)
        tgt_u = dsp.resample_log_envelope(target.mean_log_env_unvoiced, target.freqs, freqs)
        diff_v = dsp.smooth_log_envelope(tgt_v - means[0], s.eq_cepstra)
        diff_u = dsp.smooth_log_envelope(tgt_u - means[1], s.eq_cepstra) if means[1] is not None else diff_v
        out = warped.copy()
        out[voiced] += s.eq * diff_v
        out[~voiced] += s.eq * diff_u
    if s.knn > 0 and target.frames_log_env_voiced is not None and (voiced & active).any():
        out = knn_envelopes(out, voiced & active, target, freqs, s.knn, s.knn_k)
    out = out.copy() if out is warped else out
    out[~voiced] = s.protect * log_sp[~voiced] + (1.0 - s.protect) * out[~voiced]
    return out


def knn_envelopes(log_env: np.ndarray, rows: np.ndarray, target: VoiceProfile, freqs: np.ndarray, rate: float,
                  k: int = 4, n_cepstra: int = 24) -> np.ndarray:
    """Log envelopes [T, F] whose ``rows`` move ``rate`` of the way to the mean of their ``k``
    nearest target frames (kNN-VC's idea, Baas et al. 2023, on the spectral envelope: each
    frame is replaced by the target voice's own frames that sound most like it, compared by
    their first ``n_cepstra`` cepstra without c0); each frame keeps its own level."""
    def ceps(x):
        return np.fft.irfft(x, axis=-1)[:, 1:n_cepstra]

    key = (len(freqs), float(freqs[-1]), n_cepstra)
    cache = getattr(target, "_knn_cache", None)
    if cache is None or cache[0] != key:  # the target's frames on this grid, and their cepstra: once per profile
        tgt = target.frames_log_env_voiced
        if tgt.shape[1] != len(freqs) or not np.allclose(target.freqs, freqs):
            tgt = np.stack([dsp.resample_log_envelope(f, target.freqs, freqs) for f in tgt])
        cache = (key, tgt, ceps(tgt), None)
        target._knn_cache = cache
    _, tgt, b, _ = cache
    src = log_env[rows]
    a = ceps(src)
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    near = np.argpartition(d, min(k, len(b)) - 1, axis=1)[:, :k]
    mapped = tgt[near].mean(axis=1)
    mapped += (src.mean(axis=1) - mapped.mean(axis=1))[:, None]  # the frame's own level
    out = log_env.copy()
    out[rows] = (1.0 - rate) * src + rate * mapped
    return out


def convert(source_y: np.ndarray, sr: int, target: VoiceProfile, *, transpose: float | None = None,
            formant: float | None = None, eq: float = 1.0, protect: float = 0.33, knn: float = 1.0) -> np.ndarray:
    """Source clip [N] at ``sr`` Hz moved toward the target voice: audio [N], peak <= 0.99.

    transpose: semitones (None: whole octaves toward the target's register, at most one);
    formant: envelope frequency-warp factor (None: fitted); eq: 0..2 share of the
    mean-envelope equalisation; protect: 0..1 share of their own envelope that unvoiced
    frames keep; knn: 0..1 share of each voiced frame's envelope taken from the target's
    most similar frames. Deterministic. See :func:`convert_with_info` for the steps.
    """
    settings = InstantSettings(transpose=transpose, formant=formant, eq=eq, protect=protect, knn=knn)
    return convert_with_info(source_y, sr, target, settings).audio
