"""The library behind ``musicrnn transfer``, ``musicrnn voice eval`` and the page's Style
transfer tab: one function each, whichever tier the target asks for.

A *target* is either an audio clip of the target voice (the instant tier builds a
profile from it; no training) or a trained voice model folder (``musicrnn voice train``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..codec.errors import AudioError
from ..core.errors import CheckpointError, SettingsError

MAX_TARGET_SECONDS = 120.0  # a target clip: a few sentences are enough


@dataclass
class Controls:
    """Conversion controls shared by both tiers (None: chosen from the target)."""

    transpose: float | None = None  # semitones; None: whole octaves toward the target's register (at most one)
    formant: float | None = None  # envelope frequency ratio; None: fitted (instant) or 1 (trained)
    index_rate: float = 0.5  # trained tier: share of content taken from the target's nearest frames
    protect: float = 0.33  # how much unvoiced frames (consonants) keep of their own
    eq: float = 1.0  # instant tier: share of the mean-envelope equalisation
    knn: float = 1.0  # instant tier: share of each voiced frame's envelope taken from the target's nearest frames

    def check(self) -> "Controls":
        if self.transpose is not None and not (math.isfinite(self.transpose) and -36 <= self.transpose <= 36):
            raise SettingsError(f"--transpose {self.transpose}: use semitones from -36 to 36")
        if self.formant is not None and not (math.isfinite(self.formant) and 0.5 <= self.formant <= 2.0):
            raise SettingsError(f"--formant {self.formant}: use a ratio from 0.5 to 2.0")
        for name in ("index_rate", "protect"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= 1):
                raise SettingsError(f"--{name.replace('_', '-')} {v}: use 0 to 1")
        if not (math.isfinite(self.knn) and 0 <= self.knn <= 1):
            raise SettingsError(f"--knn {self.knn}: use 0 to 1")
        if not (math.isfinite(self.eq) and 0 <= self.eq <= 2):
            raise SettingsError(f"--eq {self.eq}: use 0 to 2")
        return self

    def instant(self):
        """The instant tier's settings these controls stand for."""
        from .instant import InstantSettings

        return InstantSettings(transpose=self.transpose, formant=self.formant, eq=self.eq, protect=self.protect,
                               knn=self.knn)


