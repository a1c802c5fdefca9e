"""The ``band`` corpus: folk tunes arranged for a small band with MMA's grooves.

Each output file is one tune from the folk collections (music21's ABC books,
converted with ``abc2midi`` exactly as for ``corpora/folk/``) plus an
accompaniment rendered by MMA (Musical MIDI Accompaniment, Debian package
``mma``) from a chord chart in one of its standard-library grooves (drums,
bass, comping).  The steps for a tune:

1. abc2midi's melody track is kept (its own channel and a program chosen per
   tune); abc2midi's own guitar-chord track is dropped.
2. The bar lines come from abc2midi's beat-stress velocities: the first note
   of every bar has velocity 105, so the most common position of those notes
   inside the bar gives the phase of the bar lines.  A tune that starts with
   a pickup (anacrusis) starts at tick 1 with the short bar, so its first full
   bar starts later; the accompaniment starts there.  Tunes whose downbeats
   disagree (irregular bars) are skipped.
3. A chord per slot (half a 4/4 or 2/2 bar, a whole 2/4, 3/4 or 6/8 bar):
   the chord symbols of the ABC tune when it has them (read back from
   abc2midi's guitar-chord track), otherwise the diatonic triad (or V7) that
   best covers the slot's melody notes weighted by duration, with a mild
   preference for I, IV and V and for I at the end.
4. MMA renders the chart (timing humanisation and note skipping off, so a
   groove's bars repeat; ``RndSeed`` fixes the rest, so output is deterministic) and its tracks are merged into the melody's file: ticks are
   rescaled to the melody's resolution (and from MMA's beats to quarters for
   6/8 grooves), shifted to the first full bar, and all drum tracks become
   one.  Tempo, key and time signature are the melody's.

The selection is deterministic: in each folk collection, tunes are taken in
the order of a hash of their output name until ``PER_COLLECTION`` are
written.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

BAND = "band"
MMA = "mma"
MMA_SEED = 2024
MMA_TIMEOUT_S = 60
PER_COLLECTION = 250  # tunes written per folk collection
MAX_SECONDS = 120.0  # longer tunes are skipped
DOWNBEAT_VELOCITY = 105  # abc2midi's default first-note-of-bar velocity (%%MIDI beat 105 95 80 1)
MIN_DOWNBEAT_AGREEMENT = 0.9  # share of bar-first notes that must sit on the common phase
MELODY_PROGRAMS = (73, 40, 0, 24, 71, 21, 56, 65, 22, 68)  # flute violin piano guitar clarinet accordion trumpet alto-sax harmonica oboe
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class Metre:
    """How a time signature is accompanied: groove list and chart layout."""

    grooves: tuple[str, ...]
    mma_beats: dict  # groove -> MMA beats per MMA bar ("Time")
    bars_per_chart_bar: int  # melody bars in one MMA bar
    slots_per_chart_bar: int  # chords in one MMA bar


_FOUR = ("Folk", "FolkWalk", "FolkRock", "FolkRockPlus", "BlueGrass", "BlueGrassClap", "8Beat", "8BeatWalk",
         "Swing", "CountrySwing", "SlowCountry", "HillCountry", "WesternSwing", "SoftRock", "50sRock",
         "PopBallad", "Ballad", "March", "March1", "Polka", "DixieMarch", "QuickStep", "Foxtrot", "Zydeco",
         "FolkBallad", "Hymn", "ShowTune")  # the last three have no drums
_THREE = ("Waltz", "WaltzWalk", "CountryWaltz", "CountryWaltz1", "JazzWaltz", "FrenchWaltz", "FrenchWaltz1",
          "RockWaltz", "VieneseWaltz", "BroadwayWaltz", "LatinWaltz", "FastWaltz")
_SIX = {"68March": 2, "68MarchPlus": 2, "Blues68": 6, "Blues68Walk": 6, "Arpeggio68": 6}  # Arpeggio68: no drums

METRES: dict[tuple[int, int], Metre] = {
    (4, 4): Metre(_FOUR, dict.fromkeys(_FOUR, 4), 1, 2),
    (2, 2): Metre(_FOUR, dict.fromkeys(_FOUR, 4), 1, 2),
    (2, 4): Metre(_FOUR, dict.fromkeys(_FOUR, 4), 2, 2),
    (3, 4): Metre(_THREE, dict.fromkeys(_THREE, 3), 1, 1),
    (6, 8): Metre(tuple(_SIX), _SIX, 1, 1),
}

# chord qualities: MMA suffix -> intervals above the root
QUALITIES = {"": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10), "dim": (0, 3, 6),
             "aug": (0, 4, 8), "maj7": (0, 4, 7, 11), "6": (0, 4, 7, 9), "m6": (0, 3, 7, 9)}
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


@dataclass
class Tune:
    """What the arrangement needs from abc2midi's file of one tune."""

    midi: object  # mido.MidiFile
    conductor: object  # mido.MidiTrack
    melody: object  # mido.MidiTrack
    notes: list  # (start, end, pitch) in ticks
    gchords: list  # (start, pitch) of abc2midi's guitar-chord notes
    tpq: int
    num: int
    den: int
    qpm: float
    sharps: int  # key signature: sharps (>0) or flats (<0)
    minor: bool


