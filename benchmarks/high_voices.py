"""Issue 22's pitch in any register: folk tunes rendered by the SoundFont's sampled singers
(Voice Oohs 53, Choir Aahs 52; TimGM6mb.sf2) in a soprano, alto and bass register, converted
toward both demo clips (instant tier, defaults); pitch kept = pYIN share of frames within a
semitone of the source moved by the applied octave (`metrics.f0_kept`).

    .venv/bin/python benchmarks/high_voices.py          # soprano, alto, bass
    .venv/bin/python benchmarks/high_voices.py --low    # a low bass: median MIDI 36 and 38 (lowest notes 36-73 Hz)

One line per conversion: tune index, median MIDI note, range in Hz, target, shift, log-f0
correlation, pitch kept.
"""
import sys

import numpy as np
from pathlib import Path
from musicrnn.codec import read_midi
from musicrnn.codec.melody import Melody, melody_from_score
from musicrnn.codec.synth import render_melody_fluidsynth
from musicrnn.codec.audio import load_audio
from musicrnn.style.instant import build_profile, convert_with_info
from musicrnn.style import metrics as M
import librosa
files = sorted(Path("corpora/folk").glob("*/*.mid"))
tgt = {n: build_profile(load_audio(f"corpora/voice/demo-{n}.wav", sr=16000)[0], 16000) for n in ("target-female", "source-male")}
for idx in (5, 500, 2000, 4000, 8000):
    m = melody_from_score(read_midi(files[idx]), max_seconds=6)
    registers = ((36, 53), (38, 52)) if "--low" in sys.argv else ((79, 53), (74, 52), (45, 53))
    for centre, prog in registers:  # soprano ~ G5 (784 Hz) median, alto, bass ~A2 (110 Hz); --low: C2, D2
        shift = int(12 * np.floor((centre - np.median(m.pitches)) / 12 + 0.5))
        mm = Melody(m.onsets_s, m.offsets_s, m.pitches + shift, m.velocities, m.tempo_qpm)
        y = render_melody_fluidsynth(mm, 22050, prog); y = librosa.resample(y, orig_sr=22050, target_sr=16000)
        src_f = M.pyin_f0(y, 16000)
        for n, prof in tgt.items():
            c = convert_with_info(y, 16000, prof)
            out_f = M.pyin_f0(c.audio, 16000)
            try: corr = M.f0_corr(src_f, out_f); kept = M.f0_kept(src_f, out_f, c.semitones)
            except Exception: corr = kept = float('nan')
            print(idx, "median MIDI", int(np.median(mm.pitches)), "range Hz", int(440*2**((mm.pitches.min()-69)/12)), int(440*2**((mm.pitches.max()-69)/12)), "->", n, "shift", c.semitones, "corr", round(corr, 3), "kept", round(kept, 3), flush=True)
