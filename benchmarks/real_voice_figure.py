"""Issue 22's figure: one real pair before and after (Debian klettres-data speakers).

    .venv/bin/python benchmarks/real_voice_figure.py [--source hu] [--target pt_BR] [--png docs/img/real_voice_pair.png]

Spectrograms of the source clip, its conversion (the instant tier, defaults, from the
target's reference clip) and the target's held-out clip, and the pitch (pYIN) of the
source moved by the applied transposition against the output's.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="hu")
    ap.add_argument("--target", default="pt_BR")
    ap.add_argument("--png", default="docs/img/real_voice_pair.png")
    args = ap.parse_args()
    import librosa
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from musicrnn.style import metrics as M
    from musicrnn.style import realvoices as rv
    from musicrnn.style.instant import build_profile, convert_with_info

    src, tgt = rv.speaker(args.source), rv.speaker(args.target)
    conv = convert_with_info(src.source, rv.SR, build_profile(tgt.reference, rv.SR))
    fig = Figure(figsize=(10, 9), dpi=100)
    FigureCanvasAgg(fig)
    clips = [(f"source ({args.source})", src.source), (f"converted toward {args.target} ({conv.semitones:+.0f} semitones)",
                                                       conv.audio), (f"target, a clip the converter never saw ({args.target})",
                                                                     tgt.held_out)]
    for i, (title, y) in enumerate(clips):
        ax = fig.add_subplot(4, 1, i + 1)
        S = librosa.amplitude_to_db(np.abs(librosa.stft(np.asarray(y, np.float32), n_fft=1024, hop_length=160)), ref=np.max)
        ax.imshow(S[:320], origin="lower", aspect="auto", vmin=-70, vmax=0, cmap="magma",
                  extent=[0, len(y) / rv.SR, 0, 320 * rv.SR / 1024])
        ax.set_ylabel("Hz")
        ax.set_title(title, fontsize=9)
    ax = fig.add_subplot(4, 1, 4)
    hop = rv.SR * 0.005
    for y, label, shift, style in ((src.source, "source, moved", conv.semitones, "C0"), (conv.audio, "converted", 0.0, "C3")):
        f = M.pyin_f0(y, rv.SR) * 2 ** (shift / 12)
        t = np.arange(len(f)) * hop / rv.SR
        ax.plot(t, np.where(f > 0, f, np.nan), ".", ms=2, color=style, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("f0, Hz (pYIN)")
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.png)
    print(args.png)


if __name__ == "__main__":
    main()
