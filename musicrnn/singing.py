"""The song, sung: the two halves of musicrnn meet.

A piece's melody (the top line of its lead part, :func:`lead_part`) is sung
by Festival's singing mode ("la" on every note; voice ``kal`` or ``ked``, moved by whole
octaves into their baritone range), then, when a voice is asked for, converted toward it
(a clip of the voice: the instant tier; a voice model folder: the trained tier, whose
output then takes the sung line's level contour back, ``dsp.follow_level``, since its
decoder smooths the dips between repeated notes; the conversion moves the melody by whole
octaves toward that voice). The parts that are not
the melody are rendered with FluidSynth and the voice is mixed over them. The sung line
is transcribed back (``codec.melody.transcribe``) and its note onsets scored against the
melody (mir_eval, 50 ms), so every sung file says how well it was sung.

The one function behind ``musicrnn sample --sing`` and the page's "Sing it".
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .core.errors import DataError

SINGERS = ("kal", "ked")
SINGER_CENTRE = 55.5  # MIDI: the sung melody's median note is moved by octaves into 50-61 (a baritone)
VOICE_PEAK = 0.7  # the voice's peak in the mix
BACKING_DB = -6.0  # the accompaniment's RMS against the voice's
# The instant tier's kNN share when it converts singing: chosen on sung folk pieces of seeds
# 0-9 toward corpora/voice/demo-target-female.wav (onset F of the sung line transcribed
# back, median over ten: 0.737 at 0, 0.990 at 0.5, 0.897 at 1); reported on seeds 10-19.
SING_KNN = 0.5


def _octaves_to(centre: float, pitches: np.ndarray) -> int:
    return int(12 * np.floor((centre - float(np.median(pitches))) / 12 + 0.5))


def load_voice(voice):
    """The voice that sings (a clip or a voice model folder), loaded: load it once for many pieces."""
    from .style.transfer import Target

    return Target(voice)


def sing_midi(midi, out_wav, *, voice=None, singer: str = "kal", syllable: str = "la", accompaniment: bool = True,
              check: bool = True) -> dict:
    """Sing the melody of the MIDI file ``midi`` into ``out_wav`` (see the module docstring).

    ``voice``: a clip of a voice or a voice model folder to convert the singing toward, or
    one :func:`load_voice` loaded (load it once for many pieces; None:
    Festival's own). Returns {"wav", "seconds", "notes", "singer", "transpose" (the
    melody's move into the singer's range plus the conversion's), "voice", "accompanied",
    "onset_f" (the sung line transcribed back against the melody; None without mir_eval)}.
    """
    import soundfile as sf

    from .codec import read_midi
    from .codec.melody import Melody, melody_from_score, transcribe
    from .codec.synth import sing_festival
    from .core.files import atomic_write

    if singer not in SINGERS:
        raise DataError(f"singer {singer!r}: choose {' or '.join(SINGERS)}")
    score = read_midi(midi)
    melody = melody_from_score(lead_part(score))
    if melody.n_notes == 0:
        raise DataError(f"{midi}: no pitched notes to sing")
    shift = _octaves_to(SINGER_CENTRE, melody.pitches)
    sung = Melody(melody.onsets_s, melody.offsets_s, melody.pitches + shift, melody.velocities, melody.tempo_qpm)
    y, sr = sing_festival(sung, voice=singer, syllable=syllable)
    info = {"singer": singer, "voice": None}
    if voice is not None:
        from .style.transfer import Controls, Target

        target = voice if isinstance(voice, Target) else Target(voice)
        sung_y = y
        y, conv = target.convert(y, sr, Controls(knn=SING_KNN))
        if target.kind == "trained":  # a voice model smooths the dips between notes: give them back
            from .style.dsp import follow_level

            y = follow_level(y, sung_y, sr)
        info["voice"] = str(target.path)
        shift += int(round(conv.get("transpose") or 0.0))
    info["transpose"] = shift
    y = np.asarray(y, np.float32)
    onset_f = None
    if check:
        try:
            import mir_eval
        except ImportError:
            mir_eval = None
        if mir_eval is not None:
            try:
                est = transcribe(y, sr)
                onset_f = float(mir_eval.onset.f_measure(melody.onsets_s, est.onsets_s, window=0.05)[0])
            except Exception:  # nothing transcribed: the check failed
                onset_f = 0.0
    # the accompaniment: every note that is not the melody's
    mix, rate = y * (VOICE_PEAK / max(float(np.abs(y).max()), 1e-9)), sr
    backing = _without_melody(score, melody)
    if accompaniment and backing is not None:
        from .codec import write_midi
        from .render import synthesize

        with tempfile.TemporaryDirectory(prefix="musicrnn-sing-") as tmp:
            path = write_midi(backing, Path(tmp) / "backing.mid")
            audio, _ = synthesize(path, 22050)
        import librosa

        voice_22 = librosa.resample(mix, orig_sr=sr, target_sr=22050)
        n = max(len(voice_22), len(audio))
        a, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
        a[: len(audio)], v[: len(voice_22)] = audio, voice_22
        rms = lambda x: float(np.sqrt(np.mean(x[np.abs(x) > 1e-4] ** 2))) if np.any(np.abs(x) > 1e-4) else 0.0  # noqa: E731
        if rms(a) > 0:
            a *= rms(v) * 10 ** (BACKING_DB / 20) / rms(a)
        mix, rate = v + a, 22050
        mix *= min(1.0, 0.98 / max(float(np.abs(mix).max()), 1e-9))
    out = atomic_write(Path(out_wav), lambda p: sf.write(str(p), mix, rate, subtype="PCM_16"))
    return {"wav": str(out), "seconds": round(len(mix) / rate, 2), "notes": melody.n_notes, **info,
            "accompanied": bool(accompaniment and backing is not None),
            "onset_f": None if onset_f is None else round(onset_f, 3)}


def lead_part(score):
    """The part that carries the tune, as a score of its own: of the pitched instruments
    with at least a quarter of the most notes any has, the one that plays fewest chords
    (share of onsets with more than one note), the highest on average when they tie; the
    whole score when it has one pitched instrument (or none)."""
    keys = score.keys
    pitched = sorted(set(keys[~score.drum].tolist()))
    if len(pitched) <= 1:
        return score
    counts = {k: int((keys == k).sum()) for k in pitched}
    best, rank = None, None
    for k in pitched:
        if counts[k] < 0.25 * max(counts.values()):
            continue
        on = score.start[keys == k]
        _, per_onset = np.unique(on, return_counts=True)
        chords = float((per_onset > 1).mean())
        r = (round(chords, 2), -float(score.pitch[keys == k].mean()))
        if rank is None or r < rank:
            best, rank = k, r
    return score.subset(keys == best)


def _without_melody(score, melody):
    """A copy of ``score`` without the melody's notes, or None when nothing else sounds."""
    start = score.seconds(score.start)
    pitch = score.pitch
    is_melody = np.zeros(len(pitch), bool)
    for t, p in zip(melody.onsets_s, melody.pitches):
        hit = np.flatnonzero(~score.drum & (np.abs(start - t) < 1e-6) & (pitch == p) & ~is_melody)
        if hit.size:
            is_melody[hit[0]] = True
    return score.subset(~is_melody) if not is_melody.all() else None


def sung_path(midi_or_wav: str | os.PathLike) -> Path:
    """Where a piece's sung version goes: beside it, ``NAME.sung.wav``."""
    p = Path(midi_or_wav)
    return p.with_name(p.stem + ".sung.wav")


__all__ = ["SINGERS", "load_voice", "sing_midi", "sung_path"]
