"""Issue 22: what moves a real voice's identity, step by step (instant tier, klettres-data).

Each variant re-runs the instant tier's conversion (``instant.moved_envelopes`` and WORLD)
with one step changed, on the ring of real speakers (``realvoices.ring_pairs``: each
speaker converted toward the next from the target's *reference* clip) and scores the output
with Resemblyzer against the target's *held-out* clip, as ``musicrnn voice eval --direction
real`` does. Oracles bound what any envelope/pitch mapping can reach:

* ``vocoded``: the source through WORLD unchanged (what the vocoder alone does);
* ``f0_only``: only the pitch moved to the target's median (continuous, not by octaves);
* ``target_vocoded``: the target's own reference clip through WORLD (the ceiling of a
  converter that keeps nothing of the source).

    .venv/bin/python benchmarks/identity_steps.py --speakers dev [--variants default,no_knn]

One line per variant: closer (output nearer the target than the source), gain (mean of
output-to-target minus source-to-target), mean output-to-target and output-to-source.
"""
import argparse
import math

import numpy as np
from scipy.ndimage import uniform_filter1d

from musicrnn.style import dsp, metrics as M, realvoices
from musicrnn.style.instant import InstantSettings, build_profile, moved_envelopes

SR = realvoices.SR


def analyse(y):
    f = dsp.world_analyze(dsp.as_world_input(y), SR, method="dio", f0_ceil=None)
    return f, dsp.active_frames(dsp.frame_energy_db(f.sp))


def ceps(x, n=24):
    return np.fft.irfft(x, axis=-1)[:, 1:n]


def nearest(src, tgt, k):
    a, b = ceps(src), ceps(tgt)
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]
    return np.argpartition(d, min(k, len(b)) - 1, axis=1)[:, :k]


def resynth(f, f0, log_sp, ap, n, peak):
    y = np.nan_to_num(dsp.world_synthesize(f0, np.exp(log_sp), ap, SR, f.frame_ms, n))
    return y * min(peak, 0.99) / max(float(np.abs(y).max()), 1e-9)


def convert(src, ref, *, knn=1.0, k=4, eq=1.0, unvoiced_knn=False, ap_knn=False, f0="octaves", smooth=0):
    """The instant tier's steps with one changed: ``knn`` share and ``k``; ``eq``; kNN on unvoiced
    frames too (against the target's unvoiced frames); aperiodicity from the same neighbours;
    f0 "octaves" (the default), "median" (continuous shift to the target's median) or "znorm"
    (log-f0 mean and spread mapped to the target's); ``smooth``: frames of a moving average on
    the mapped envelopes."""
    prof = build_profile(ref, SR)
    fs, act = analyse(src)
    ft, act_t = analyse(ref)
    v, log_sp = fs.voiced, fs.log_sp
    src_l = np.log(fs.f0[dsp.confident_f0(fs.f0, act)])
    tgt_l = np.log(ft.f0[dsp.confident_f0(ft.f0, act_t)])
    ratio = dsp.fit_formant_ratio(log_sp[v & act].mean(0), prof.mean_log_env_voiced, fs.freqs)
    warped = dsp.warp_log_envelope(log_sp, ratio)
    means = (warped[v & act].mean(0), warped[~v & act].mean(0) if (~v & act).any() else None)
    out = moved_envelopes(log_sp, warped, v, act, fs.freqs, prof, means,
                          InstantSettings(knn=0.0, eq=eq, protect=0.0 if unvoiced_knn else 0.33))
    ap = fs.ap.copy()
    groups = [(v & act, ft.voiced & act_t)]
    if unvoiced_knn and (~ft.voiced & act_t).sum() > 10:
        groups.append((~v & act, ~ft.voiced & act_t))
    for rows, t_rows in groups if knn > 0 else []:
        s, t = out[rows], ft.log_sp[t_rows]
        near = nearest(s, t, k)
        mapped = t[near].mean(1)
        mapped += (s.mean(1) - mapped.mean(1))[:, None]  # each frame keeps its level
        out[rows] = (1 - knn) * s + knn * mapped
        if ap_knn:
            ap[rows] = ft.ap[t_rows][near].mean(1)
    if smooth:
        out[v & act] = uniform_filter1d(out, smooth, axis=0)[v & act]
    if f0 == "octaves":
        f0_out = fs.f0 * 2 ** (dsp.octave_shift(float(np.median(src_l)), prof.median_log_f0) / 12)
    elif f0 == "median":
        f0_out = fs.f0 * math.exp(float(np.median(tgt_l) - np.median(src_l)))
    else:
        z = (np.log(np.maximum(fs.f0, 1e-3)) - src_l.mean()) / src_l.std()
        f0_out = np.where(fs.f0 > 0, np.exp(z * tgt_l.std() + tgt_l.mean()), 0.0)
    return resynth(fs, f0_out, out, ap, len(src), float(np.abs(src).max()))