class Skip(Exception):
    """A tune that is not arranged; the message is the reason (counted in the manifest)."""


def stable_hash(text: str) -> int:
    """A hash of ``text`` that does not change between runs (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")


def groove_for(name: str, num: int, den: int) -> str:
    """The groove that accompanies output file ``name`` in metre ``num/den``."""
    grooves = METRES[(num, den)].grooves
    return grooves[stable_hash(name) % len(grooves)]


DRUMLESS_GROOVES = frozenset({"FolkBallad", "Hymn", "ShowTune", "Arpeggio68"})


# --- reading abc2midi's file ----------------------------------------------------------
def read_tune(data: bytes) -> Tune:
    import mido

    midi = mido.MidiFile(file=io.BytesIO(data))
    if midi.type == 0 and len(midi.tracks) == 1:
        conductor, melody_tracks, gchords = _split_type0(midi.tracks[0])
    elif midi.type == 1 and midi.tracks:
        conductor, melody_tracks, gchords = midi.tracks[0], [], []
        for track in midi.tracks[1:]:
            kind = next((m.text for m in track if m.type == "text"), "")
            if kind == "gchord track":
                gchords += [(t, m.note) for t, m in _timed(track) if m.type == "note_on" and m.velocity > 0]
            elif any(m.type == "note_on" for m in track):
                melody_tracks.append(track)
    else:
        raise Skip("unexpected MIDI layout")
    if len(melody_tracks) != 1:
        raise Skip("several voices" if melody_tracks else "no melody")
    melody = melody_tracks[0]
    channels = {m.channel for m in melody if m.type in ("note_on", "note_off")}
    if channels != {0}:
        raise Skip("melody not on channel 1")
    sigs = [(m.numerator, m.denominator) for m in conductor if m.type == "time_signature"]
    tempos = {m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"}
    keys = [m for m in conductor if m.type == "key_signature"]
    if len(set(sigs)) != 1 or len(tempos) != 1:
        raise Skip("metre or tempo changes")
    if (sigs[0][0], sigs[0][1]) not in METRES:
        raise Skip(f"metre {sigs[0][0]}/{sigs[0][1]}")
    sharps, minor = _key(keys[0].key) if keys else (0, False)
    return Tune(midi, conductor, melody, _notes(melody), gchords, midi.ticks_per_beat, *sigs[0],
                60e6 / tempos.pop(), sharps, minor)


def _split_type0(track):
    """abc2midi's type-0 file (one voice, no chords) -> (conductor, [melody], gchords)."""
    import mido

    conductor, melody, gchords = mido.MidiTrack(), mido.MidiTrack(), []
    last = {"c": 0, "m": 0}
    for t, m in _timed(track):
        if m.type == "end_of_track":
            continue
        if m.is_meta and m.type != "track_name":
            conductor.append(m.copy(time=t - last["c"]))
            last["c"] = t
        elif m.is_meta or getattr(m, "channel", None) == 0:
            melody.append(m.copy(time=t - last["m"]))
            last["m"] = t
        elif m.type == "note_on" and m.velocity > 0:
            gchords.append((t, m.note))
    end = sum(m.time for m in track)
    conductor.append(mido.MetaMessage("end_of_track", time=end - last["c"]))
    melody.append(mido.MetaMessage("end_of_track", time=end - last["m"]))
    return conductor, [melody], gchords


