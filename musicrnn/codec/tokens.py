"""Score <-> token ids: a beat-relative, REMI-style event language.

A piece reads ``BOS Bar TimeSig Position Tempo [Program] [Velocity] Pitch Duration ... Bar ... EOS``:

* With ``CodecConfig.instruments_header`` (every model trained since it existed), the piece
  first declares its band: ``BOS Program_a Program_b ... Bar``, each instrument that plays
  once, pitched programs ascending, drums last. The sampler (:mod:`.grammar`) then keeps
  to those instruments.
  With ``drums_first`` (band models) drums come first, then the pitched programs.
* ``Bar`` opens the next bar; a ``TimeSig`` follows it whenever the metre changes.
* With ``drum_repeats``, a bar whose drums are exactly (onsets, kit pieces, lengths,
  velocity bins) those of the bar k back, of the same length, says so with one
  ``DrumRepeat_k`` after its ``Bar`` (and ``TimeSig``), and its drum notes are not written
  (the smallest such k). With ``bar_repeats`` the same for its pitched notes (every
  instrument's): ``BarRepeat_k``, before the ``DrumRepeat``.
* ``Position_p`` is the onset inside the bar in grid steps (``resolution`` per quarter
  note), so bar lines and beats are explicit symbols a model can learn.
* ``Tempo`` follows a ``Position`` where the tempo changes.
* ``Program`` and ``Velocity`` are state: emitted only when they change.
* A note is ``Pitch`` followed by one or more ``Duration`` tokens whose steps add up.

Timing is quantised to the grid in musical time (beats), not seconds: a note keeps its
onset and offset to within one grid step *in beats*; its length in seconds also
depends on the tempo, which is kept to within half a tempo bin (about 2%).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .midi import MAX_NOTE_QUARTERS, MidiError, Score
from .vocab import BAR, BOS, EOS, PAD, Vocab


def quantize(score: Score, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Note onsets and offsets on the grid: shape (n,) each; every note lasts >= 1 step."""
    start, end = score.start * (resolution / score.tpq), score.end * (resolution / score.tpq)
    on = np.floor(start + 0.5).astype(np.int64)
    off = np.floor(end + 0.5).astype(np.int64)
    short = off <= on  # shorter than a step: start on the step below, so both ends stay within 1
    on = np.where(short, np.floor(start).astype(np.int64), on)
    return on, np.maximum(off, on + 1)


def _grid(times: np.ndarray, tpq: int, resolution: int) -> np.ndarray:
    return np.floor(np.asarray(times, np.float64) * resolution / tpq + 0.5).astype(np.int64)


