"""Which tokens may come next: the token language's grammar, for a sampler.

:class:`Grammar` follows a token stream exactly as :func:`~musicrnn.codec.tokens.decode`
reads it and says, before each draw, which tokens keep the piece valid: a TimeSig only
straight after Bar, Positions only forward inside the bar, a Pitch always followed by its
Duration, no note before the first Position, no note longer than the decoder keeps
(``MAX_NOTE_QUARTERS``: a chain of Durations ends there). A sampler that draws only allowed tokens
writes no invalid token, whatever the model or the primer.

It also keeps a band a band. The instruments a piece may play are fixed once known:

* ``programs`` given (the user's choice, or a primer's instruments): only those;
* else, for a piece with an instruments header (``CodecConfig.instruments_header``), the
  instruments its header declares: the model picks its band up front (in the header's
  order, at least one), then cannot start another program mid-piece;
* else any program (a model trained before headers existed, with no primer).

A ``DrumRepeat_k`` (``CodecConfig.drum_repeats``) may come only straight after a Bar (or
its TimeSig), in a band with drums, naming a bar k back of the same length that had drums;
after it the bar has its drums and no drum note may follow in it. ``BarRepeat_k``
(``bar_repeats``) likewise for the pitched notes, before any DrumRepeat.

An instrument asked for (``programs``) is heard: from the second bar on, an instrument of
the band that has not played yet has its Program token drawn ``SILENT_BOOST`` times likelier
per bar it has waited (at most ``SILENT_MAX``; :meth:`Grammar.weights`), until it plays. A
model asked for an unusual band otherwise often left one out: `checkpoints/band` asked for
piano, bass and drums played no drums in 3 of 12 pieces of 30 s (seeds 0-11), and with
this in none (one of them entered only at quarter note 15, with one hit: the instrument
is heard; whether it keeps playing is the model's).

A band the model declares itself may have its drums weighed: ``drums_weight`` draws the
header's drum Program token that much likelier than the model has it (1: as the model has
it). ``train`` fits it to the folder (``tasks.music.tune_sampling``), so that a folder of
songs with drums gets drums in its samples as often.

Program keys are General MIDI programs 0-127 and 128 for drums.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .midi import MAX_NOTE_QUARTERS
from .tokens import header_rank
from .vocab import BAR, BOS, EOS, Vocab

DRUMS = 128
SILENT_BOOST, SILENT_MAX = 10.0, 1e6


class Grammar:
    """One row's grammar state: ``feed`` each token (the prompt's too), ask ``allowed``."""

    def __init__(self, vocab: Vocab, programs: Iterable[int] | None = None, drums_weight: float = 1.0):
        self.v = vocab
        off = vocab.offset
        self.po, self.pp, self.n_pos = off["Program"], off["Pitch"], vocab.max_position
        self.lock = None if programs is None else frozenset(int(p) for p in programs)
        if self.lock is not None and not self.lock:
            raise ValueError("a band needs at least one instrument")
        self.header = vocab.cfg.instruments_header
        self._drums_w = None  # the header's weights (V,) when drums_weight is not 1 and the model picks its band
        if drums_weight != 1.0 and self.header and self.lock is None:
            self._drums_w = np.ones(vocab.size)
            self._drums_w[self.po + DRUMS] = drums_weight
        self.in_header = False  # between BOS and the first Bar of a piece with a header
        self.declared: list[int] = []
        self.bar_start, self.pos, self.after_bar = -1, -1, False
        self.bar_len = vocab.bar_length(vocab.ts_index[(4, 4)])
        self.n_rep = {"d": vocab.cfg.drum_repeats, "p": vocab.cfg.bar_repeats}
        self.rep0 = {"d": off["DrumRepeat"], "p": off["BarRepeat"]}
        self.bars: list[list] = []  # [length, had drums, had pitched notes] of each bar so far, the current one last
        self.played: set[int] = set()  # the programs that have played a note (repeats copy notes already played)
        self.copied = {"d": False, "p": False}  # this bar's drums (pitched notes) came from a repeat
        self.program = 0
        self.fresh = True  # no Program token since the header: the first note's may repeat the last declared
        self.pending = 0  # 1: a Pitch waits for its Duration; 2: a full Duration may chain on
        self.held = 0  # grid steps of the note being written, so far
        self.last = None  # (program, pitch, a repeat?) of the last note at this onset: the next comes after it
        self.prev = ""  # the family of the token before: "Position", "Program", "Velocity" or ""
        self._cache: dict[tuple, np.ndarray] = {}
        self._stand_in_cache: dict[frozenset, np.ndarray] = {}
        V = vocab.size
        fam = {f: np.zeros(V, bool) for f in off}
        for f in off:
            fam[f][vocab.family_range(f)] = True
        self._fam = fam
        self._dmax = off["Duration"] + vocab.max_duration - 1
        self._longest = MAX_NOTE_QUARTERS * vocab.cfg.resolution

    # --- state ------------------------------------------------------------------------
    def band(self) -> frozenset | None:
        """The programs notes may use now (None: any)."""
        if self.lock is not None:
            return self.lock
        if self.header and not self.in_header and self.declared:
            return frozenset(self.declared)
        return None

    def feed(self, tok: int) -> None:
        v, off = self.v, self.v.offset
        if tok == BOS:
            self.in_header, self.fresh = self.header, True
            self.declared = []
            return
        f = v.family(tok) if 0 <= tok < v.size else None
        if f == "Duration":
            self.held = self.held + tok - off["Duration"] + 1 if self.pending else 0
            # a chain stops where the decoder stops adding (a note of MAX_NOTE_QUARTERS): a
            # model that keeps asking for more length cannot loop here forever
            self.pending = 2 if (self.pending and tok == self._dmax and self.held < self._longest) else 0
            self.prev = ""
            return
        self.pending = 0
        self.prev = f if f in ("Position", "Program", "Velocity") else ""
        if self.in_header and f == "Program":
            self.declared.append(tok - self.po)
            self.program = tok - self.po
            return
        if tok == BAR:
            self.in_header = False
            self.bar_start = 0 if self.bar_start < 0 else self.bar_start + self.bar_len
            self.pos, self.after_bar, self.last = -1, True, None
            self.bars.append([self.bar_len, False, False])
            self.copied = {"d": False, "p": False}
            return
        if tok == EOS or f is None or f == "special":
            return
        if f == "TimeSig":
            if self.after_bar and self.pos < 0 and not any(self.copied.values()):
                self.bar_len = v.bar_length(tok - off["TimeSig"])
                self.bars[-1][0] = self.bar_len
            return
        if f in ("DrumRepeat", "BarRepeat"):  # the bar stays at its start
            kind = "d" if f == "DrumRepeat" else "p"
            if tok - self.rep0[kind] + 1 in self._repeats(kind):
                self.bars[-1][1 if kind == "d" else 2] = True
                self.copied[kind] = True
            return
        self.after_bar = False
        if f == "Position":
            if self.bar_start < 0:
                self.bar_start, self.pos = 0, -1
                self.bars.append([self.bar_len, False, False])
                self.copied = {"d": False, "p": False}
            p = tok - off["Position"]
            if self.pos <= p < self.bar_len:
                self.pos, self.last = p, None
        elif f == "Program":
            self.program, self.fresh = tok - self.po, False
        elif f == "Pitch" and self.pos >= 0:
            self.pending, self.held = 1, 0
            self.bars[-1][1 if self.program == DRUMS else 2] = True
            self.played.add(self.program)
            note = (self.program, tok - self.pp)
            self.last = note + (self.last is not None and self.last[:2] == note,)

    def weights(self) -> np.ndarray | None:
        """Per-token weights (V,) for the next draw (None: none): in a header the model
        writes, the drums' ``drums_weight`` until it has declared them; the Program tokens of
        the asked-for instruments that have not played yet, from the second bar on (see the
        module's docstring)."""
        if self.in_header and self._drums_w is not None and DRUMS not in self.declared:
            return self._drums_w
        if self.lock is None or len(self.bars) < 2:
            return None
        silent = self.lock - self.played
        if not silent:
            return None
        w = np.ones(self.v.size)
        w[[self.po + p for p in silent]] = min(SILENT_BOOST ** (len(self.bars) - 1), SILENT_MAX)
        return w

    def feed_all(self, ids) -> "Grammar":
        for t in np.asarray(ids, dtype=np.int64).ravel().tolist():
            self.feed(t)
        return self

    def _repeats(self, kind: str) -> tuple:
        """The k of the DrumRepeat (``kind`` "d") or BarRepeat ("p") tokens that may come
        now: at a bar's start, the drums (pitched notes) not there yet, naming a bar of this
        length that had them; a BarRepeat only before any DrumRepeat."""
        if not (self.n_rep[kind] and self.after_bar and self.pos < 0 and self.bar_start >= 0):
            return ()
        if self.copied[kind] or (kind == "p" and self.copied["d"]):
            return ()
        band = self.band()
        if band is not None and ((DRUMS not in band) if kind == "d" else not (band - {DRUMS})):
            return ()
        n, col = len(self.bars), 1 if kind == "d" else 2
        return tuple(k for k in range(1, self.n_rep[kind] + 1)
                     if k < n and self.bars[n - 1 - k][0] == self.bar_len and self.bars[n - 1 - k][col])

    # --- what may come next -------------------------------------------------------------
    def allowed(self) -> np.ndarray:
        """Boolean mask over the vocabulary: the tokens that keep the piece valid (and the
        band kept). Never empty."""
        r = self.route()
        return r == np.arange(r.size)

    def route(self) -> np.ndarray:
        """Where each token's probability goes (int array over the vocabulary): to itself
        when allowed; a program outside the band to the band's nearest instrument (the model
        asks for a change of instrument: it gets one the band has) when that one may come
        next; -1: nowhere."""
        band = self.band()
        key = (self.pending, self.in_header, tuple(self.declared[-1:]), self.bar_start >= 0,
               self.after_bar and self.pos < 0, self.pos, self.bar_len, self.program, self.fresh, self.last, self.prev,
               band, self._repeats("d"), self._repeats("p"), self.copied["d"], self.copied["p"])
        r = self._cache.get(key)
        if r is None:
            m = self._mask(band)
            r = np.where(m, np.arange(m.size), -1)
            if band is not None and not self.in_header and self.pending != 1:
                stand_in = self._stand_ins(band)
                out = stand_in != self.po + np.arange(DRUMS + 1)  # programs the band lacks
                r[self.po:self.po + DRUMS + 1][out] = np.where(m[stand_in[out]], stand_in[out], -1)
                if self.pos >= 0 and self.program not in band and self.prev not in ("Program", "Velocity"):
                    # a note wished for on an instrument the band lacks (a primer's, or the
                    # decoder's first): switch to the band's nearest first, then the note
                    target = int(stand_in[self.program])
                    if m[target]:
                        r[self.pp: self.pp + 128] = target
                        r[self.v.family_range("Velocity").start: self.v.family_range("Velocity").stop] = target
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = r
        return r

    def _stand_ins(self, band) -> np.ndarray:
        """Token id standing in for each program key 0..128 under ``band``: itself when the
        band has it, else the band's :func:`nearest` (computed once per band)."""
        got = self._stand_in_cache.get(band)
        if got is None:
            got = self._stand_in_cache[band] = np.array(
                [self.po + (p if p in band else nearest(p, band)) for p in range(DRUMS + 1)])
        return got

    def _mask(self, band) -> np.ndarray:
        """What the encoder could have written next: the grammar, and its canonical order
        (notes at one onset by instrument, then pitch, each once; Program and Velocity only
        just before a note, and only when they change; Tempo only just after a Position)."""
        fam, off = self._fam, self.v.offset
        if self.pending == 1:
            return fam["Duration"].copy()
        m = np.zeros(self.v.size, bool)
        if self.in_header:
            cfg = self.v.cfg
            last = header_rank(self.declared[-1], cfg) if self.declared else -2
            for p in range(DRUMS + 1):
                if header_rank(p, cfg) > last and (self.lock is None or p in self.lock):
                    m[self.po + p] = True
            if self.declared or not m.any():
                m[BAR] = True
            return m
        if self.pending == 2:
            m[self._dmax - self.v.max_duration + 1: self._dmax + 1] = True
        note_ok = (self.pos >= 0 and (band is None or self.program in band)
                   and not self.copied["d" if self.program == DRUMS else "p"])
        lo_pitch = 0
        if self.last is not None and self.last[0] == self.program:
            # the next note of this instrument at this onset is higher, or the same once more
            # (a real file may hold one note twice at one onset, with two lengths)
            lo_pitch = self.last[1] + (1 if self.last[2] else 0)
        if self.prev in ("Program", "Velocity"):  # a note must follow
            if note_ok and lo_pitch < 128:
                m[self.pp + lo_pitch: self.pp + 128] = True
            if self.prev == "Program":
                m |= fam["Velocity"]
            if not m.any():  # an instrument that cannot play here: let the piece move on
                m[BAR] = True
            return m
        m[BAR] = m[EOS] = True
        if self.bar_start >= 0 and self.after_bar and self.pos < 0:
            if not any(self.copied.values()):
                m |= fam["TimeSig"]
            for kind in ("d", "p"):
                for k in self._repeats(kind):
                    m[self.rep0[kind] + k - 1] = True
        if self.bar_start >= 0:
            lo = off["Position"] + max(self.pos + 1, 0)
            m[lo: off["Position"] + min(self.bar_len, self.n_pos)] = True
        if self.pos >= 0:
            if self.prev == "Position":
                m |= fam["Tempo"]
            m |= fam["Velocity"]
            if note_ok and lo_pitch < 128:
                m[self.pp + lo_pitch: self.pp + 128] = True
            floor = -1 if self.last is None else self.last[0]  # instruments at one onset ascend
            ok = np.arange(DRUMS + 1) > floor
            if not self.fresh:
                ok[self.program] = False
            if self.copied["d"]:  # this bar's drums are there already
                ok[DRUMS] = False
            if self.copied["p"]:  # and its pitched notes
                ok[:DRUMS] = False
            if band is not None:
                ok &= np.isin(np.arange(DRUMS + 1), list(band))
            m[self.po:self.po + DRUMS + 1] = ok
        return m


def nearest(program: int, band) -> int:
    """The band's stand-in for ``program``: drums for drums; for a pitched program one of
    the same General MIDI family (piano, bass, strings ...), else the closest number;
    drums only when the band has nothing else."""
    pitched = sorted(p for p in band if p != DRUMS)
    if program == DRUMS:
        return DRUMS if DRUMS in band else pitched[0]
    if not pitched:
        return DRUMS
    return min(pitched, key=lambda q: (q // 8 != program // 8, abs(q - program), q))


class Grammars:
    """A batch of rows' grammars, for ``core.sample.sample``'s ``grammar``: each row starts
    from the same prompt."""

    def __init__(self, vocab: Vocab, prompt, n: int, programs: Iterable[int] | None = None, drums_weight: float = 1.0):
        programs = None if programs is None else list(programs)
        self.rows = [Grammar(vocab, programs, drums_weight).feed_all(prompt) for _ in range(n)]

    def route(self, row: int) -> np.ndarray:
        return self.rows[row].route()

    def feed(self, row: int, tok: int) -> None:
        self.rows[row].feed(tok)

    def weights(self, row: int) -> np.ndarray | None:
        return self.rows[row].weights()