def _timed(track):
    t = 0
    for msg in track:
        t += msg.time
        yield t, msg


def _notes(track) -> list[tuple[int, int, int]]:
    """(start, end, pitch) of every note, in ticks."""
    open_, out = {}, []
    for t, m in _timed(track):
        if m.type == "note_on" and m.velocity > 0:
            open_.setdefault(m.note, []).append((t, m.velocity))
        elif m.type in ("note_off", "note_on") and open_.get(m.note):
            start, _ = open_[m.note].pop(0)
            out.append((start, t, m.note))
    return sorted(out)


def _key(name: str) -> tuple[int, bool]:
    """mido key name (``'G'``, ``'Em'``, ``'Bb'``) -> (sharps, minor)."""
    minor = name.endswith("m")
    root = name[:-1] if minor else name
    pc = SHARP_NAMES.index(root) if root in SHARP_NAMES else FLAT_NAMES.index(root)
    major_pc = (pc + 3) % 12 if minor else pc
    sharps = (major_pc * 7) % 12  # position on the circle of fifths
    return (sharps - 12 if sharps > 6 else sharps), minor


# --- bar lines ------------------------------------------------------------------------
def downbeat_phase(tune: Tune) -> int:
    """Tick of the first bar line (0 <= phase < bar length), from abc2midi's stress velocities.

    Notes before it form the pickup; a tune that opens with rests has its
    first bar line before its first note, and the band starts there.
    """
    bar = bar_ticks(tune)
    onsets = [t for t, m in _timed(tune.melody) if m.type == "note_on" and m.velocity == DOWNBEAT_VELOCITY]
    if len(onsets) < 4:
        raise Skip("no beat-stress velocities")
    phase, count = Counter(t % bar for t in onsets).most_common(1)[0]
    if count < MIN_DOWNBEAT_AGREEMENT * len(onsets):
        raise Skip("irregular bars")
    return phase


def bar_ticks(tune: Tune) -> int:
    return tune.num * 4 * tune.tpq // tune.den


# --- chords ---------------------------------------------------------------------------
def _chord_tones(root: int, quality: str) -> frozenset:
    return frozenset((root + i) % 12 for i in QUALITIES[quality])


def _candidates(tune: Tune) -> tuple[list[tuple[int, str, float]], int]:
    """Diatonic chords (root, quality, bonus) and the tonic pitch class.

    The scale comes from the key signature; the tonic is the last melody note's
    pitch class when it is in the scale (folk tunes end on their final), else
    the key signature's tonic.  I, IV and V (of that tonic) get a small bonus;
    V7 is offered when the V triad is major.
    """
    major_tonic = (tune.sharps * 7) % 12
    scale = [(major_tonic + s) % 12 for s in MAJOR_SCALE]
    last = tune.notes[-1][2] % 12
    tonic = last if last in scale else (major_tonic + 9) % 12 if tune.minor else major_tonic
    out = []
    for i, root in enumerate(scale):
        third, fifth = scale[(i + 2) % 7], scale[(i + 4) % 7]
        if (fifth - root) % 12 != 7:
            continue  # diminished triad
        quality = "" if (third - root) % 12 == 4 else "m"
        degree = (root - tonic) % 12
        bonus = 0.15 if degree in (0, 5, 7) else 0.0
        out.append((root, quality, bonus))
        if degree == 7 and quality == "":
            out.append((root, "7", 0.05))
    return out, tonic


