"""Audio -> melody transcription measured on known melodies, rendered and sung.

Clips: the first ``--seconds`` (10) of ``--clips`` folk tunes from corpora/folk
(evenly spaced over the sorted file list; the melody is the top line, see
``melody_from_score``). Each is rendered by FluidSynth (GM flute 73, voice oohs 53,
piano 0; TimGM6mb.sf2) and sung by Festival ("la" per note, voices kal and ked,
transposed by whole octaves so that the median note lies in MIDI 50-61, a male
range; the reference is transposed with it). Every clip is transcribed with
``musicrnn.codec.melody.transcribe`` and scored with mir_eval:

* onset F: ``mir_eval.onset.f_measure``, 50 ms window;
* note F: ``mir_eval.transcription.precision_recall_f1_overlap``, onsets within
  50 ms, pitch within 50 cents, offsets ignored;
* RPA: ``mir_eval.melody.raw_pitch_accuracy`` of the transcribed notes as a 10 ms
  f0 contour against the reference notes' contour;
* tempo: share of clips whose estimated tempo is within 4% of the file's tempo, or
  of half or double it.

The segmentation was tuned on six other tunes, never scored here (``--tune`` runs
on them): indices 317 + 997 k of the same sorted list.

    OMP_NUM_THREADS=1 python benchmarks/transcription.py [--clips 20] [--f0 pyin|yin]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from musicrnn.codec import read_midi
from musicrnn.codec.audio import AudioError
from musicrnn.codec.melody import Melody, melody_from_score, transcribe
from musicrnn.codec.synth import render_melody_fluidsynth, sing_festival

ROOT = Path(__file__).resolve().parent.parent
FOLK = ROOT / "corpora" / "folk"
SR = 22050
SOURCES = ("fluidsynth:73", "fluidsynth:53", "fluidsynth:0", "festival:kal", "festival:ked")
LABELS = {"fluidsynth:73": "FluidSynth flute (73)", "fluidsynth:53": "FluidSynth voice oohs (53)",
          "fluidsynth:0": "FluidSynth piano (0)", "festival:kal": "Festival kal, 'la'",
          "festival:ked": "Festival ked, 'la'"}


def tune_files() -> list[Path]:
    return sorted(FOLK.glob("*/*.mid"))


def tuning_indices(n_files: int) -> list[int]:
    """The tunes the segmentation was tuned on (never scored)."""
    return list(range(317, n_files, 997))[:6]


def scored_indices(n_files: int, clips: int) -> list[int]:
    """``clips`` indices evenly spaced over the list, skipping the tuning tunes."""
    banned = set(tuning_indices(n_files))
    step = max(1, n_files // clips)
    return [i if i not in banned else i + 1 for i in range(0, n_files, step)][:clips]


def render(melody: Melody, source: str) -> tuple[np.ndarray, int, Melody]:
    """Audio of ``melody`` from ``source`` and the reference it must be scored against."""
    kind, arg = source.split(":")
    if kind == "fluidsynth":
        return render_melody_fluidsynth(melody, SR, int(arg)), SR, melody
    shift = 12 * int(np.floor((55.5 - np.median(melody.pitches)) / 12 + 0.5))
    ref = Melody(melody.onsets_s, melody.offsets_s, melody.pitches + shift, melody.velocities, melody.tempo_qpm)
    y, sr = sing_festival(ref, voice=arg)
    return y, sr, ref


def contour(melody: Melody, times: np.ndarray) -> np.ndarray:
    """f0 in Hz on ``times`` (n,), 0 where no note sounds."""
    f = np.zeros(times.shape)
    for a, b, p in zip(melody.onsets_s, melody.offsets_s, melody.pitches):
        f[(times >= a) & (times < b)] = 440.0 * 2 ** ((p - 69) / 12)
    return f


def score_clip(ref: Melody, est: Melody | None, ref_qpm: float) -> dict:
    import mir_eval

    if est is None or est.n_notes == 0:
        return {"onset_f": 0.0, "note_f": 0.0, "rpa": 0.0, "tempo_ok": 0.0, "n_est": 0}
    onset_f = mir_eval.onset.f_measure(ref.onsets_s, est.onsets_s, window=0.05)[0]
    hz = lambda p: 440.0 * 2 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    off = np.maximum(est.offsets_s, est.onsets_s + 1e-3)
    note_f = mir_eval.transcription.precision_recall_f1_overlap(
        np.c_[ref.onsets_s, np.maximum(ref.offsets_s, ref.onsets_s + 1e-3)], hz(ref.pitches),
        np.c_[est.onsets_s, off], hz(est.pitches),
        onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None)[2]
    t = np.arange(0.0, max(ref.offsets_s.max(), off.max()) + 0.05, 0.01)
    rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(t, contour(ref, t), t, contour(est, t))
    rpa = mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec)
    tempo_ok = any(abs(est.tempo_qpm / (ref_qpm * k) - 1) <= 0.04 for k in (0.5, 1.0, 2.0))
    return {"onset_f": float(onset_f), "note_f": float(note_f), "rpa": float(rpa),
            "tempo_ok": float(tempo_ok), "n_est": est.n_notes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--f0", choices=("pyin", "yin"), default="pyin")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument("--tune", action="store_true", help="run on the six tuning tunes instead")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    files = tune_files()
    idx = tuning_indices(len(files)) if args.tune else scored_indices(len(files), args.clips)
    sources = args.sources.split(",")
    rows = {s: [] for s in sources}
    for i in idx:
        score = read_midi(files[i])
        melody = melody_from_score(score, max_seconds=args.seconds)
        qpm = float(score.tempo_qpm[0]) if score.tempo_qpm.size else 120.0
        for source in sources:
            y, sr, ref = render(melody, source)
            t0 = time.perf_counter()
            try:
                est = transcribe(y, sr, f0_method=args.f0)
            except AudioError:
                est = None
            r = score_clip(ref, est, qpm)
            r.update(seconds=time.perf_counter() - t0, file=str(files[i].relative_to(ROOT)), n_ref=ref.n_notes)
            rows[source].append(r)
        print(f"{files[i].relative_to(ROOT)}: {melody.n_notes} notes; " + "  ".join(
            f"{s.split(':')[1]} {rows[s][-1]['onset_f']:.2f}/{rows[s][-1]['note_f']:.2f}" for s in sources), flush=True)

    summary = {}
    print(f"\nf0={args.f0}, {len(idx)} clips of {args.seconds:g} s; medians over clips, and the mean onset F")
    print(f"| {'source':28s} | onset F | note F |   RPA | onset F mean | tempo ok | s/clip |")
    print(f"|{'-' * 30}|--------:|-------:|------:|-------------:|---------:|-------:|")
    for s in sources:
        v = rows[s]
        med = lambda k: statistics.median(r[k] for r in v)  # noqa: E731
        summary[s] = {"onset_f": med("onset_f"), "onset_f_mean": statistics.mean(r["onset_f"] for r in v),
                      "note_f": med("note_f"), "rpa": med("rpa"),
                      "tempo_ok": statistics.mean(r["tempo_ok"] for r in v), "seconds_per_clip": med("seconds")}
        m = summary[s]
        print(f"| {LABELS.get(s, s):28s} | {m['onset_f']:7.3f} | {m['note_f']:6.3f} | {m['rpa']:5.3f} | "
              f"{m['onset_f_mean']:12.3f} | {m['tempo_ok']:8.2f} | {m['seconds_per_clip']:6.2f} |")
    print(json.dumps({"benchmark": "transcription", "f0": args.f0, "clips": len(idx), "seconds": args.seconds,
                      "tuning_set": args.tune, "files": [str(files[i].relative_to(ROOT)) for i in idx],
                      "results": {s: {k: round(x, 4) for k, x in m.items()} for s, m in summary.items()}}))


if __name__ == "__main__":
    main()
