"""Audio -> melody: monophonic note transcription from f0, loudness and onset strength.

``transcribe`` turns mono audio into a :class:`Melody` (notes in seconds, MIDI pitch,
velocity, and an estimated tempo); ``melody_to_score`` makes it the codec's
:class:`~musicrnn.codec.midi.Score`, so a hummed or sung tune can prime a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .audio import AudioError, FeatureConfig, features, load_audio
from .midi import Score, write_midi


def _f64(x=()) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _i64(x=()) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


@dataclass
class Melody:
    """Monophonic notes as parallel arrays of shape (n_notes,), sorted by onset.

    onsets_s/offsets_s: seconds. pitches: MIDI note numbers. velocities: 1-127.
    tempo_qpm: quarter notes per minute. beat_s: the time of one beat in seconds
    (``melody_to_score`` puts beats on whole quarter notes).
    """

    onsets_s: np.ndarray = field(default_factory=_f64)
    offsets_s: np.ndarray = field(default_factory=_f64)
    pitches: np.ndarray = field(default_factory=_i64)
    velocities: np.ndarray = field(default_factory=_i64)
    tempo_qpm: float = 120.0
    beat_s: float = 0.0

    @property
    def n_notes(self) -> int:
        return int(np.asarray(self.onsets_s).shape[0])


def melody_from_score(score, max_seconds: float | None = None) -> Melody:
    """The top line of a :class:`Score` as a :class:`Melody` (the reference for measuring).

    At each onset the highest non-drum note is kept; each note is cut at the next
    onset, so the result is monophonic. With ``max_seconds`` only notes starting
    before it are kept, their offsets clipped to it. Tempo: the score's first one.
    """
    keep = ~score.drum
    start, end = score.seconds(score.start[keep]), score.seconds(score.end[keep])
    pitch, vel = score.pitch[keep], score.velocity[keep]
    o = np.lexsort((-pitch, start))
    start, end, pitch, vel = start[o], end[o], pitch[o], vel[o]
    first = np.concatenate([[True], np.diff(start) > 1e-6])  # highest note of each onset
    start, end, pitch, vel = start[first], end[first], pitch[first], vel[first]
    end = np.minimum(end, np.concatenate([start[1:], [np.inf]]))
    if max_seconds is not None:
        m = start < max_seconds
        start, end, pitch, vel = start[m], np.minimum(end[m], max_seconds), pitch[m], vel[m]
    tempo = float(score.tempo_qpm[0]) if score.tempo_qpm.size else 120.0
    return Melody(start, end, pitch.astype(np.int64), vel.astype(np.int64), tempo_qpm=tempo)


@dataclass
class TranscribeConfig:
    """Note segmentation settings (times in seconds, pitch in semitones, levels in dB).

    gate_db: frames quieter than the loudest frame by more than this are unvoiced.
    fill_gap_s: unvoiced gaps this short inside a phrase are bridged (f0 dropouts).
    smooth_s: median filter on the MIDI pitch curve.
    change_st / change_s: a pitch change of >= change_st held for change_s starts a note.
    stable_st / glide_st: the held frames of a new pitch must lie within stable_st of
    each other and their ends within glide_st (a slow glide is not yet a note).
    depart: a pitch-change note starts where the curve has covered this fraction of
    the way from the old pitch to the new one.
    dip_db, weak_dip_db, dip_flux, dip_sharp_db, dip_window_s: when a loudness dip
    inside a voiced stretch (a re-attack, e.g. the consonant of "la la") starts a
    note; see :func:`_add_dips`. consonant_db: how much darker the sound must get at a
    sung re-attack (the consonant of "la"), in audio that darkens by syllabic_db at
    its pitch changes; see :func:`_syllabic`. syllable_window_s: in such audio a dip's
    level may take this long to recover (the consonant before a long sung vowel:
    Festival's "l" lasts up to ~0.25 s on notes of a second, longer than dip_window_s).
    attack_ratio: a peak of onset strength (spectral flux, librosa.onset.onset_strength)
    this many times the median of its voiced stretch starts a note (the attack of a
    struck or plucked note, whose level decays instead of dipping); attack_shift_s
    places the onset relative to the peak.
    """

    f0_frame: int = 1024
    gate_db: float = 40.0
    fill_gap_s: float = 0.03
    smooth_s: float = 0.05
    change_st: float = 0.7
    change_s: float = 0.06
    stable_st: float = 0.8
    glide_st: float = 0.3
    depart: float = 0.15
    dip_db: float = 5.0
    weak_dip_db: float = 3.0
    dip_flux: float = 4.0
    dip_sharp_db: float = 2.0
    dip_window_s: float = 0.1
    consonant_db: float = 6.0
    syllabic_db: float = 10.0
    syllable_window_s: float = 0.3
    attack_ratio: float = 12.0
    attack_shift_s: float = -0.02


# --------------------------------------------------------------------------- segmentation


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a bool array (T,), as [start, stop) frame pairs."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _fill_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """``mask`` (T,) with False runs of at most ``max_gap`` frames between True frames set True."""
    out = mask.copy()
    for a, b in _runs(~mask):
        if 0 < a and b < mask.size and b - a <= max_gap:
            out[a:b] = True
    return out


def _pitch_curve(f0_hz: np.ndarray, voiced: np.ndarray, width: int) -> np.ndarray:
    """MIDI pitch (T,), fractional, NaN where unvoiced; median-filtered over ``width``
    frames within each voiced run (never across a rest)."""
    from scipy.ndimage import median_filter

    m = np.full(f0_hz.shape, np.nan)
    ok = voiced & (f0_hz > 0)
    m[ok] = 69.0 + 12.0 * np.log2(f0_hz[ok] / 440.0)
    if width > 1:
        for a, b in _runs(ok):
            m[a:b] = median_filter(m[a:b], size=min(width, b - a), mode="nearest")
    return m


def _pitch_changes(m: np.ndarray, a: int, b: int, hold: int, tc: "TranscribeConfig") -> list[tuple[int, float, int]]:
    """(onset frame, new pitch, frame where it settled) for each new pitch in [a, b)
    (greedy tracking) of pitch curve ``m`` (T,).

    The current note's pitch is the median of its last 30 pitched frames. A new note
    starts when ``hold`` consecutive frames all lie >= ``change_st`` semitones from it,
    within ``stable_st`` of each other, first and last within ``glide_st`` (a glide
    is not a note). Its onset is moved
    back to where the curve had covered ``depart`` of the way from the old pitch to the
    new one (0.5 would be the midpoint of the glide).
    """
    out: list[tuple[int, float, int]] = []
    onset, settled, t = a, a, a  # the current note's onset, and where its pitch settled
    while t < b:
        seg = m[max(settled, t - 30): t]
        seg = seg[np.isfinite(seg)]
        if seg.size < 2 or not np.isfinite(m[t]):
            t += 1
            continue
        ref = float(np.median(seg))
        ahead = m[t: t + hold]
        if (ahead.size == hold and np.all(np.abs(ahead - ref) >= tc.change_st) and np.ptp(ahead) <= tc.stable_st
                and abs(ahead[-1] - ahead[0]) <= tc.glide_st):
            new = float(np.median(ahead))
            on = t
            while on - 1 > onset and np.isfinite(m[on - 1]) and (m[on - 1] - ref) / (new - ref) >= tc.depart:
                on -= 1
            out.append((on, new, t))
            onset, settled, t = on, t, t + hold
            continue
        t += 1
    return out


def _dips(loud: np.ndarray, half: int, depth_db: float, reach: int | None = None) -> np.ndarray:
    """Frames where loudness (T,) dips by >= ``depth_db`` below the maxima within
    ``half`` frames before and ``reach`` (default ``half``) frames after, and is the
    lowest point within ``half // 2`` frames: shape (n,), sorted."""
    from numpy.lib.stride_tricks import sliding_window_view

    reach = half if reach is None else max(half, reach)
    pad = np.pad(loud, half, mode="edge")
    left = sliding_window_view(pad, half + 1)[: loud.size].max(axis=1)  # loud[t - half .. t]
    pad = np.pad(loud, (0, reach), mode="edge")
    right = sliding_window_view(pad, reach + 1)[: loud.size].max(axis=1)  # loud[t .. t + reach]
    depth = np.minimum(left, right) - loud
    k = max(1, half // 2)  # the deepest point of its trough: lowest within +-k frames
    pad = np.pad(loud, k, mode="edge")
    low = sliding_window_view(pad, 2 * k + 1).min(axis=1)
    cand = np.flatnonzero((depth >= depth_db) & (loud <= low))
    return cand[np.r_[True, np.diff(cand) > k]] if cand.size else cand  # one per flat trough


@dataclass
class _Frames:
    """What segmentation looks at, all shape (T,): MIDI pitch (NaN unvoiced), voiced,
    A-weighted loudness (dB), onset strength (spectral flux) and brightness (dB of the
    power above 1 kHz relative to all of it; a sung consonant darkens the sound)."""

    midi: np.ndarray
    voiced: np.ndarray
    loudness: np.ndarray
    onset_env: np.ndarray
    bright: np.ndarray
    fps: float

    def darkening(self, t: int) -> float:
        """How much darker (dB) the sound is around frame ``t`` than just before it."""
        before = self.bright[max(0, t - 10): max(1, t - 3)]
        return float(np.median(before) - self.bright[max(0, t - 2): t + 3].min()) if before.size else 0.0


def _analyse(y: np.ndarray, f0_method: str, tc: TranscribeConfig) -> _Frames:
    """Frame features of mono 22050 Hz audio ``y`` (samples,) for segmentation.

    Voiced: f0's voicing, limited to frames within ``gate_db`` of the loudest, with
    gaps up to ``fill_gap_s`` bridged (bridged frames have no pitch).
    """
    import librosa

    fc = FeatureConfig(f0_method=f0_method, f0_frame=int(tc.f0_frame))
    feats = features(y, fc, which=("f0", "loudness", "mel"))
    fps = fc.sr / fc.hop
    loud = feats.loudness
    voiced = feats.voiced & (loud > loud.max() - tc.gate_db) & (loud > -80.0)
    voiced = _fill_gaps(voiced, int(round(tc.fill_gap_s * fps)))
    midi = _pitch_curve(feats.f0, voiced & feats.voiced, max(1, int(round(tc.smooth_s * fps)) | 1))
    env = librosa.onset.onset_strength(y=y, sr=fc.sr, hop_length=fc.hop)
    env = np.concatenate([env, np.zeros(max(0, loud.size - env.size))])[: loud.size]
    power = 10.0 ** (feats.mel / 10.0)  # (T, n_mels)
    high = librosa.mel_frequencies(n_mels=fc.n_mels + 2, fmax=fc.sr / 2)[1:-1] >= 1000.0
    bright = 10.0 * np.log10((power[:, high].sum(axis=1) + 1e-10) / (power.sum(axis=1) + 1e-10))
    return _Frames(midi, voiced, loud, env, bright, fps)


def _attacks(env: np.ndarray, a: int, b: int, ratio: float) -> np.ndarray:
    """Frames in (a, b) where onset strength ``env`` (T,) peaks (highest within +-3 frames)
    at >= ``ratio`` times its median over [a, b): shape (n,)."""
    from numpy.lib.stride_tricks import sliding_window_view

    seg = env[a:b]
    if seg.size < 7:
        return np.zeros(0, np.int64)
    top = sliding_window_view(np.pad(seg, 3, mode="edge"), 7).max(axis=1)
    floor = max(float(np.median(seg)), 1e-3)
    hit = np.flatnonzero((seg >= top) & (seg >= ratio * floor))
    hit = hit[np.r_[True, np.diff(hit) > 3]] if hit.size else hit
    return a + hit[hit > 0]


def _add_dips(cuts: dict, target: dict, fr: _Frames, a: int, b: int, dips: np.ndarray, tc: TranscribeConfig,
              min_frames: int, syllabic: bool) -> None:
    """Add loudness re-attacks inside voiced run [a, b) to ``cuts`` (frame -> kind), in place.

    A dip within ``dip_window_s`` after a pitch change, or before the new pitch has
    settled and held, that lands on the same new pitch (the median pitch over the
    dip's next ``change_s``; in ``syllabic`` audio over its recovery window past its
    first ``change_s`` up to the next onset, as :func:`_notes` skips a note's attack: a
    sung curve may still glide through the consonant) is that change's own attack:
    the onset moves halfway to it (a sung "la" glides into the new pitch before its
    consonant). Otherwise a dip starts a note
    when it lies ``min_frames`` from other onsets and is deep enough: ``dip_db`` below
    the level the note reached since its start and recovered to within ``dip_window_s``
    after, or ``weak_dip_db`` with a spectral-flux peak (``dip_flux`` x the run's median)
    or a sharp shape (``dip_sharp_db`` within 3 frames). Tremolo makes slow, flux-free
    dips; a re-attack makes fast ones. In ``syllabic`` audio (sung syllables, see
    :func:`_syllabic`) a dip of ``weak_dip_db`` counts only with a consonant: the sound
    darkening by ``consonant_db`` (a vowel's level also wobbles without one); its level
    may recover within ``syllable_window_s`` instead of ``dip_window_s``.
    """
    hold = max(2, int(round(tc.change_s * fr.fps)))
    half = max(2, int(round(tc.dip_window_s * fr.fps)))
    reach = max(half, int(round(tc.syllable_window_s * fr.fps))) if syllabic else half
    loud = fr.loudness
    env_floor = max(float(np.median(fr.onset_env[a:b])), 1e-3)
    for t in dips[(dips > a) & (dips < b)].tolist():
        prev = max(c for c in cuts if c <= t)
        nxt = min([c for c in cuts if c > t] + [b])
        # the pitch the dip starts; a sung one past its attack (it may still glide through the consonant)
        span = (t + min(hold, (nxt - t) // 4), max(t + hold, min(nxt, t + hold + reach))) if syllabic else (t, t + hold)
        after = fr.midi[span[0]: span[1]]
        after = after[np.isfinite(after)]
        if cuts[prev] == "pitch" and t <= max(prev + half, target[prev][1]) and after.size \
                and round(float(np.median(after))) == round(target[prev][0]):
            mid = (prev + t) // 2
            new = target.pop(prev)
            del cuts[prev]
            cuts[mid], target[mid] = "pitch", new
            continue
        if t - prev < min_frames or nxt - t < min_frames:
            continue
        depth = min(loud[prev:t].max(), loud[t: min(t + reach, nxt)].max()) - loud[t]
        if syllabic:
            ok = depth >= tc.weak_dip_db and fr.darkening(t) >= tc.consonant_db
        else:
            flux = fr.onset_env[max(a, t - 3): t + 6].max() / env_floor
            sharp = min(loud[max(prev, t - 3): t + 1].max(), loud[t: min(t + 4, nxt)].max()) - loud[t]
            ok = depth >= tc.dip_db or (depth >= tc.weak_dip_db and (flux >= tc.dip_flux or sharp >= tc.dip_sharp_db))
        if ok:
            cuts[t] = "dip"


def _add_attacks(cuts: dict, fr: _Frames, a: int, b: int, tc: TranscribeConfig, min_frames: int) -> None:
    """Add struck/plucked attacks (onset-strength peaks, see :func:`_attacks`) inside
    voiced run [a, b) to ``cuts``, in place, where no onset lies within ``min_frames``
    (or within ``dip_window_s`` after a pitch change, whose own attack it is)."""
    half = max(2, int(round(tc.dip_window_s * fr.fps)))
    for t in (_attacks(fr.onset_env, a, b, tc.attack_ratio) + int(round(tc.attack_shift_s * fr.fps))).tolist():
        prev = max([c for c in cuts if c <= t] + [a])
        nxt = min([c for c in cuts if c > t] + [b])
        if t - prev >= min_frames and nxt - t >= min_frames and not (cuts[prev] == "pitch" and t - prev <= half):
            cuts[t] = "dip"


def _syllabic(fr: _Frames, runs: list[tuple[int, int]], pitch_cuts: list[int], tc: TranscribeConfig) -> bool:
    """Whether notes are articulated with consonants (sung syllables).

    Evidence at each note start: after a pitch change, how much the sound darkens
    within ``dip_window_s`` (the consonant between vowels); at a voicing onset, how
    much it brightens over the next 60-170 ms (consonant, then vowel). Syllabic when
    the median of at least 3 is >= ``syllabic_db``. On the tuning clips Festival's
    "la" gave 10-26 dB, FluidSynth's flute, voice oohs and piano under 8 dB.
    """
    half = max(2, int(round(tc.dip_window_s * fr.fps)))
    evidence = [max(fr.darkening(u) for u in range(t, min(t + half, fr.bright.size))) for t in pitch_cuts]
    evidence += [float(fr.bright[a + 5: a + 15].max() - fr.bright[a: a + 4].min()) for a, b in runs if b - a >= 15]
    return len(evidence) >= 3 and float(np.median(evidence)) >= tc.syllabic_db


def _boundaries(fr: _Frames, tc: TranscribeConfig, min_frames: int) -> list[tuple[int, int, str]]:
    """Note spans as (start, stop, kind) frames; kind says what started the note:
    "voice" (voicing onset), "pitch" (a pitch change), "dip" (a re-attack: a loudness
    dip or a struck attack inside a voiced stretch)."""
    hold = max(2, int(round(tc.change_s * fr.fps)))
    runs = _runs(fr.voiced)
    changes = [_pitch_changes(fr.midi, a, b, hold, tc) for a, b in runs]
    syllabic = _syllabic(fr, runs, [t for run in changes for t, _, _ in run], tc)
    reach = int(round((tc.syllable_window_s if syllabic else tc.dip_window_s) * fr.fps))
    dips = _dips(fr.loudness, max(2, int(round(tc.dip_window_s * fr.fps))), min(tc.dip_db, tc.weak_dip_db), reach)
    spans = []
    for (a, b), run_changes in zip(runs, changes):
        cuts, target = {a: "voice"}, {}
        for t, new, settled in run_changes:
            cuts[t], target[t] = "pitch", (new, settled + hold)
        _add_dips(cuts, target, fr, a, b, dips, tc, min_frames, syllabic)
        _add_attacks(cuts, fr, a, b, tc, min_frames)
        starts = sorted(cuts)
        spans.extend((s, e, cuts[s]) for s, e in zip(starts, starts[1:] + [b]))
    return spans


def _notes(fr: _Frames, spans, min_frames: int, hold: int) -> list[tuple[int, int, int]]:
    """(start, stop, pitch) per note: pitch = rounded median of the span's pitched frames
    after its first ``hold`` frames (at most a quarter of the note).
    A span started by a pitch change that rounds to its neighbour's pitch is merged back;
    notes shorter than ``min_frames`` are dropped."""
    notes: list[list] = []
    for s, e, kind in spans:
        seg = fr.midi[s + min(hold, (e - s) // 4): e]  # skip the attack: glides and scoops
        seg = seg[np.isfinite(seg)]
        if seg.size == 0:
            continue
        p = int(np.round(np.median(seg)))
        if notes and kind == "pitch" and notes[-1][1] == s and notes[-1][2] == p:
            notes[-1][1] = e
            continue
        notes.append([s, e, p])
    return [(s, e, p) for s, e, p in notes if e - s >= min_frames]


# --------------------------------------------------------------------------- public API


def estimate_tempo(onsets_s: np.ndarray, min_qpm: float = 40.0, max_qpm: float = 240.0) -> tuple[float, float]:
    """Tempo (qpm) and one beat time (s) from note onsets (n,), in seconds.

    The onsets become an impulse train at 100 frames/s, smoothed over 20 ms, that
    librosa's dynamic-programming beat tracker follows (tempo prior centred on 120).
    The tempo is folded by octaves into [min_qpm, max_qpm]; under 4 onsets it is 120
    and the beat is the first onset.
    """
    onsets_s = np.sort(np.asarray(onsets_s, np.float64))
    if onsets_s.size < 4:
        return 120.0, float(onsets_s[0]) if onsets_s.size else 0.0
    import librosa
    from scipy.ndimage import gaussian_filter1d

    rate, hop = 100, 441  # frames per second, as (sr, hop_length) for librosa
    env = np.zeros(int(np.ceil(onsets_s[-1] * rate)) + 2 * rate)
    np.add.at(env, np.round(onsets_s * rate).astype(np.int64), 1.0)
    env = gaussian_filter1d(env, 2.0)
    tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=rate * hop, hop_length=hop, units="time", trim=False)
    qpm = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 120.0
    if not np.isfinite(qpm) or qpm <= 0:
        return 120.0, float(onsets_s[0])
    while qpm > max_qpm:
        qpm /= 2
    while qpm < min_qpm:
        qpm *= 2
    beat = float(beats[0]) if np.size(beats) else float(onsets_s[0])
    return qpm, beat


def transcribe(
    y: np.ndarray,
    sr: int,
    *,
    f0_method: str = "pyin",
    min_note_s: float = 0.06,
    config: TranscribeConfig | None = None,
    name: str | None = None,
) -> Melody:
    """The melody of mono audio ``y`` (samples,) at ``sr`` Hz, as a :class:`Melody`.

    Audio is resampled to 22050 Hz and analysed in 256-sample frames (11.6 ms):
    f0 (pYIN or YIN, see :func:`~musicrnn.codec.audio.f0`) -> median-filtered MIDI
    pitch curve -> notes. A note starts at each voicing onset; at each pitch change
    (>= ``change_st`` semitones held for ``change_s``, timed where the curve has
    covered ``depart`` of the way); and at each re-attack inside a voiced stretch: a
    loudness dip (the consonant of a repeated "la la", a wind player's tongued note)
    or a spectral-flux peak (a struck or plucked note). A note's pitch is the rounded
    median of its frames after the attack; notes shorter than ``min_note_s`` are
    dropped. Velocity follows each note's peak loudness (the loudest note gets 100,
    -1.5 per dB). Tempo: :func:`estimate_tempo`. Thresholds: :class:`TranscribeConfig`.
    Raises :class:`AudioError` (naming ``name``) when no melody is found.
    """
    tc = config or TranscribeConfig()
    y = np.asarray(y, dtype=np.float32)
    target = FeatureConfig().sr
    if sr != target:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=target, res_type="soxr_hq")
    if y.ndim != 1 or y.size < tc.f0_frame:
        raise AudioError(name, f"no sung or played melody found (0 voiced frames in {y.size} samples)")
    fr = _analyse(y, f0_method, tc)
    min_frames = max(1, int(round(min_note_s * fr.fps)))
    n_voiced = int(np.sum(np.isfinite(fr.midi)))
    hold = max(2, int(round(tc.change_s * fr.fps)))
    notes = _notes(fr, _boundaries(fr, tc, min_frames), min_frames, hold) if n_voiced else []
    if not notes:
        raise AudioError(name, f"no sung or played melody found ({n_voiced} voiced frames)")
    s, e, p = (np.array(c) for c in zip(*notes))
    peak = np.array([fr.loudness[a:b].max() for a, b, _ in notes])
    vel = np.clip(np.round(100 + 1.5 * (peak - peak.max())), 20, 127).astype(np.int64)
    onsets, offsets = s / fr.fps, e / fr.fps
    qpm, beat = estimate_tempo(onsets)
    return Melody(onsets, offsets, p.astype(np.int64), vel, tempo_qpm=qpm, beat_s=beat)


def melody_to_score(melody: Melody, tpq: int = 480, program: int = 0) -> Score:
    """The codec's :class:`Score` of ``melody``: one tempo (``melody.tempo_qpm``), 4/4.

    Seconds become ticks at that tempo, with the time origin moved to the last beat
    (a ``beat_s`` plus whole beats) at or before the first onset, so beats fall on
    multiples of ``tpq``. Every note lasts at least one tick.
    """
    qpm = float(melody.tempo_qpm)
    beat = 60.0 / qpm
    on = np.asarray(melody.onsets_s, np.float64)
    off = np.asarray(melody.offsets_s, np.float64)
    first = float(on.min()) if on.size else 0.0
    origin = float(melody.beat_s) - np.ceil((float(melody.beat_s) - first) / beat) * beat
    start = np.round((on - origin) / beat * tpq).astype(np.int64)
    end = np.maximum(np.round((off - origin) / beat * tpq).astype(np.int64), start + 1)
    n = start.size
    return Score(
        tpq=int(tpq),
        start=start,
        end=end,
        pitch=np.clip(np.asarray(melody.pitches, np.int64), 0, 127),
        velocity=np.clip(np.asarray(melody.velocities, np.int64), 1, 127),
        program=np.full(n, int(program), np.int64),
        drum=np.zeros(n, bool),
        tempo_time=np.zeros(1, np.int64),
        tempo_qpm=np.array([qpm]),
        ts_time=np.zeros(1, np.int64),
        ts_num=np.array([4], np.int64),
        ts_den=np.array([4], np.int64),
    )


def transcribe_file(path, out_mid=None, *, f0_method: str = "pyin", min_note_s: float = 0.06, program: int = 0):
    """Transcribe an audio file: ``(Melody, Score)``; with ``out_mid`` also write the MIDI.

    Loads with :func:`~musicrnn.codec.audio.load_audio` (22050 Hz mono); errors are
    :class:`AudioError` naming the file.
    """
    y, sr = load_audio(path, sr=22050)
    melody = transcribe(y, sr, f0_method=f0_method, min_note_s=min_note_s, name=str(path))
    score = melody_to_score(melody, program=program)
    if out_mid is not None:
        write_midi(score, out_mid)
    return melody, score