def estimate_chords(tune: Tune, slots: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """A (root, quality) per slot from the melody notes sounding in it."""
    candidates, tonic = _candidates(tune)
    beat = tune.tpq * 3 // 2 if tune.den == 8 else tune.tpq
    chords, previous = [], (tonic, next(q for r, q, _ in candidates if r == tonic) if any(
        r == tonic for r, _, _ in candidates) else "")
    for k, (lo, hi) in enumerate(slots):
        weights = Counter()
        for start, end, pitch in tune.notes:
            overlap = min(end, hi) - max(start, lo)
            if overlap > 0:
                accent = 1.5 if (start - lo) % beat == 0 else 1.0
                weights[pitch % 12] += accent * overlap / tune.tpq
        total = sum(weights.values())
        if total == 0:
            chords.append(previous)
            continue
        last = k == len(slots) - 1
        best, best_score = previous, None
        for root, quality, bonus in candidates:
            tones = _chord_tones(root, quality)
            cover = sum(w for pc, w in weights.items() if pc in tones) / total
            score = cover + bonus + (0.05 if (root, quality) == previous else 0.0)
            if quality == "7":
                score -= 0.1 if (root + 10) % 12 not in weights else 0.0
            if last and root == tonic and quality != "7":
                score += 0.3
            if best_score is None or score > best_score + 1e-9:
                best, best_score = (root, quality), score
        chords.append(best)
        previous = best
    return chords


def symbol_chords(tune: Tune, slots: list[tuple[int, int]]) -> list[tuple[int, str]] | None:
    """The ABC chord symbols, as abc2midi played them: the chord struck first in each slot."""
    if not tune.gchords:
        return None
    chords, previous = [], None
    for lo, hi in slots:
        first = next((t for t, _ in tune.gchords if lo <= t < hi), None)
        if first is None:
            chords.append(previous)
            continue
        window = [p for t, p in tune.gchords if first <= t < min(hi, first + tune.tpq)]
        previous = identify_chord(window) or previous
        chords.append(previous)
    if chords and chords[0] is None:
        first_known = next((c for c in chords if c is not None), None)
        if first_known is None:
            return None
        chords = [c if c is not None else first_known for c in chords]
    return chords


def identify_chord(pitches: list[int]) -> tuple[int, str] | None:
    """(root, quality) whose tones best match a set of sounding pitches; the bass breaks ties."""
    if not pitches:
        return None
    pcs, bass = {p % 12 for p in pitches}, min(pitches) % 12
    best, best_score = None, None
    for root in range(12):
        for quality in QUALITIES:
            tones = _chord_tones(root, quality)
            score = (len(tones & pcs) - len(tones ^ pcs), root == bass, -len(tones))
            if best_score is None or score > best_score:
                best, best_score = (root, quality), score
    return best


def chord_name(chord: tuple[int, str], sharps: int) -> str:
    root, quality = chord
    return (FLAT_NAMES if sharps < 0 else SHARP_NAMES)[root] + quality


# --- MMA ------------------------------------------------------------------------------
def mma_source(groove: str, qpm: float, beats: int, chart: list[list[str | None]]) -> str:
    """An MMA song: seed, tempo, groove, one line per MMA bar (a chord or '/' per beat).

    The grooves' timing humanisation (RTime) and random note skipping (RSkip) are off: a
    groove's bars then repeat exactly, as a band's patterns do in a MIDI file (with them on,
    no drum bar of a Folk groove repeated an earlier one; with them off, 7 of 8 did)."""
    lines = [f"RndSeed {MMA_SEED}", f"Tempo {round(qpm)}", f"Groove {groove}", "AllTracks RTime 0",
             "AllTracks RSkip 0", "AllTracks RVolume 0"]
    for number, bar in enumerate(chart, start=1):
        tokens = []
        for beat in range(beats):
            tokens.append(bar[beat] if beat < len(bar) and bar[beat] else "/")
        lines.append(f"{number} " + " ".join(tokens))
    return "\n".join(lines) + "\n"


def render_mma(source: str, tmp: Path) -> bytes:
    """Run mma on ``source`` in ``tmp``; returns the MIDI bytes or raises Skip."""
    (tmp / "band.mma").write_text(source, encoding="ascii")
    out = tmp / "band.mid"
    out.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONHASHSEED="0")
    try:
        subprocess.run([MMA, "band.mma", "-f", "band.mid"], cwd=tmp, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=MMA_TIMEOUT_S,
                       check=False, env=env)
    except subprocess.TimeoutExpired:
        raise Skip("mma timed out") from None
    if not out.exists():
        raise Skip("mma failed")
    return out.read_bytes()


