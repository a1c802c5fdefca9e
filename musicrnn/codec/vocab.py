"""The token vocabulary: names, integer ids and one printable character per token.

Token families, in id order (default sizes for ``resolution=12``):

=============  =====  ==========================================================
family         count  meaning
=============  =====  ==========================================================
special        4      PAD, BOS (piece starts), EOS (piece ends), Bar (next bar)
TimeSig        44     n/2 (n<=4), n/4 (n<=8), n/8 (n<=16), n/16 (n<=16)
Position       96     onset inside the bar, in grid steps (``resolution`` a quarter)
Tempo          64     geometric bins, 24-320 quarter notes a minute
Program        129    General MIDI program 0-127, then Drums
Velocity       16     bins of 8 (1-7, 8-15, ... 120-127)
Pitch          128    MIDI pitch 0-127 (a drum's pitch is its kit piece)
Duration       48     1..48 grid steps; longer notes chain several Duration tokens
DrumRepeat     0      ``drum_repeats`` (band models: 8): this bar's drums are those of
                      the bar k back, exactly (k = 1..drum_repeats)
BarRepeat      0      ``bar_repeats``: this bar's pitched notes are those of the bar k
                      back, exactly, instruments included (k = 1..bar_repeats)
=============  =====  ==========================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from ..presets import CODECS

SPECIALS = ("PAD", "BOS", "EOS", "Bar")
PAD, BOS, EOS, BAR = range(4)


@dataclass(frozen=True)
class CodecConfig:
    """How music becomes tokens. Stored with every checkpoint."""

    resolution: int = 12  # grid steps per quarter note: 16ths (3) and 8th triplets (4)
    max_bar_quarters: int = 8  # longest bar that Position tokens can address
    tempo_bins: int = 64
    tempo_min: float = 24.0
    tempo_max: float = 320.0
    velocity_bins: int = 16
    max_duration_quarters: int = 4  # one Duration token covers up to this; longer ones chain
    # a piece declares its instruments up front: BOS Program_a Program_b ... Bar (ascending,
    # drums last), and the sampler keeps to them (codec.grammar)
    instruments_header: bool = True
    # the header declares drums first (then the pitched programs ascending): whether a piece
    # has drums is its first decision, not one left until after the pitched band
    drums_first: bool = False
    # DrumRepeat_k (k = 1..drum_repeats) right after a Bar (and its TimeSig): this bar's drums
    # are exactly those of the bar k back, which has the same length. A groove that repeats
    # is then one decision per bar instead of every hit copied; 0: no such tokens
    drum_repeats: int = 0
    # BarRepeat_k (k = 1..bar_repeats), the same for the bar's pitched notes (every
    # instrument's): a tune's repeated phrase is one decision per bar
    bar_repeats: int = 0

    # what a stored config without a key meant: one written before headers existed has none
    STORED_DEFAULTS = {"instruments_header": False, "drums_first": False, "drum_repeats": 0, "bar_repeats": 0}

    @classmethod
    def from_dict(cls, d: dict) -> "CodecConfig":
        """A stored config (missing keys: ``STORED_DEFAULTS``, then the defaults)."""
        return cls(**{**cls.STORED_DEFAULTS, **{k: v for k, v in d.items() if k in cls.__dataclass_fields__}})

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "CodecConfig":
        """Raise ValueError (one line naming the field) for settings no vocabulary should be
        built from (a tempo_bins of 10^9 would take hours to list)."""
        for name, lo, hi in (("resolution", 1, 96), ("max_bar_quarters", 1, 32), ("tempo_bins", 1, 1024),
                             ("velocity_bins", 1, 128), ("max_duration_quarters", 1, 64), ("drum_repeats", 0, 16),
                             ("bar_repeats", 0, 16)):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
                raise ValueError(f"codec.{name} {v!r}: must be a whole number from {lo} to {hi}")
        for name in ("tempo_min", "tempo_max"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 1000):
                raise ValueError(f"codec.{name} {v!r}: must be a number from 1 to 1000 (quarter notes a minute)")
        for name in ("instruments_header", "drums_first"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"codec.{name} {getattr(self, name)!r}: must be true or false")
        if self.drums_first and not self.instruments_header:
            raise ValueError("codec.drums_first: only a piece with an instruments header declares drums")
        if not self.tempo_min < self.tempo_max:
            raise ValueError(f"codec.tempo_min ({self.tempo_min}) must be below codec.tempo_max ({self.tempo_max})")
        return self


def codec_named(name: str) -> CodecConfig:
    """The :class:`CodecConfig` of a name in ``CODECS`` (ValueError naming the choices)."""
    if name not in CODECS:
        raise ValueError(f"codec {name!r}: one of {', '.join(CODECS)}")
    return CodecConfig(**CODECS[name])


def _time_signatures(cfg: CodecConfig) -> list[tuple[int, int]]:
    limits = {2: 4, 4: 8, 8: 16, 16: 16}
    sigs = [(n, d) for d, top in limits.items() for n in range(1, top + 1)]
    return [(n, d) for n, d in sigs if n * 4 * cfg.resolution // d <= cfg.max_bar_quarters * cfg.resolution]


def _printable_chars(n: int) -> list[str]:
    """The first ``n`` printable, non-space characters from U+0021 on (stable forever)."""
    out, cp = [], 0x21
    while len(out) < n:
        c = chr(cp)
        if c.isprintable() and not c.isspace():
            out.append(c)
        cp += 1
    return out


class Vocab:
    """Token ids for one :class:`CodecConfig`; families are contiguous id ranges."""

    def __init__(self, cfg: CodecConfig | None = None):
        self.cfg = cfg = cfg or CodecConfig()
        self.time_sigs = _time_signatures(cfg)
        self.max_position = cfg.max_bar_quarters * cfg.resolution
        self.max_duration = cfg.max_duration_quarters * cfg.resolution
        sizes = {
            "special": len(SPECIALS),
            "TimeSig": len(self.time_sigs),
            "Position": self.max_position,
            "Tempo": cfg.tempo_bins,
            "Program": 129,
            "Velocity": cfg.velocity_bins,
            "Pitch": 128,
            "Duration": self.max_duration,
            "DrumRepeat": cfg.drum_repeats,
            "BarRepeat": cfg.bar_repeats,
        }
        self.offset: dict[str, int] = {}
        at = 0
        for fam, n in sizes.items():
            self.offset[fam] = at
            at += n
        self.size = at
        self.sizes = sizes
        # tempo bins: geometric centres; a tempo maps to the nearest centre in log space
        self.tempo_centres = np.geomspace(cfg.tempo_min, cfg.tempo_max, cfg.tempo_bins)
        self.velocity_width = 128 // cfg.velocity_bins
        self.ts_index = {ts: i for i, ts in enumerate(self.time_sigs)}

    def __len__(self) -> int:
        return self.size

    # --- families ---------------------------------------------------------------
    def family(self, tok: int) -> str:
        for fam in reversed(self.offset):
            if tok >= self.offset[fam] and self.sizes[fam]:
                return fam
        raise IndexError(tok)

    def family_range(self, fam: str) -> range:
        return range(self.offset[fam], self.offset[fam] + self.sizes[fam])

    def bar_length(self, ts_index: int) -> int:
        n, d = self.time_sigs[ts_index]
        return n * 4 * self.cfg.resolution // d

    def nearest_time_sig(self, num: int, den: int) -> int:
        """Index of ``num/den`` if supported, else of a supported one with the same bar length, else 4/4."""
        if (num, den) in self.ts_index:
            return self.ts_index[(num, den)]
        length = num * 4 * self.cfg.resolution / max(den, 1)
        for i, (n, d) in enumerate(self.time_sigs):
            if n * 4 * self.cfg.resolution / d == length:
                return i
        return self.ts_index[(4, 4)]

    def tempo_bin(self, qpm: np.ndarray) -> np.ndarray:
        lq = np.log(np.clip(qpm, self.cfg.tempo_min, self.cfg.tempo_max))
        lo = np.log(self.cfg.tempo_min)
        step = (np.log(self.cfg.tempo_max) - lo) / (self.cfg.tempo_bins - 1)
        return np.rint((lq - lo) / step).astype(np.int64)

    def velocity_bin(self, vel: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(vel) // self.velocity_width, 0, self.cfg.velocity_bins - 1)

    def velocity_value(self, b: int) -> int:
        return max(1, min(127, b * self.velocity_width + self.velocity_width // 2))

    # --- names and characters -------------------------------------------------------
    @cached_property
    def names(self) -> list[str]:
        names = list(SPECIALS)
        names += [f"TimeSig_{n}/{d}" for n, d in self.time_sigs]
        names += [f"Position_{i}" for i in range(self.max_position)]
        names += [f"Tempo_{q:.1f}" for q in self.tempo_centres]
        names += [f"Program_{i}" for i in range(128)] + ["Program_Drums"]
        names += [f"Velocity_{self.velocity_value(b)}" for b in range(self.cfg.velocity_bins)]
        names += [f"Pitch_{i}" for i in range(128)]
        names += [f"Duration_{i}" for i in range(1, self.max_duration + 1)]
        names += [f"DrumRepeat_{k}" for k in range(1, self.cfg.drum_repeats + 1)]
        names += [f"BarRepeat_{k}" for k in range(1, self.cfg.bar_repeats + 1)]
        assert len(names) == self.size
        return names

    @cached_property
    def chars(self) -> list[str]:
        return _printable_chars(self.size)

    @cached_property
    def _char_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def to_text(self, ids) -> str:
        chars = self.chars
        return "".join(chars[i] for i in np.asarray(ids).tolist())

    def from_text(self, text: str) -> np.ndarray:
        """Characters back to ids; characters outside the vocabulary become PAD."""
        idx = self._char_index
        return np.fromiter((idx.get(c, PAD) for c in text), dtype=np.int64, count=len(text))

    def describe(self, ids) -> list[str]:
        names = self.names
        return [names[i] if 0 <= i < self.size else f"<invalid {i}>" for i in np.asarray(ids).tolist()]


def read_tokens(path, vocab: Vocab, fmt: str = "auto") -> np.ndarray:
    """The ids in a file of tokens (:func:`parse_tokens`); ValueError (one line, naming the
    file) for a folder, a file that is not text, or a token not in the vocabulary."""
    from pathlib import Path

    src = Path(path)
    if src.is_dir():
        raise ValueError(f"{src}: is a folder; give a file of tokens")
    try:
        text = src.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{src}: not a text file of tokens (token names, ids or characters)") from None
    try:
        return parse_tokens(text, vocab, fmt)
    except ValueError as e:
        raise ValueError(f"{src}: {e}") from None


def parse_tokens(text: str, vocab: Vocab, fmt: str = "auto") -> np.ndarray:
    """Tokens as ``codec encode`` writes them -> ids. ``fmt``: names (one a line), ids
    (integers), text (one character a token) or auto (detected). Raises ValueError naming
    the first token that is not in the vocabulary."""
    words = text.split()
    if not words:
        raise ValueError("no tokens in this file")
    index = {n: i for i, n in enumerate(vocab.names)}
    if fmt == "auto":
        if all(w.lstrip("-").isdigit() for w in words):
            fmt = "ids"
        elif len(words) > 1 or words[0] in index:
            fmt = "names"
        else:
            fmt = "text"
    if fmt == "text":
        return vocab.from_text("".join(words))
    out = []
    for n, w in enumerate(words, 1):
        if fmt == "ids":
            try:
                i = int(w)
            except ValueError:
                raise ValueError(f"token {n}: {w!r} is not an integer id") from None
            if not 0 <= i < len(vocab):
                raise ValueError(f"token {n}: id {i} is not in the vocabulary (0..{len(vocab) - 1})")
        elif w not in index:
            raise ValueError(f"token {n}: {w!r} is not a token name (see `musicrnn codec encode`)")
        out.append(i if fmt == "ids" else index[w])
    return np.asarray(out, dtype=np.int64)
