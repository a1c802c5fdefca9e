"""Issue 22's live conversion: delay, compute per block, and how close the stream is to the offline conversion.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/live_speed.py [--busy]

Clips: the ten espeak-ng m2f test sentences (`voice eval`'s set, toward a separate clip of the
female voice) and the eight development pairs of real speakers (`style.realvoices`). Each is
converted offline and through `convert_stream` (256-sample chunks, as a sound card hands them
over, as fast as it computes); per clip: the share of voiced frames whose pitch follows the
source moved by the transposition (`metrics.f0_kept`, RAPT), the mel-cepstral distortion of the
stream to the offline output against the source's to it, and each 40-ms block's compute time.
``--busy`` runs a spinning process beside it. Medians over clips; the 95th percentile and the
maximum over all blocks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", action="store_true")
    ap.add_argument("--workdir", default="/tmp/voiceeval")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from musicrnn.style import evalset, realvoices
    from musicrnn.style import metrics as M
    from musicrnn.style.instant import build_profile, convert_with_info
    from musicrnn.style.live import LiveConverter

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        ps = evalset.speech_pairs(n=10, workdir=args.workdir)
        sets = {"espeak m2f": [(p.source, build_profile(ps.target_clip, ps.sr)) for p in ps.pairs]}
        sets["real dev"] = [(p.source.source, build_profile(p.target.reference, realvoices.SR))
                            for p in realvoices.ring_pairs(realvoices.DEV_SPEAKERS)]
        for name, clips in sets.items():
            rows, blocks = [], []
            for y, prof in clips:
                with threadpool_limits(limits=1):
                    live = LiveConverter(prof, 16000)
                    outs = [live.process(y[i:i + 256]) for i in range(0, len(y), 256)] + [live.flush()]
                lag = int(live.delay_s * 16000)
                out = np.concatenate(outs)[lag: lag + len(y)]
                off = convert_with_info(y, 16000, prof)
                src_f0, out_f0 = M.metric_f0(y, 16000), M.metric_f0(out, 16000)
                rows.append({"f0_kept": M.f0_kept(src_f0, out_f0, float(live.semitones or 0.0)),
                             "f0_kept_offline": M.f0_kept(src_f0, M.metric_f0(off.audio, 16000), off.semitones),
                             "mcd_to_offline": M.mcd(off.audio, 16000, out, 16000),
                             "mcd_source_to_offline": M.mcd(off.audio, 16000, y, 16000),
                             "same_transpose": live.semitones == off.semitones})
                blocks += live.block_seconds
            b = 1000 * np.array(blocks)
            med = lambda k: round(float(np.median([r[k] for r in rows])), 3)  # noqa: E731
            print(json.dumps({"set": name, "busy": args.busy, "clips": len(rows), **{k: med(k) for k in rows[0] if k != "same_transpose"},
                              "f0_kept_min": round(min(r["f0_kept"] for r in rows), 3),
                              "same_transpose": sum(r["same_transpose"] for r in rows),
                              "block_ms_median": round(float(np.median(b)), 2), "block_ms_p95": round(float(np.percentile(b, 95)), 2),
                              "block_ms_max": round(float(b.max()), 2), "blocks": int(b.size)}), flush=True)
    finally:
        if busy:
            busy.kill()


if __name__ == "__main__":
    main()