# --- arranging ------------------------------------------------------------------------
@dataclass
class Arrangement:
    data: bytes
    groove: str
    pickup: bool
    symbols: bool


def arrange(name: str, abc_midi: bytes, tmp: Path) -> Arrangement:
    """One tune (abc2midi's bytes) -> band MIDI bytes; raises Skip with a reason."""
    import mido

    tune = read_tune(abc_midi)
    metre = METRES[(tune.num, tune.den)]
    end = max(e for _, e, _ in tune.notes)
    if end / tune.tpq * 60.0 / tune.qpm > MAX_SECONDS:
        raise Skip("longer than 2 minutes")
    phase = downbeat_phase(tune)
    bar = bar_ticks(tune)
    chart_bar = bar * metre.bars_per_chart_bar
    n_chart = max(1, -(-(end - phase) // chart_bar))
    slot = chart_bar // metre.slots_per_chart_bar
    slots = [(phase + k * slot, phase + (k + 1) * slot) for k in range(n_chart * metre.slots_per_chart_bar)]
    chords = symbol_chords(tune, slots)
    symbols = chords is not None
    if chords is None:
        chords = estimate_chords(tune, slots)

    h = stable_hash(name)
    groove = groove_for(name, tune.num, tune.den)
    beats = metre.mma_beats[groove]
    chart = []
    for b in range(n_chart):
        bar_tokens: list[str | None] = [None] * beats
        for s in range(metre.slots_per_chart_bar):
            chord = chords[b * metre.slots_per_chart_bar + s]
            prev = chords[b * metre.slots_per_chart_bar + s - 1] if s else None
            if s == 0 or chord != prev:
                bar_tokens[s * beats // metre.slots_per_chart_bar] = chord_name(chord, tune.sharps)
        chart.append(bar_tokens)
    acc = mido.MidiFile(file=io.BytesIO(render_mma(mma_source(groove, tune.qpm, beats, chart), tmp)))

    # MMA ticks -> melody ticks: one MMA beat is chart_bar / beats melody ticks
    scale = Fraction(chart_bar, beats * acc.ticks_per_beat)
    drum_events, tracks, used_programs = [], [], set()
    for order, track in enumerate(acc.tracks[1:]):
        events = [(t, m) for t, m in _timed(track) if not m.is_meta]
        if not any(m.type == "note_on" for _, m in events):
            continue
        channels = {m.channel for _, m in events if hasattr(m, "channel")}
        events = [(phase + int(t * scale), m) for t, m in events]
        if channels == {DRUM_CHANNEL}:
            drum_events += [(t, order, m) for t, m in events]
            continue
        if 0 in channels or DRUM_CHANNEL in channels:
            raise Skip("mma channel clash")
        used_programs |= {m.program for _, m in events if m.type == "program_change"}
        label = next((m.name for m in track if m.type == "track_name"), "") or f"MMA {order}"
        tracks.append(_track(label, [(t, order, m) for t, m in events]))
    if drum_events:
        tracks.insert(0, _track("Drums", drum_events))

    start = h // len(metre.grooves)
    program = next((MELODY_PROGRAMS[(start + i) % len(MELODY_PROGRAMS)] for i in range(len(MELODY_PROGRAMS))
                    if MELODY_PROGRAMS[(start + i) % len(MELODY_PROGRAMS)] not in used_programs),
                   MELODY_PROGRAMS[start % len(MELODY_PROGRAMS)])
    out = mido.MidiFile(type=1, ticks_per_beat=tune.tpq)
    out.tracks.append(tune.conductor)
    out.tracks.append(_melody_track(tune.melody, program))
    out.tracks.extend(tracks)
    buf = io.BytesIO()
    out.save(file=buf)
    return Arrangement(buf.getvalue(), groove, tune.notes[0][0] < phase, symbols)


def _track(name: str, events: list[tuple[int, int, object]]):
    """A track from (abs tick, source order, message): note-offs first at equal ticks.

    MMA lets a strummed string ring (its Plectrum tracks): a pitch is struck again while it
    still sounds, and one note-off ends them all, chords later. A MIDI reader makes that a
    note held until the chord changes (10% of the guitar's notes were longer than two
    bars, up to 111 quarter notes). A string struck again stops ringing, so a note-off is
    written before each re-strike, and note-offs with nothing sounding are dropped."""
    import mido

    def is_on(m) -> int:
        return int(m.type == "note_on" and m.velocity > 0)

    events = sorted(events, key=lambda e: (e[0], is_on(e[2]), e[1]))
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    sounding: set[tuple[int, int]] = set()
    for t, _, m in events:
        if m.type in ("note_on", "note_off"):
            key = (m.channel, m.note)
            if is_on(m):
                if key in sounding:
                    track.append(mido.Message("note_off", channel=m.channel, note=m.note, velocity=0, time=t - now))
                    now = t
                sounding.add(key)
            elif key in sounding:
                sounding.discard(key)
            else:
                continue
        track.append(m.copy(time=t - now))
        now = t
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _melody_track(track, program: int):
    """abc2midi's note track with its program changes replaced by ``program`` at the start."""
    import mido

    out = mido.MidiTrack()
    carry = 0
    inserted = False
    for m in track:
        if m.type == "program_change":
            carry += m.time
            continue
        if not inserted and not m.is_meta:
            out.append(mido.Message("program_change", channel=0, program=program, time=carry + m.time))
            out.append(m.copy(time=0))
            inserted, carry = True, 0
            continue
        out.append(m.copy(time=m.time + carry))
        carry = 0
    return out


# --- the collection -------------------------------------------------------------------
@dataclass(frozen=True)
class BandTask:
    """The tunes of one folk collection, tried in hash order until ``quota`` are written."""

    collection: str  # e.g. "essenFolksong"
    quota: int


def build_band(task: BandTask, dest: Path) -> dict:
    """Arrange tunes of one folk collection into ``dest``; returns counts and groove usage."""
    from .abcbooks import X_FIELD as _X_FIELD, corpus_dir as _corpus_dir, count_notes as _count_notes

    if shutil.which(MMA) is None:
        raise RuntimeError("mma not found; install it (Debian: apt install mma)")
    books = sorted(_corpus_dir().joinpath(task.collection).glob("*.abc"))
    tunes = []  # (output name, book path, X number)
    for book in books:
        numbers = sorted({int(x) for x in _X_FIELD.findall(book.read_bytes().decode("latin-1"))})
        tunes += [(f"{task.collection}_{book.stem}_{n}.mid", book, n) for n in numbers]
    tunes.sort(key=lambda t: (stable_hash(t[0]), t[0]))
    stats = {"files": 0, "bytes": 0, "tried": 0, "skipped": Counter(), "grooves": Counter(),
             "pickups": 0, "chord_symbols": 0}
    converted = {book: _convert_book(book) for book in books}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name, book, number in tunes:
            if stats["files"] >= task.quota:
                break
            stats["tried"] += 1
            data = converted[book].get(number)
            if not data:
                stats["skipped"]["abc2midi failed"] += 1
                continue
            try:
                result = arrange(name, data, tmp)
            except Skip as reason:
                stats["skipped"][str(reason)] += 1
                continue
            if _count_notes(result.data) == 0:
                stats["skipped"]["unreadable"] += 1
                continue
            (dest / name).write_bytes(result.data)
            stats["files"] += 1
            stats["bytes"] += len(result.data)
            stats["grooves"][result.groove] += 1
            stats["pickups"] += result.pickup
            stats["chord_symbols"] += result.symbols
    return stats


def _convert_book(book: Path) -> dict[int, bytes]:
    """abc2midi's files for every tune of a book, as for ``corpora/folk`` ({X number: bytes})."""
    from .abcbooks import X_FIELD as _X_FIELD, abc2midi_all as _abc2midi_all, abc2midi_one as _abc2midi_one

    text = book.read_bytes()
    numbers = sorted({int(x) for x in _X_FIELD.findall(text.decode("latin-1"))})
    with tempfile.TemporaryDirectory() as conv:
        outputs = _abc2midi_all(text, Path(conv))
        for number in numbers:
            if number not in outputs:
                data = _abc2midi_one(Path(conv), number)
                if data:
                    outputs[number] = data
    return outputs


BAND_SOURCE = ("music21/corpus/{essenFolksong,oneills1850,ryansMammoth,airdsAirs} (abc2midi melody) "
               "+ MMA standard-library grooves (/usr/share/mma/lib/stdlib)")


def mma_version() -> str:
    """MMA's version, e.g. ``21.09``."""
    out = subprocess.run([MMA, "-v"], capture_output=True, text=True, check=False)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "unknown"


def _build_one(arg: tuple[BandTask, Path]) -> tuple[str, dict]:
    task, dest = arg
    return task.collection, build_band(task, dest)


def build_band_collection(dest: Path, *, jobs: int = 1, limit: int | None = None, progress: bool = True):
    """Build ``corpora/band`` (``dest``): ``limit`` or ``PER_COLLECTION`` tunes per folk collection.

    Returns the corpora module's ``_Result`` and the manifest extras (sources,
    skip reasons, grooves, pickups).  ``jobs`` > 1 arranges the four
    collections in parallel; the output does not depend on it.
    """
    import multiprocessing

    from .abcbooks import ABC_COLLECTIONS, BAND, progress_bar as _progress_bar, Result as _Result

    if shutil.which(MMA) is None:
        raise RuntimeError("mma not found; install it (Debian: apt install mma)")
    dest.mkdir(parents=True, exist_ok=True)
    quota = PER_COLLECTION if limit is None else limit
    args = [(BandTask(name, quota), dest) for name in ABC_COLLECTIONS]
    bar = _progress_bar(len(args), progress)
    stats = {}
    if jobs <= 1:
        for arg in args:
            name, s = _build_one(arg)
            stats[name] = s
            bar.update()
    else:
        with multiprocessing.Pool(min(jobs, len(args))) as pool:
            for name, s in pool.imap_unordered(_build_one, args, chunksize=1):
                stats[name] = s
                bar.update()
    bar.close()
    ordered = [stats[name] for name in ABC_COLLECTIONS]
    written = sorted((p.name, p.stat().st_size) for p in dest.glob("*.mid"))
    skipped = Counter()
    grooves = Counter()
    for s in ordered:
        skipped.update(s["skipped"])
        grooves.update(s["grooves"])
    extra = {
        "per_folk_collection": {name: stats[name]["files"] for name in ABC_COLLECTIONS},
        "tunes_tried": sum(s["tried"] for s in ordered),
        "skip_reasons": dict(sorted(skipped.items())),
        "grooves": dict(sorted(grooves.items())),
        "pickups": sum(s["pickups"] for s in ordered),
        "chord_symbols": sum(s["chord_symbols"] for s in ordered),
        "mma_seed": MMA_SEED,
    }
    return _Result(BAND, written, sum(skipped.values())), extra