class Target:
    """A loaded target: ``convert(y, sr, controls) -> (audio, info)``."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():  # a voice model: torch and librosa load only here (the instant tier needs neither)
            from .voice import is_voice_model, load_voice

            if not is_voice_model(self.path):
                raise CheckpointError(f"{self.path}: a folder, but not a voice model (no config.json of a "
                                      f"`musicrnn voice train` run); give a voice model or an audio clip")
            self.kind, self.voice = "trained", load_voice(self.path)
            from .voice import frames_of  # warm up: librosa's imports take seconds; pay them at load, not per clip

            frames_of(np.random.default_rng(0).normal(0, 0.01, 1600).astype(np.float32), self.voice.cfg)
        else:
            from ..codec.audio import load_audio
            from .instant import build_profile

            y, sr = load_audio(self.path, sr=16000, max_seconds=MAX_TARGET_SECONDS)
            if not np.any(np.abs(y) > 1e-4):
                raise AudioError(self.path, "is silent: a target clip must hold the target voice")
            try:
                self.profile = build_profile(y, sr)
            except (ValueError, SettingsError) as e:
                raise AudioError(self.path, f"no usable voice in it ({e})") from None
            self.kind = "instant"

    @classmethod
    def instant(cls, profile) -> "Target":
        """An instant-tier target from a ready profile (no clip on disk; ``path`` is None)."""
        target = cls.__new__(cls)
        target.kind, target.path, target.profile = "instant", None, profile
        return target

    def convert(self, y: np.ndarray, sr: int, c: Controls) -> tuple[np.ndarray, dict]:
        if self.kind == "trained":
            from .voice import convert_trained

            return convert_trained(y, sr, self.voice, transpose=c.transpose, formant=c.formant,
                                   index_rate=c.index_rate, protect=c.protect)
        from .instant import convert_with_info

        conv = convert_with_info(y, sr, self.profile, c.instant())
        return conv.audio, {"transpose": round(conv.semitones, 2), "formant": round(conv.formant_ratio, 3)}


def transfer_file(src, target: Target, out, controls: Controls, sr: int | None = None) -> dict:
    """Convert one file; writes ``out`` (WAV at the source's own rate, or ``sr``)."""
    import soundfile as sf

    from ..codec.audio import load_audio
    from ..core.files import atomic_write

    y, rate = load_audio(src, sr=sr)
    if rate < 16000:  # telephone audio: work at 16 kHz, the models' rate, and say so in the result
        import librosa

        y, rate = librosa.resample(y, orig_sr=rate, target_sr=16000).astype(np.float32), 16000
    t = time.perf_counter()
    audio, info = target.convert(y, rate, controls)
    seconds = time.perf_counter() - t
    out = Path(out)
    if out.is_dir():
        raise SettingsError(f"{out}: is a folder; give a file name such as {out / 'converted.wav'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: sf.write(f, audio, rate, format="WAV", subtype="PCM_16"))
    return {"input": str(src), "output": str(out), "tier": target.kind, "seconds": round(len(y) / rate, 2),
            "rtf": round(seconds / max(len(y) / rate, 1e-9), 4), "peak": round(float(np.abs(audio).max()), 3), **info}


def transfer(input, target, out, controls: Controls | None = None, report=None) -> list[dict]:
    """``musicrnn transfer``: convert ``input`` (a file, or every audio file in a folder)
    toward ``target`` (a clip or a voice model). A folder's results go into the folder
    ``out`` under the same names (as .wav); a bad file in a folder is skipped and listed."""
    from ..codec.audio import AUDIO_SUFFIXES
    from ..codec.midi import iter_midi_files

    controls = (controls or Controls()).check()
    inp = Path(input)
    if not inp.exists():
        raise AudioError(inp, "no such file or folder")
    tgt = target if isinstance(target, Target) else Target(target)
    if inp.is_file():
        r = transfer_file(inp, tgt, out, controls)
        if report:
            report(r)
        return [r]
    files = iter_midi_files([inp], suffixes=AUDIO_SUFFIXES)
    if not files:
        raise AudioError(inp, f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
    results = []
    for p in files:
        dest = Path(out) / p.relative_to(inp).with_suffix(".wav")
        try:
            r = transfer_file(p, tgt, dest, controls)
        except AudioError as e:
            r = {"input": str(p), "skipped": str(e)}
        results.append(r)
        if report:
            report(r)
    return results


def pitch_plot_png(src, out, sr: int, shift: float, path, title: str = "") -> str:
    """Before/after pitch plot: the source's f0 moved by ``shift`` semitones (the melody the
    output should follow) and the output's f0, in Hz over time (log scale)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..core.files import atomic_write
    from .metrics import metric_f0

    f_src, f_out = metric_f0(np.asarray(src, np.float64), sr), metric_f0(np.asarray(out, np.float64), sr)
    fig = Figure(figsize=(8, 3.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for f, color, label in ((f_src * 2 ** (shift / 12), "#1f77b4", f"source, moved {shift:+.1f} semitones"),
                            (f_out, "#d62728", "converted")):
        t = np.arange(len(f)) * 0.005
        ax.plot(t, np.where(f > 0, f, np.nan), color=color, lw=1.6, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("f0 (Hz)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return str(atomic_write(Path(path), fig.savefig))


def clip_f0_corr(src, out, sr: int) -> float | None:
    """Log-f0 correlation of two clips over the frames voiced in both (None if too few)."""
    from .metrics import f0_corr, metric_f0

    a, b = metric_f0(np.asarray(src, np.float64), sr), metric_f0(np.asarray(out, np.float64), sr)
    n = min(len(a), len(b))
    try:
        v = f0_corr(a[:n], b[:n])
    except Exception:
        return None
    return round(float(v), 4) if v is not None and np.isfinite(v) else None


# --- evaluation --------------------------------------------------------------------------------
def evaluate(voice=None, *, pairs: int = 10, direction: str = "m2f", workdir=None, controls: Controls | None = None,
             speaker: bool = True, progress=None) -> dict:
    """``musicrnn voice eval``: a parallel test set with no human in the loop (espeak-ng
    voices speaking the same sentences, ``m2f``/``f2m``; Festival singing the same tunes in
    two voices, ``sing``), each source converted toward the target, scored against the
    target's own rendition. ``voice``: a trained voice model (its training voice should be
    the target's); None: the instant tier, from a separate clip of the target voice.

    Returns medians over the pairs: f0_corr (log-f0 correlation of the output with the
    transposed source, frames voiced in both), mcd_before / mcd_after (dB, DTW-aligned,
    to the target's rendition), rtf, secs_target / secs_source (speaker similarity of the
    output to the target and to the source; None without Resemblyzer).
    """
    from . import evalset
    from . import metrics as M

    controls = (controls or Controls()).check()
    if direction == "m2f":
        ps = evalset.speech_pairs(n=pairs, source_voice="en-us+m3", target_voice="en-us+f3", workdir=workdir)
    elif direction == "f2m":
        ps = evalset.speech_pairs(n=pairs, source_voice="en-us+f3", target_voice="en-us+m3", workdir=workdir)
    elif direction == "sing":
        ps = evalset.singing_pairs(n=min(pairs, len(evalset.SCORED_TUNES)), workdir=workdir)
    else:
        raise SettingsError(f"--direction {direction!r}: use m2f, f2m or sing")
    if voice is not None:
        target = Target(voice)
    else:
        from .instant import build_profile

        target = Target.instant(build_profile(ps.target_clip, ps.sr))
    rows = []
    for i, p in enumerate(ps.pairs):
        t = time.perf_counter()
        out, info = target.convert(p.source, ps.sr, controls)
        dt = time.perf_counter() - t
        shift = info.get("transpose", 0.0)
        f_src, f_out = M.metric_f0(p.source, ps.sr), M.metric_f0(out, ps.sr)
        n = min(len(f_src), len(f_out))
        ref = M.speech_mel_cepstrum(p.target, ps.sr)  # the target's cepstrum, once for both MCDs
        row = {"text": p.text, "mcd_before": M.mcd_of_speech(ref, M.speech_mel_cepstrum(p.source, ps.sr)),
               "mcd_after": M.mcd_of_speech(ref, M.speech_mel_cepstrum(out, ps.sr)),
               "f0_corr": M.f0_corr(f_src[:n] * 2 ** (shift / 12), f_out[:n]),
               "rtf": dt / (len(p.source) / ps.sr), "transpose": shift}
        if speaker:  # as M.speaker_similarity, with the output embedded once for both
            e_out = M.speaker_embedding(out, ps.sr)
            for key, other in (("secs_target", p.target), ("secs_source", p.source)):
                row[key] = None if e_out is None else M.embedding_cosine(e_out, M.speaker_embedding(other, ps.sr))
        rows.append(row)
        if progress:
            progress(i + 1, len(ps.pairs), row)

    def med(k):
        v = [r[k] for r in rows if r.get(k) is not None and np.isfinite(r[k])]
        return round(float(np.median(v)), 4) if v else None

    return {"tier": target.kind, "voice": str(voice) if voice else None, "direction": direction,
            "source": ps.source_voice, "target": ps.target_voice, "pairs": len(rows),
            **{k: med(k) for k in ("f0_corr", "mcd_before", "mcd_after", "rtf", "secs_target", "secs_source")},
            "controls": asdict(controls), "rows": rows}


def summary_json(result: dict) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "rows"})


def measure_and_plot(source, output, shift: float, png, title: str = "") -> dict:
    """After a transfer: read the source clip (mixed to mono) and the converted ``output``
    back, bring the source to the output's sample rate (telephone-rate input is converted
    at 16 kHz), draw the before/after pitch plot (:func:`pitch_plot_png`, the source moved by
    ``shift`` semitones) into ``png`` and measure the f0 correlation (:func:`clip_f0_corr`).
    Returns {"png": path, "f0_corr": float or None}."""
    import soundfile as sf

    y_src, sr = sf.read(source, dtype="float32", always_2d=True)
    y_out, sr_out = sf.read(output, dtype="float32")
    y_src = y_src.mean(1)
    if sr != sr_out:
        import librosa

        y_src, sr = librosa.resample(y_src, orig_sr=sr, target_sr=sr_out), sr_out
    path = pitch_plot_png(y_src, y_out, sr, shift, png, title=title)
    return {"png": path, "f0_corr": clip_f0_corr(y_src, y_out, sr)}


def evaluate_real(speakers: str = "test", *, controls: Controls | None = None, seconds: float = 5.0,
                  progress=None) -> dict:
    """``musicrnn voice eval --direction real``: real people (``realvoices``: klettres-data,
    hedgewars-data), each speaker of the set converted toward the next (the ``singer`` set:
    toward and from the singer) from the target's *reference* clip (the instant tier),
    scored against the target's *held-out* clip, which the converter never saw.

    Per pair: secs_target (Resemblyzer cosine, output to the target's held-out clip),
    secs_before (the untouched source to the same clip), secs_source (output to the source
    clip), closer (secs_target > secs_source), gain (secs_target - secs_before),
    f0_corr (pYIN log-f0 correlation of source and output, frames voiced in both),
    f0_kept (share of those frames within a semitone of the transposed source,
    ``metrics.f0_kept``), transpose, rtf. Returns the rows and their summary.
    """
    from . import metrics as M
    from . import realvoices
    from .instant import build_profile

    if speakers not in realvoices.SETS:
        raise SettingsError(f"speakers {speakers!r}: use {' or '.join(realvoices.SETS)}")
    missing = realvoices.available(realvoices.SETS[speakers])
    if missing:
        raise SettingsError(f"the {speakers} voices need Debian's {missing} (apt-get install {missing})")
    controls = (controls or Controls()).check()
    sr, rows = realvoices.SR, []
    pairs = realvoices.set_pairs(speakers, seconds)
    for i, p in enumerate(pairs):
        target = Target.instant(build_profile(p.target.reference, sr))
        t = time.perf_counter()
        out, info = target.convert(p.source.source, sr, controls)
        dt = time.perf_counter() - t
        e_out, e_held = M.speaker_embedding(out, sr), M.speaker_embedding(p.target.held_out, sr)
        row = {"source": p.source.name, "target": p.target.name, "transpose": info.get("transpose"),
               "rtf": dt / (len(out) / sr), "peak": float(np.abs(out).max())}
        f_src, f_out = M.pyin_f0(p.source.source, sr), M.pyin_f0(out, sr)
        try:
            row["f0_corr"] = M.f0_corr(f_src, f_out)
            row["f0_kept"] = M.f0_kept(f_src, f_out, float(info.get("transpose") or 0.0))
        except Exception:  # too little voiced in both
            row["f0_corr"] = row["f0_kept"] = None
        if e_out is not None:
            e_src = M.speaker_embedding(p.source.source, sr)
            row["secs_target"] = M.embedding_cosine(e_out, e_held)
            row["secs_before"] = M.embedding_cosine(e_src, e_held)
            row["secs_source"] = M.embedding_cosine(e_out, e_src)
            row["closer"] = row["secs_target"] > row["secs_source"]
            row["gain"] = row["secs_target"] - row["secs_before"]
        rows.append(row)
        if progress:
            progress(i + 1, len(pairs), row)

    def mean(k):
        v = [float(r[k]) for r in rows if r.get(k) is not None]
        return round(float(np.mean(v)), 4) if v else None

    f0s = [r["f0_corr"] for r in rows if r.get("f0_corr") is not None]
    kept = [r["f0_kept"] for r in rows if r.get("f0_kept") is not None]
    return {"tier": "instant", "direction": "real", "speakers": speakers, "pairs": len(rows),
            "closer": sum(bool(r.get("closer")) for r in rows), "gain": mean("gain"),
            "secs_target": mean("secs_target"), "secs_before": mean("secs_before"), "secs_source": mean("secs_source"),
            "f0_corr_min": round(min(f0s), 4) if f0s else None, "f0_corr_median": round(float(np.median(f0s)), 4) if f0s else None,
            "f0_kept_min": round(min(kept), 4) if kept else None, "f0_kept_median": round(float(np.median(kept)), 4) if kept else None,
            "rtf": mean("rtf"), "controls": asdict(controls), "rows": rows}


def transfer_live(input, target, out, controls: Controls | None = None, *, realtime: bool = True,
                  chunk: int = 256) -> dict:
    """``musicrnn transfer --live``: stream ``input`` through the live converter
    (``style.live``) toward ``target`` (a clip: the instant tier) and write ``out``.

    ``input``: an audio file, played in real time (``realtime``: each 16-ms chunk is fed when
    its time comes, as a sound card would deliver it; False: as fast as it computes), or "-":
    raw 16-bit mono 16-kHz PCM on standard input, read as it arrives (``arecord -f S16_LE -r
    16000 -c 1 | musicrnn transfer --live --input - ...``). ``out``: a WAV file, or "-" to
    write the converted stream as raw PCM of the same format to standard output, block by
    block. Returns the delay, the compute time per 40-ms block and how many blocks were late.
    """
    import sys

    import soundfile as sf

    from .live import SR, LiveConverter

    controls = (controls or Controls()).check()
    tgt = target if isinstance(target, Target) else Target(target)
    if tgt.kind != "instant":
        raise SettingsError("--live converts toward a clip of the target voice (the instant tier); "
                            "a voice model converts files only")
    live = LiveConverter(tgt.profile, SR, controls.instant())
    to_stdout = str(out) == "-"
    outs, late, fed = [], 0, 0

    def emit(y):
        if to_stdout:
            sys.stdout.buffer.write((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
            sys.stdout.buffer.flush()
        else:
            outs.append(y)

    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=1)  # a block's arrays are far too small for a thread pool (see core.sample)
    start = time.perf_counter()
    if str(input) == "-":
        while True:
            raw = sys.stdin.buffer.read(2 * chunk)
            if not raw:
                break
            x = np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.float64) / 32768.0
            emit(live.process(x))
            fed += x.size
    else:
        from ..codec.audio import load_audio

        y, _ = load_audio(input, sr=SR)
        for i in range(0, len(y), chunk):
            if realtime:  # wait for this chunk's time, as a sound card would hand it over
                due = start + (i + chunk) / SR
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -BLOCK_LATE_S:
                    late += 1
            emit(live.process(y[i:i + chunk]))
            fed += len(y[i:i + chunk])
    emit(live.flush())
    limits.restore_original_limits()
    if not to_stdout:
        from ..core.files import atomic_write

        audio = np.concatenate(outs) if outs else np.zeros(0)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(out), lambda f: sf.write(f, audio, SR, format="WAV", subtype="PCM_16"))
    per = np.array(live.block_seconds) if live.block_seconds else np.zeros(1)
    block_s = live.block / SR
    return {"input": str(input), "output": str(out), "seconds": round(fed / SR, 2), "delay_ms": round(1000 * live.delay_s),
            "block_ms": round(1000 * block_s), "compute_ms_median": round(1000 * float(np.median(per)), 2),
            "compute_ms_max": round(1000 * float(per.max()), 2), "rtf": round(float(np.median(per)) / block_s, 3),
            "late_chunks": late, "transpose": live.semitones, "formant": live.ratio}


BLOCK_LATE_S = 0.04  # a chunk fed more than this after its time counts as late