def vocoded(y, semitones=0.0):
    f, _ = analyse(y)
    return resynth(f, f.f0 * 2 ** (semitones / 12), f.log_sp, f.ap, len(y), float(np.abs(y).max()))


def f0_only(src, ref):
    fs, a = analyse(src)
    ft, b = analyse(ref)
    d = np.median(np.log(ft.f0[dsp.confident_f0(ft.f0, b)])) - np.median(np.log(fs.f0[dsp.confident_f0(fs.f0, a)]))
    return vocoded(src, 12 * d / math.log(2))


VARIANTS = {
    "default": lambda s, r: convert(s, r),
    "no_knn": lambda s, r: convert(s, r, knn=0.0),
    "no_eq": lambda s, r: convert(s, r, eq=0.0),
    "no_eq_no_knn": lambda s, r: convert(s, r, eq=0.0, knn=0.0),
    "knn_k1": lambda s, r: convert(s, r, k=1),
    "knn_k8": lambda s, r: convert(s, r, k=8),
    "knn_unvoiced": lambda s, r: convert(s, r, unvoiced_knn=True),
    "knn_aperiodicity": lambda s, r: convert(s, r, ap_knn=True),
    "smooth_3": lambda s, r: convert(s, r, smooth=3),
    "f0_median": lambda s, r: convert(s, r, f0="median"),
    "f0_znorm": lambda s, r: convert(s, r, f0="znorm"),
    "all_but_f0": lambda s, r: convert(s, r, unvoiced_knn=True, ap_knn=True),
    "vocoded": lambda s, r: vocoded(s),
    "f0_only": f0_only,
    "target_vocoded": lambda s, r: vocoded(r),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speakers", default="dev", choices=sorted(realvoices.SETS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    pairs = realvoices.ring_pairs(realvoices.SETS[a.speakers])
    emb = {}
    for p in pairs:
        emb[p.source.name] = M.speaker_embedding(p.source.source, SR)
        emb[p.target.name + "/held"] = M.speaker_embedding(p.target.held_out, SR)
    print(f"{a.speakers}: {len(pairs)} pairs")
    for name in a.variants.split(","):
        t_, s_, g_, closer = [], [], [], 0
        for p in pairs:
            src, tgt = p.source.source, p.target.reference
            e = M.speaker_embedding(VARIANTS[name](src, tgt), SR)
            to_t = M.embedding_cosine(e, emb[p.target.name + "/held"])
            to_s = M.embedding_cosine(e, emb[p.source.name])
            before = M.embedding_cosine(emb[p.source.name], emb[p.target.name + "/held"])
            t_.append(to_t), s_.append(to_s), g_.append(to_t - before)
            closer += to_t > to_s
        print(f"{name:18s} closer {closer:2d}/{len(pairs)}  gain {np.mean(g_):+.3f}  "
              f"to target {np.mean(t_):.3f}  to source {np.mean(s_):.3f}", flush=True)


if __name__ == "__main__":
    main()