def _bars(vocab: Vocab, ts_t: np.ndarray, ts_i: np.ndarray, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Bar start times (grid steps) covering 0..last, and the time-signature index in force at each.

    A metre change takes effect at the first bar line at or after its time, exactly as
    the decoder will rebuild it, so every onset has one well-defined (bar, position).
    """
    starts, sigs = [], []
    t, k, cur = 0, 0, int(ts_i[0])
    n = len(ts_t)
    while True:
        while k < n and ts_t[k] <= t:
            cur = int(ts_i[k])
            k += 1
        length = vocab.bar_length(cur)
        stop = last + 1 if k >= n else min(last + 1, int(ts_t[k]))
        count = max(1, -(-(stop - t) // length))
        starts.append(t + length * np.arange(count, dtype=np.int64))
        sigs.append(np.full(count, cur, np.int64))
        t += length * count
        if t > last:
            break
    return np.concatenate(starts), np.concatenate(sigs)


MAX_TOKENS = 200_000  # one piece; the longest real file here has 18,000 (MidiError above it)


def header_rank(program: int, cfg) -> int:
    """Where a program key (128 = drums) goes in a header, which declares its programs by
    ascending rank: the key itself, but -1 for drums with ``cfg.drums_first``."""
    return -1 if cfg.drums_first and program == 128 else program


def header_order(programs, cfg) -> list[int]:
    """Program keys (128 = drums) in the order a header declares them: pitched ascending,
    drums last, or drums first with ``cfg.drums_first``."""
    return sorted(set(int(p) for p in programs), key=lambda p: header_rank(p, cfg))


def _repeats(on, dur, pitch, vbin, prog, subset, bar_t, bar_ts, K: int) -> tuple[np.ndarray, np.ndarray]:
    """(notes kept, shape (n,) bool; the repeat k of each bar, 0 for none) for the notes in
    ``subset`` (the drums, or the pitched notes): a bar's are a repeat of the bar k back
    (the smallest k in 1..K) when both bars have the same time signature and exactly the
    same such notes (onset in the bar, pitch, length, velocity bin, program)."""
    keep = np.ones(on.size, bool)
    rep = np.zeros(bar_t.size, np.int64)
    if not K or not subset.any():
        return keep, rep
    idx = np.flatnonzero(subset)  # in onset order, so each bar's notes are one run
    bar = np.searchsorted(bar_t, on[idx], side="right") - 1
    fields = np.stack([on[idx] - bar_t[bar], pitch[idx], dur[idx], vbin[idx], prog[idx]], 1).tolist()
    bars, starts = np.unique(bar, return_index=True)
    ends = np.append(starts[1:], idx.size)
    runs = list(zip(bars.tolist(), starts.tolist(), ends.tolist()))
    content = {b: tuple(sorted(map(tuple, fields[i:j]))) for b, i, j in runs}
    for b, i, j in runs:
        for k in range(1, K + 1):
            a = b - k
            if a >= 0 and bar_ts[a] == bar_ts[b] and content.get(a) == content[b]:
                rep[b] = k
                keep[idx[i:j]] = False
                break
    return keep, rep


def encode(score: Score, vocab: Vocab, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Encode a score as token ids, ``BOS ... EOS``. Shape (n_tokens,), dtype int64.

    The number of tokens is counted before any is written: a piece that would need more
    than ``max_tokens`` raises :class:`MidiError` (without a path; the caller names the file).
    """
    cfg, off = vocab.cfg, vocab.offset
    g = cfg.resolution
    on, q_off = quantize(score, g)
    dur = q_off - on

    # time signatures: grid times, supported indices, default 4/4 at 0, last one per time wins
    ts_t = _grid(score.ts_time, score.tpq, g)
    ts_i = np.array([vocab.nearest_time_sig(n, d) for n, d in zip(score.ts_num.tolist(), score.ts_den.tolist())], np.int64)
    if ts_t.size == 0 or ts_t.min() > 0:
        ts_t = np.concatenate([[0], ts_t])
        ts_i = np.concatenate([[vocab.ts_index[(4, 4)]], ts_i])
    o = np.argsort(ts_t, kind="stable")
    ts_t, ts_i = ts_t[o], ts_i[o]

    # tempo: the bin in force at 0 (120 qpm if none), then each change of bin
    tp_t = _grid(score.tempo_time, score.tpq, g)
    o = np.argsort(tp_t, kind="stable")
    tp_t, tp_b = tp_t[o], vocab.tempo_bin(score.tempo_qpm[o])
    keep_last = np.append(tp_t[1:] != tp_t[:-1], True) if tp_t.size else np.zeros(0, bool)
    tp_t, tp_b = tp_t[keep_last], tp_b[keep_last]
    if tp_t.size == 0 or tp_t[0] > 0:
        tp_t = np.concatenate([[0], tp_t])
        tp_b = np.concatenate([vocab.tempo_bin(np.array([120.0])), tp_b])
    changed = np.append(True, tp_b[1:] != tp_b[:-1])
    tp_t, tp_b = tp_t[changed], tp_b[changed]

    last = int(max(on.max(initial=0), tp_t.max()))
    bar_t, bar_ts = _bars(vocab, ts_t, ts_i, last)
    ts_changed = np.append(True, bar_ts[1:] != bar_ts[:-1])

    # notes in emission order: onset, drums after pitched, program, pitch, then length
    prog = score.keys  # one drum kit: GM level 1 has no kit programs
    vbin = vocab.velocity_bin(score.velocity)
    order = np.lexsort((dur, score.pitch, prog, on))
    on, dur, prog, vbin, pitch = on[order], dur[order], prog[order], vbin[order], score.pitch[order]
    head = (off["Program"] + np.array(header_order(prog.tolist(), cfg), np.int64) if cfg.instruments_header
            else np.zeros(0, np.int64))
    keep, rep = _repeats(on, dur, pitch, vbin, prog, prog == 128, bar_t, bar_ts, cfg.drum_repeats)
    keep_p, rep_p = _repeats(on, dur, pitch, vbin, prog, prog != 128, bar_t, bar_ts, cfg.bar_repeats)
    keep &= keep_p
    if not keep.all():
        on, dur, prog, vbin, pitch = on[keep], dur[keep], prog[keep], vbin[keep], pitch[keep]
    n = on.size
    prog_chg = np.append(True, prog[1:] != prog[:-1]) if n else np.zeros(0, bool)
    vel_chg = np.append(True, vbin[1:] != vbin[:-1]) if n else np.zeros(0, bool)
    dmax = vocab.max_duration
    n_full = (dur - 1) // dmax
    rem = dur - n_full * dmax
    idx = np.arange(n, dtype=np.int64)
    full_idx = np.repeat(idx, n_full)

    # positions: every distinct onset or tempo-change time
    pos_t = np.union1d(on, tp_t)
    count = (int((rep > 0).sum()) + int((rep_p > 0).sum()) + bar_t.size + int(ts_changed.sum()) + pos_t.size
             + tp_t.size + int(prog_chg.sum()) + int(vel_chg.sum())
             + 2 * n + int(n_full.sum()) + 2 + head.size)
    if count > max_tokens:
        raise MidiError(None, f"{count:,} tokens long; at most {max_tokens:,} in one piece")
    pos_bar = np.searchsorted(bar_t, pos_t, side="right") - 1

    parts = [  # (time, rank, seq, token)
        (bar_t, 0, 0, np.full(bar_t.size, BAR)),
        (bar_t[ts_changed], 1, 0, off["TimeSig"] + bar_ts[ts_changed]),
        (bar_t[rep_p > 0], 1, 1, off["BarRepeat"] + rep_p[rep_p > 0] - 1),
        (bar_t[rep > 0], 1, 2, off["DrumRepeat"] + rep[rep > 0] - 1),
        (pos_t, 2, 0, off["Position"] + pos_t - bar_t[pos_bar]),
        (tp_t, 3, 0, off["Tempo"] + tp_b),
        (on[prog_chg], 4, 8 * idx[prog_chg], off["Program"] + prog[prog_chg]),
        (on[vel_chg], 4, 8 * idx[vel_chg] + 1, off["Velocity"] + vbin[vel_chg]),
        (on, 4, 8 * idx + 2, off["Pitch"] + pitch),
        (on[full_idx], 4, 8 * full_idx + 3, np.full(full_idx.size, off["Duration"] + dmax - 1)),
        (on, 4, 8 * idx + 4, off["Duration"] + rem - 1),
    ]
    T = np.concatenate([np.broadcast_to(p[0], p[3].shape) for p in parts])
    R = np.concatenate([np.full(p[3].size, p[1]) for p in parts])
    S = np.concatenate([np.broadcast_to(p[2], p[3].shape) for p in parts])
    tok = np.concatenate([p[3] for p in parts])
    body = tok[np.lexsort((S, R, T))]
    return np.concatenate([[BOS], head, body, [EOS]]).astype(np.int64)


def header_programs(ids, vocab: Vocab) -> list[int]:
    """The instruments a piece declares (program keys, 128 = drums): the Program tokens
    between BOS and the first Bar. Empty for a piece without a header."""
    po = vocab.offset["Program"]
    out = []
    for t in np.asarray(ids, dtype=np.int64).ravel().tolist():
        if t == BOS:
            continue
        if not po <= t < po + 129:
            break
        out.append(t - po)
    return out


def programs_played(ids, vocab: Vocab) -> list[int]:
    """The program keys (128 = drums) of the notes in a token sequence, ascending."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    po, pp = vocab.offset["Program"], vocab.offset["Pitch"]
    is_prog = (ids >= po) & (ids < po + 129)
    last = np.maximum.accumulate(np.where(is_prog, np.arange(ids.size), -1))
    pitch = (ids >= pp) & (ids < pp + 128)
    keys = np.where(last[pitch] >= 0, ids[np.maximum(last[pitch], 0)] - po, 0)
    return sorted(set(keys.tolist()))


def with_header(ids, programs, vocab: Vocab) -> np.ndarray:
    """``ids`` with its header replaced by one declaring ``programs`` (keys, 128 = drums)."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    body = ids[1 + len(header_programs(ids, vocab)):] if ids.size and ids[0] == BOS else ids
    head = vocab.offset["Program"] + np.array(header_order(programs, vocab.cfg), np.int64)
    return np.concatenate([[BOS], head, body]).astype(np.int64)


@dataclass
class Decoded:
    """What :func:`decode` returns: the score and how many tokens broke the grammar."""

    score: Score
    n_tokens: int
    n_invalid: int

    @property
    def invalid_rate(self) -> float:
        return self.n_invalid / self.n_tokens if self.n_tokens else 0.0


def decode(ids, vocab: Vocab, tpq: int | None = None) -> Decoded:
    """Decode any id sequence into a valid score, never raising.

    Tokens that break the grammar are skipped and counted: ids outside the vocabulary,
    a TimeSig not straight after Bar, a DrumRepeat (BarRepeat) not straight after Bar (or
    its TimeSig) or naming a bar without drums (pitched notes), of another length, or
    before the first, or in a bar whose drums (pitched notes) are already there, a
    Position beyond the bar or going backwards (a
    Position before any Bar is counted too, but opens the first bar), a Tempo or Pitch with no Position yet in the bar, a Duration with
    no Pitch, a Pitch left without a Duration. Decoding stops at EOS; PAD and BOS are
    ignored. A note's Durations add up to at most ``MAX_NOTE_QUARTERS``, the longest
    note a file is read with.
    """
    cfg, off = vocab.cfg, vocab.offset
    g = cfg.resolution
    tpq = tpq or g * max(1, 480 // g)
    step = tpq // g
    longest = MAX_NOTE_QUARTERS * g
    fam_names = list(off)
    fam_start = np.array([off[f] for f in fam_names])
    ids = np.asarray(ids, dtype=np.int64).ravel()
    valid_id = (ids >= 0) & (ids < vocab.size)
    fam = np.where(valid_id, np.searchsorted(fam_start, ids, side="right") - 1, -1)
    val = np.where(valid_id, ids - fam_start[np.maximum(fam, 0)], -1)
    F = {name: i for i, name in enumerate(fam_names)}
    F_SPECIAL, F_TS, F_POS, F_TEMPO = F["special"], F["TimeSig"], F["Position"], F["Tempo"]
    F_PROG, F_VEL, F_PITCH, F_DUR = F["Program"], F["Velocity"], F["Pitch"], F["Duration"]
    F_REP, F_BREP = F["DrumRepeat"], F["BarRepeat"]

    notes: list[tuple[int, int, int, int, int]] = []  # start, steps, pitch, velocity, program key
    tempos: list[tuple[int, float]] = []
    sigs: list[tuple[int, int]] = []
    invalid = 0
    bar_start, ts, bar_len = -1, vocab.ts_index[(4, 4)], vocab.bar_length(vocab.ts_index[(4, 4)])
    pos, after_bar = -1, False
    program, velocity = 0, vocab.velocity_value(cfg.velocity_bins // 2)
    pending = None  # [start, steps, pitch, velocity, program, its bar (index), that bar's start]
    # per bar: [length, drum notes, pitched notes, repeated?]; a note: (position in the bar,
    # steps, pitch, velocity, program)
    bars: list[list] = []
    n_used = 0

    def finish(note) -> None:
        notes.append(tuple(note[:5]))
        bars[note[5]][1 if note[4] == 128 else 2].append((note[0] - note[6], *note[1:5]))

    for f, v in zip(fam.tolist(), val.tolist()):
        n_used += 1
        if f != F_DUR and pending is not None:
            if pending[1] > 0:
                finish(pending)
            else:
                invalid += 1
            pending = None
        if f == F_SPECIAL:
            if v == EOS:
                break
            if v == BAR:
                bar_start = 0 if bar_start < 0 else bar_start + bar_len
                pos, after_bar = -1, True
                bars.append([bar_len, [], [], False])
            continue  # PAD, BOS
        if f == F_TS:
            if after_bar and pos < 0 and not bars[-1][3]:
                ts, bar_len = v, vocab.bar_length(v)
                sigs.append((bar_start, v))
                bars[-1][0] = bar_len
            else:
                invalid += 1
            continue
        if f in (F_REP, F_BREP):  # this bar's drums (pitched notes): the bar k back's
            part, k = (1 if f == F_REP else 2), v + 1
            src = bars[-1 - k] if after_bar and pos < 0 and len(bars) > k else None
            if src is None or src[0] != bar_len or not src[part] or bars[-1][part] or (part == 2 and bars[-1][1]):
                invalid += 1
            else:
                for rel, steps, p, vel, prog_ in src[part]:
                    notes.append((bar_start + rel, steps, p, vel, prog_))
                bars[-1][part] = list(src[part])
                bars[-1][3] = True
            continue
        after_bar = f == F_SPECIAL
        if f == F_POS:
            opened = bar_start < 0  # no Bar yet: open the first bar here, and count the token
            if opened:
                bar_start, pos = 0, -1
                bars.append([bar_len, [], [], False])
            if v < pos or v >= bar_len:
                invalid += 1
            else:
                pos = v
                invalid += opened
        elif f == F_TEMPO:
            if pos < 0:
                invalid += 1
            else:
                tempos.append((bar_start + pos, float(vocab.tempo_centres[v])))
        elif f == F_PROG:
            program = v
        elif f == F_VEL:
            velocity = vocab.velocity_value(v)
        elif f == F_PITCH:
            if pos < 0:
                invalid += 1
            else:
                pending = [bar_start + pos, 0, v, velocity, program, len(bars) - 1, bar_start]
        elif f == F_DUR:
            if pending is None:
                invalid += 1
            else:  # a chain of Durations: at most MAX_NOTE_QUARTERS, as a file read in is
                pending[1] = min(pending[1] + v + 1, longest)
        else:  # id outside the vocabulary
            invalid += 1
    if pending is not None:
        if pending[1] > 0:
            finish(pending)
        else:
            invalid += 1

    a = np.array(notes, dtype=np.int64).reshape(-1, 5)
    score = Score(
        tpq=tpq,
        start=a[:, 0] * step,
        end=(a[:, 0] + a[:, 1]) * step,
        pitch=a[:, 2].copy(),
        velocity=a[:, 3].copy(),
        program=np.where(a[:, 4] == 128, 0, a[:, 4]),
        drum=a[:, 4] == 128,
        tempo_time=np.array([t for t, _ in tempos], np.int64) * step,
        tempo_qpm=np.array([q for _, q in tempos], np.float64),
        ts_time=np.array([t for t, _ in sigs], np.int64) * step,
        ts_num=np.array([vocab.time_sigs[i][0] for _, i in sigs], np.int64),
        ts_den=np.array([vocab.time_sigs[i][1] for _, i in sigs], np.int64),
    )
    return Decoded(score, n_tokens=n_used, n_invalid=invalid)


def transpose(ids, semitones: int, vocab: Vocab) -> np.ndarray:
    """Shift pitched notes by ``semitones``; drums are untouched.

    A note pushed outside 0-127 is folded back by whole octaves, so it keeps its pitch class.
    """
    ids = np.asarray(ids, dtype=np.int64)
    po, pp = vocab.offset["Program"], vocab.offset["Pitch"]
    is_prog = (ids >= po) & (ids < po + 129)
    last_prog = np.maximum.accumulate(np.where(is_prog, np.arange(ids.size), -1))
    drum = (last_prog >= 0) & (ids[np.maximum(last_prog, 0)] == po + 128)
    is_pitch = (ids >= pp) & (ids < pp + 128) & ~drum
    p = ids[is_pitch] - pp + semitones
    p = np.where(p > 127, p - 12 * ((p - 116) // 12), p)
    p = np.where(p < 0, p + 12 * ((11 - p) // 12), p)
    out = ids.copy()
    out[is_pitch] = pp + p
    return out


def opening(ids, vocab: Vocab, max_tokens: int, max_seconds: float) -> tuple[np.ndarray, int]:
    """The opening of a token sequence that fits in ``max_tokens`` tokens and
    ``max_seconds`` seconds, cut at a bar line (BOS kept, EOS and anything after it dropped),
    and the number of whole bars kept. A sequence that fits is returned whole. When not even
    the first bar fits, the cut falls at the token limit (or the time limit) inside it."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    end = np.flatnonzero(ids == EOS)
    ids = ids[: end[0]] if end.size else ids
    clock = Clock(vocab)
    last_bar, bars = None, 0
    for i, t in enumerate(ids.tolist()):
        if i >= max_tokens or clock.time_after(t) > max_seconds:
            return ids[: last_bar if last_bar else i], bars
        if t == BAR:
            last_bar, bars = i, bars + (last_bar is not None)
        clock.feed(t)
    return ids, bars + (last_bar is not None)


class Clock:
    """Follows a token stream and tells the time, in seconds, of the latest Position.

    Mirrors :func:`decode`'s handling of Bar, TimeSig, Position and Tempo, so a sampler
    can stop at a given length without decoding the whole sequence again.
    """

    def __init__(self, vocab: Vocab):
        self.v = vocab
        self.bar_start, self.bar_len, self.pos = -1, vocab.bar_length(vocab.ts_index[(4, 4)]), -1
        self.tempo = 120.0
        self.grid_time, self.seconds = 0, 0.0  # last position reached, in steps and seconds

    def time_after(self, tok: int) -> float:
        """Seconds at the position this token would move to (without consuming it)."""
        target = self._target(tok)
        return self.seconds if target is None else self.seconds + (target - self.grid_time) * self._spstep()

    def steps_after(self, tok: int) -> int:
        """Grid steps from the start at the position this token would move to."""
        target = self._target(tok)
        return self.grid_time if target is None else target

    def _spstep(self) -> float:
        return 60.0 / (self.tempo * self.v.cfg.resolution)

    def _target(self, tok: int):
        off = self.v.offset
        if tok == BAR:
            return 0 if self.bar_start < 0 else self.bar_start + self.bar_len
        if off["Position"] <= tok < off["Tempo"] and self.bar_start >= 0:
            p = tok - off["Position"]
            if self.pos <= p < self.bar_len:
                return self.bar_start + p
        return None

    def feed(self, tok: int) -> None:
        off = self.v.offset
        target = self._target(tok)
        if target is not None:
            self.seconds += (target - self.grid_time) * self._spstep()
            self.grid_time = target
            if tok == BAR:
                self.bar_start, self.pos = target, -1
            else:
                self.pos = tok - off["Position"]
        elif off["TimeSig"] <= tok < off["Position"] and self.pos < 0 and self.bar_start >= 0:
            self.bar_len = self.v.bar_length(tok - off["TimeSig"])
        elif off["Tempo"] <= tok < off["Program"] and self.pos >= 0:
            self.tempo = float(self.v.tempo_centres[tok - off["Tempo"]])
