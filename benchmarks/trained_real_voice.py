"""Issue 22: the trained tier on a real voice. One klettres speaker with minutes of recordings
(ml: 521 files, 10 minutes once trimmed, without the files its held-out clip is cut from)
is learned with `musicrnn voice train`; every other test speaker is converted toward it by
the trained model and by the instant tier (from the 5-s reference clip), and scored with
Resemblyzer against the held-out clip, as `voice eval --direction real` does.

    .venv/bin/python benchmarks/trained_real_voice.py prepare /tmp/train_ml
    .venv/bin/musicrnn voice train --data /tmp/train_ml --out /tmp/voice-ml --minutes 12 --seed 0 -q
    .venv/bin/python benchmarks/trained_real_voice.py score /tmp/voice-ml
"""
import sys
from pathlib import Path

import numpy as np

from musicrnn.style import metrics as M, realvoices as R
from musicrnn.style.instant import build_profile
from musicrnn.style.transfer import Controls, Target

TARGET = "ml"  # `TARGET=uk python ...` for another
import os
TARGET = os.environ.get("TARGET", TARGET)


def prepare(out):
    import soundfile as sf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, f in enumerate(sorted((R.KLETTRES / TARGET).glob("*/*.ogg"))):
        if i % 3 == 2:  # the held-out clip is cut from these: never trained on
            continue
        y = R._read(f)
        if y.size >= 0.05 * R.SR:
            sf.write(out / f"{i:04d}.wav", y, R.SR)
            total += y.size
    print(f"{out}: {total / R.SR:.0f} s of {TARGET}")


def score(model):
    sr, c = R.SR, Controls()
    tgt = R.speaker(TARGET)
    held = M.speaker_embedding(tgt.held_out, sr)
    tiers = {"instant": Target.instant(build_profile(tgt.reference, sr)), "trained": Target(model)}
    res = {k: [] for k in tiers}
    for name in R.TEST_SPEAKERS:
        if name == TARGET:
            continue
        src = R.speaker(name).source
        e_src = M.speaker_embedding(src, sr)
        before = M.embedding_cosine(e_src, held)
        line = [f"{name:6s} before {before:.3f}"]
        for k, t in tiers.items():
            out, info = t.convert(src, sr, c)
            e = M.speaker_embedding(out, sr)
            to_t, to_s = M.embedding_cosine(e, held), M.embedding_cosine(e, e_src)
            f_s, f_o = M.pyin_f0(src, sr), M.pyin_f0(out, sr)
            kept = M.f0_kept(f_s, f_o, float(info.get("transpose") or 0.0))
            res[k].append((to_t > to_s, to_t - before, kept, float(np.abs(out).max())))
            line.append(f"{k} to target {to_t:.3f} to source {to_s:.3f} kept {kept:.2f}")
        print(" | ".join(line), flush=True)
    for k, rows in res.items():
        print(f"{k}: nearer the target in {sum(r[0] for r in rows)} of {len(rows)}, mean gain "
              f"{np.mean([r[1] for r in rows]):+.3f}, pitch kept median {np.median([r[2] for r in rows]):.3f} "
              f"min {min(r[2] for r in rows):.3f}, peak max {max(r[3] for r in rows):.3f}")


if __name__ == "__main__":
    {"prepare": prepare, "score": score}[sys.argv[1]](sys.argv[2])
