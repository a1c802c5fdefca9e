"""The instruments header and the sampler's grammar: a band declared up front and kept,
and no invalid token whatever the model draws. On real multi-track songs (OpenMSX)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CORPORA, OPENMSX
from musicrnn.codec import BOS, EOS, CodecConfig, Vocab, decode, encode, read_midi
from musicrnn.codec.grammar import DRUMS, Grammar, Grammars, nearest
from musicrnn.codec.tokens import header_programs, programs_played, with_header
from musicrnn.core.sample import routed, sample
from musicrnn.pianoroll import instrument_keys


def _songs(k=6):
    files = sorted(OPENMSX.glob("*.mid"))
    assert files, "Debian package openttd-openmsx is missing: run `python3 -m musicrnn.install --test`"
    return [files[i] for i in np.linspace(0, len(files) - 1, k).astype(int)]


def test_a_song_declares_its_band_up_front_and_still_round_trips(vocab):
    for f in _songs():
        score = read_midi(f)
        ids = encode(score, vocab)
        keys = sorted(set(np.where(score.drum, DRUMS, score.program).tolist()))
        assert header_programs(ids, vocab) == keys == programs_played(ids, vocab)
        assert ids[len(keys) + 1] == vocab.names.index("Bar")
        d = decode(ids, vocab)
        assert d.n_invalid == 0 and d.score.n_notes == score.n_notes
    old = Vocab(CodecConfig(instruments_header=False))
    assert header_programs(encode(read_midi(f), old), old) == []
    # a checkpoint written before headers existed reads as having none
    assert CodecConfig.from_dict({"resolution": 12}).instruments_header is False


def test_the_grammar_allows_every_token_real_music_is_written_with(vocab):
    files = _songs(4) + sorted((CORPORA / "chorales").glob("*.mid"))[:2] + sorted((CORPORA / "folk").rglob("*.mid"))[:2]
    for f in files:
        ids = encode(read_midi(f), vocab).tolist()
        g = Grammar(vocab).feed_all(ids[:1])
        for i, t in enumerate(ids[1:], 1):
            assert g.allowed()[t], f"{f.name}: token {i} {vocab.names[t]} refused"
            g.feed(t)


class _Noise:
    """A 'model' that likes every token equally: the worst case for a sampler."""

    output = "softmax"

    def __init__(self, size, seed=0):
        self.size, self.rng = size, np.random.default_rng(seed)

    def start(self, prompt, n):
        return self.rng.normal(size=(n, self.size)), None

    def step(self, tokens, state):
        return self.rng.normal(size=(len(tokens), self.size)), None


def test_noise_sampled_through_the_grammar_is_valid_and_keeps_one_band(vocab):
    pieces = sample(_Noise(vocab.size), [BOS], 3, 1500, seed=0, forbid=[EOS], grammar=Grammars(vocab, [BOS], 3))
    for p in pieces:
        ids = [BOS] + p
        d = decode(ids, vocab)
        band = header_programs(ids, vocab)
        assert d.n_invalid <= 1 and d.score.n_notes > 20  # 1: a note cut by the token limit
        assert band == sorted(band) and len(band) >= 1
        assert set(programs_played(ids, vocab)) <= set(band)  # no new program mid-piece
    # without the grammar the same noise is mostly invalid
    raw = sample(_Noise(vocab.size), [BOS], 1, 1500, seed=0)[0]
    assert decode([BOS] + raw, vocab).invalid_rate > 0.3


def test_a_chosen_band_is_what_plays_and_a_primer_keeps_its_own(vocab):
    band = instrument_keys("Acoustic Bass, 0, drums")
    assert band == [0, 32, DRUMS]
    prompt = with_header([BOS], band, vocab).tolist()
    for p in sample(_Noise(vocab.size, 1), prompt, 2, 1200, seed=1, forbid=[EOS], grammar=Grammars(vocab, prompt, 2, band)):
        # at most the last note, cut by the token limit (generate() drops such a tail)
        assert set(programs_played(prompt + p, vocab)) <= set(band) and decode(prompt + p, vocab).n_invalid <= 1
    song = encode(read_midi(_songs(1)[0]), vocab)[:400]
    own = programs_played(song, vocab)
    p = sample(_Noise(vocab.size, 2), song.tolist(), 1, 800, seed=2, grammar=Grammars(vocab, song, 1, own))[0]
    assert set(programs_played(song.tolist() + p, vocab)) <= set(own)


def test_a_wish_for_another_instrument_goes_to_the_bands_nearest():
    band = [0, 33, 73, DRUMS]
    assert nearest(34, band) == 33  # fretless bass -> the band's bass
    assert nearest(1, band) == 0 and nearest(74, band) == 73 and nearest(DRUMS, band) == DRUMS
    assert nearest(DRUMS, [40]) == 40 and nearest(5, [DRUMS]) == DRUMS
    z = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    out = routed(z, np.array([0, 1, 1, -1]))
    assert np.allclose(np.exp(out[:2]), [0.1, 0.5]) and np.isneginf(out[2:]).all()
    with pytest.raises(ValueError, match="'foo'"):
        instrument_keys("flute, foo")


def test_the_band_model_plays_a_band_a_chosen_one_and_a_songs_own(tmp_path):
    """The shipped multi-track model: left alone it picks a band up front and keeps it;
    asked for instruments it plays those; continuing a real song it keeps the song's."""
    from musicrnn.shipped import shipped_checkpoint
    from musicrnn.tasks.music import sample_to_files

    band = shipped_checkpoint("band")
    own = sample_to_files(band, tmp_path / "a.mid", n=3, seconds=10, seed=0)
    for p in own["pieces"]:
        assert p["invalid_tokens"] == 0 and len(p["instruments"]) >= 2 and p["seconds"] <= 10.0
    assert any(DRUMS in p["instruments"] for p in own["pieces"])
    assert own["temperature"] == 0.6  # its own, chosen on its corpus (checkpoints/README.md)
    chosen = sample_to_files(band, tmp_path / "b.mid", n=2, seconds=10, seed=0, instruments="piano, 33, drums")
    for p in chosen["pieces"]:
        assert set(p["instruments"]) <= {0, 33, DRUMS} and p["notes"] > 10
    song = _songs(1)[0]
    kept = sample_to_files(band, tmp_path / "c.mid", seconds=5, seed=0, primer=song)
    primer = read_midi(song)
    theirs = set(np.where(primer.drum, DRUMS, primer.program).tolist())
    assert set(kept["pieces"][0]["instruments"]) <= theirs and kept["pieces"][0]["invalid_tokens"] == 0


def test_a_primer_is_scored_by_models_with_and_without_a_header(vocab):
    """primer_fit compares shipped models of both codecs: tokens move between them exactly."""
    from musicrnn.tasks.music import recode

    old = Vocab(CodecConfig(instruments_header=False))
    score = read_midi(_songs(1)[0])
    a, b = encode(score, old).tolist(), encode(score, vocab).tolist()
    assert recode(a, old, vocab) == b and recode(b, vocab, old) == a and recode(a, old, old) == a
    assert recode(a, old, Vocab(CodecConfig(resolution=8))) is None


def test_a_primer_continued_on_an_instrument_of_your_choice(tmp_path):
    """The chorale (piano) continued by the folk model on a violin: the model's wish for a
    note on the primer's instrument becomes a switch to the violin, then the note."""
    from musicrnn.tasks.music import sample_to_files

    chorale = sorted((CORPORA / "chorales").glob("*.mid"))[0]
    r = sample_to_files(None, tmp_path / "v.mid", seconds=5, seed=2, primer=chorale, instruments="violin")
    whole, primer = read_midi(tmp_path / "v.mid"), read_midi(chorale)
    added = whole.n_notes - primer.n_notes  # the continuation's notes: every one on the violin
    assert added > 3 and int((whole.program == 40).sum()) == added and r["pieces"][0]["invalid_tokens"] == 0


# --- the band codec: drums declared first, a repeated drum bar as one token ---------------
BAND = Vocab(CodecConfig(drums_first=True, drum_repeats=8))


def _drums(ids, vocab):
    """A decoded piece's drum notes, (start, end, kit piece, velocity), in order."""
    d = decode(ids, vocab).score
    return sorted(zip(d.start[d.drum].tolist(), d.end[d.drum].tolist(), d.pitch[d.drum].tolist(),
                      d.velocity[d.drum].tolist()))


def test_the_band_codec_writes_real_songs_shorter_and_gives_back_every_note():
    rep0 = BAND.offset["DrumRepeat"]
    assert BAND.names[rep0:] == [f"DrumRepeat_{k}" for k in range(1, 9)] and BAND.size == Vocab().size + 8
    assert Vocab().names == BAND.names[:rep0]  # the other tokens keep their ids
    total = {"plain": 0, "band": 0, "repeats": 0}
    for f in _songs(4):
        score = read_midi(f)
        plain, band = encode(score, Vocab()), encode(score, BAND)
        head = header_programs(band, BAND)
        assert head[0] == DRUMS and head[1:] == sorted(head[1:])  # drums declared first
        d = decode(band, BAND)
        assert d.n_invalid == 0 and d.score.n_notes == score.n_notes
        assert _drums(band, BAND) == _drums(plain, Vocab())  # every drum hit where it was
        g = Grammar(BAND).feed_all(band[:1])
        for i, t in enumerate(band[1:].tolist(), 1):
            assert g.allowed()[t], f"{f.name}: token {i} {BAND.names[t]} refused"
            g.feed(t)
        total["plain"] += plain.size
        total["band"] += band.size
        total["repeats"] += int((band >= rep0).sum())
    # a repeated groove is one token a bar: real songs get much shorter
    assert total["repeats"] > 100 and total["band"] < 0.9 * total["plain"]


def test_a_drum_repeat_only_where_it_names_a_bar_with_drums_and_then_no_more_drums():
    rep = BAND.offset["DrumRepeat"]
    po, pos, pp, dur = (BAND.offset[f] for f in ("Program", "Position", "Pitch", "Duration"))
    BAR = BAND.names.index("Bar")
    g = Grammar(BAND).feed_all([BOS, po + DRUMS, po + 33, BAR])
    assert not g.allowed()[rep:].any()  # the first bar: nothing to repeat
    g.feed_all([pos, po + 33, pp + 40, dur + 11, BAR])
    assert not g.allowed()[rep:].any()  # the bar before had no drums
    g.feed_all([pos, po + DRUMS, pp + 36, dur, BAR])
    assert g.allowed()[rep] and not g.allowed()[rep + 1:].any()  # the bar before had drums
    g.feed(rep)  # this bar's drums: the last bar's
    assert not g.allowed()[rep:].any() and not g.allowed()[BAND.names.index("TimeSig_3/4")]
    g.feed(pos + 6)
    assert not g.allowed()[po + DRUMS] and g.allowed()[po + 33]  # no drum note may follow
    g.feed_all([po + 33, pp + 40, dur + 5, BAR])
    assert g.allowed()[rep] and g.allowed()[rep + 1] and not g.allowed()[rep + 2]  # 1 and 2 back had drums
    # the decoder plays the copy, and counts a repeat in the wrong place as invalid
    ids = [BOS, po + DRUMS, BAR, pos, pp + 36, dur, pos + 12, pp + 38, dur, BAR, rep, BAR, rep + 1]
    d = decode(ids, BAND)
    assert d.n_invalid == 0 and d.score.n_notes == 6
    assert sorted(d.score.start.tolist()) == sorted(t + k * 4 * 480 for k in range(3) for t in (0, 480))
    assert decode([BOS, BAR, rep, pos, pp + 60, dur], BAND).n_invalid == 1  # nothing to repeat
    assert decode(ids[:10] + [pos, rep], BAND).n_invalid == 1  # not straight after Bar
    # a band without drums never repeats them
    g = Grammar(BAND, programs=[33]).feed_all([BOS, po + 33, BAR, pos, pp + 40, dur, BAR])
    assert not g.allowed()[rep:].any()


def test_drums_first_headers_and_a_sampled_band_piece_is_valid():
    po = BAND.offset["Program"]
    g = Grammar(BAND).feed_all([BOS])
    assert g.allowed()[po + DRUMS] and g.allowed()[po]  # drums, or a pitched program, first
    g.feed(po + DRUMS)
    assert g.allowed()[po: po + DRUMS].all() and not g.allowed()[po + DRUMS]
    g.feed(po + 40)
    assert not g.allowed()[po: po + 41].any() and g.allowed()[po + 41]
    assert with_header([BOS], [40, DRUMS, 0], BAND).tolist() == [BOS, po + DRUMS, po, po + 40]
    pieces = sample(_Noise(BAND.size, 3), [BOS], 3, 1500, seed=3, forbid=[EOS], grammar=Grammars(BAND, [BOS], 3))
    for p in pieces:
        ids = [BOS] + p
        assert decode(ids, BAND).n_invalid <= 1
        assert set(programs_played(ids, BAND)) <= set(header_programs(ids, BAND))
    # stored configs without the new keys are the codec they were written with
    assert CodecConfig.from_dict({"resolution": 12, "instruments_header": True}) == CodecConfig()
    with pytest.raises(ValueError, match="drums_first"):
        CodecConfig(instruments_header=False, drums_first=True).validate()


def test_a_primer_moves_between_the_band_codec_and_the_default():
    from musicrnn.tasks.music import recode

    score = read_midi(_songs(1)[0])
    a, b = encode(score, vocab_default := Vocab()).tolist(), encode(score, BAND).tolist()
    assert recode(a, vocab_default, BAND) == b[:-1] and recode(b, BAND, vocab_default) == a[:-1]


def test_bar_repeats_write_a_tunes_repeated_bars_as_one_token_each():
    """Folk tunes repeat whole bars 4 and 8 back (AABB): with ``bar_repeats`` each such bar
    is one token, every note comes back, and the grammar allows what the encoder writes."""
    tunes = Vocab(CodecConfig(bar_repeats=8, drum_repeats=8, drums_first=True))
    brep, drep = tunes.offset["BarRepeat"], tunes.offset["DrumRepeat"]
    assert tunes.names[brep:] == [f"BarRepeat_{k}" for k in range(1, 9)]
    files = sorted((CORPORA / "folk").rglob("*.mid"))[:40:4] + _songs(2)
    plain_n = band_n = 0
    used = set()
    for f in files:
        score = read_midi(f)
        plain, ids = encode(score, Vocab()), encode(score, tunes)
        d = decode(ids, tunes)
        assert d.n_invalid == 0 and decode(plain, Vocab()).score.n_notes == d.score.n_notes == score.n_notes
        assert sorted(zip(d.score.start.tolist(), d.score.pitch.tolist(), d.score.end.tolist())) == sorted(
            zip(*(getattr(decode(plain, Vocab()).score, k).tolist() for k in ("start", "pitch", "end"))))
        g = Grammar(tunes).feed_all(ids[:1])
        for i, t in enumerate(ids[1:].tolist(), 1):
            assert g.allowed()[t], f"{f.name}: token {i} {tunes.names[t]} refused"
            g.feed(t)
        plain_n, band_n = plain_n + plain.size, band_n + ids.size
        used |= {tunes.names[t].split("_")[0] for t in ids.tolist() if t >= drep}
    assert used == {"BarRepeat", "DrumRepeat"} and band_n < 0.8 * plain_n
    # after a BarRepeat no pitched note may follow in the bar (drums may), and no DrumRepeat
    # comes before a BarRepeat
    po, pos, pp, dur = (tunes.offset[f] for f in ("Program", "Position", "Pitch", "Duration"))
    BAR = tunes.names.index("Bar")
    g = Grammar(tunes).feed_all([BOS, po + DRUMS, po + 40, BAR, pos, po + 40, pp + 60, dur, po + DRUMS, pp + 36, dur, BAR])
    assert g.allowed()[brep] and g.allowed()[drep]
    g.feed(brep)
    assert g.allowed()[drep] and not g.allowed()[brep]
    g.feed(pos)  # the last note was a drum's: drum notes may follow at once, the flute may not come back
    assert g.allowed()[pp + 36] and not g.allowed()[po + 40]
    g.feed_all([pp + 36, dur, pos + 6])
    assert not g.allowed()[po + 40] and not g.allowed()[po + 41]
    g = Grammar(tunes).feed_all([BOS, po + DRUMS, po + 40, BAR, pos, po + 40, pp + 60, dur, po + DRUMS, pp + 36, dur, BAR, drep])
    assert not g.allowed()[brep]


def test_codec_commands_take_the_repeats_codec(tmp_path):
    from conftest import run_cli
    import json

    song = _songs(1)[0]
    r = run_cli("codec", "check", "--codec", "repeats", "-q", song)
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["match_rate"] == 1.0
    r = run_cli("codec", "encode", "--codec", "repeats", song)
    names = r.stdout.split()
    assert r.returncode == 0 and names[1] == "Program_Drums" and any(n.startswith("DrumRepeat_") for n in names)
    (tmp_path / "t.txt").write_text(r.stdout)
    r = run_cli("codec", "decode", "--codec", "repeats", tmp_path / "t.txt", "--out", tmp_path / "t.mid")
    assert r.returncode == 0 and json.loads(r.stdout)["notes"] == read_midi(song).n_notes
    assert run_cli("codec", "check", "--codec", "nope", song).returncode == 2


def test_a_note_cannot_be_lengthened_past_what_the_decoder_keeps(vocab):
    """A model that keeps asking for more length (a sampled band piece once spent 1,545 of
    its 1,702 tokens on one chain) gets a note of MAX_NOTE_QUARTERS, then must move on."""
    from musicrnn.codec.midi import MAX_NOTE_QUARTERS

    po, pos, pp, dur = (vocab.offset[f] for f in ("Program", "Position", "Pitch", "Duration"))
    full = dur + vocab.max_duration - 1
    g = Grammar(vocab).feed_all([BOS, po + 24, vocab.names.index("Bar"), pos, pp + 60])
    n = 0
    while g.allowed()[full]:
        g.feed(full)
        n += 1
    assert n * vocab.max_duration == MAX_NOTE_QUARTERS * vocab.cfg.resolution
    assert not g.allowed()[dur: dur + vocab.max_duration].any() and g.allowed()[pos + 1]
    d = decode([BOS, po + 24, vocab.names.index("Bar"), pos, pp + 60] + [full] * n, vocab)
    assert d.n_invalid == 0 and (d.score.end - d.score.start)[0] == MAX_NOTE_QUARTERS * d.score.tpq


def test_an_experiment_refuses_another_codec_rather_than_ignore_it(tmp_path):
    from conftest import run_cli

    r = run_cli("experiment", "--task", "music", "--data", CORPORA / "folk", "--out", tmp_path / "x",
                "--vary", "hidden=8,16", "--codec", "repeats")
    assert r.returncode == 2 and "musicrnn train --codec" in r.stderr and not (tmp_path / "x").exists()


def test_every_instrument_asked_for_is_heard():
    """`--instruments "piano, bass, drums"` on the band model: before, 3 of 12 pieces never
    played the drums; an asked-for instrument that has not played has its Program token
    drawn likelier each bar it waits, so every piece now has all three."""
    from musicrnn.codec import decode
    from musicrnn.codec.grammar import Grammar
    from musicrnn.pianoroll import instrument_keys
    from musicrnn.tasks import music

    from conftest import ROOT
    from musicrnn.codec.vocab import BAR

    stepper, vocab, _ = music.load_generator(ROOT / "checkpoints" / "band")
    band = instrument_keys("piano, bass, drums")
    for seed in (0, 2, 3):  # the three that had no drums
        ids = music.generate(stepper, vocab, n=1, seconds=30, seed=seed, temperature=0.6, programs=band)[0]
        assert sorted(decode(ids, vocab).score.instruments()) == sorted(band), seed
    # the weights: none without a band asked for, none in the first bar, then on the silent ones only
    g = Grammar(vocab, band).feed_all(music.band_prompt(None, vocab, band)[0])
    assert Grammar(vocab).feed_all([1]).weights() is None and g.weights() is None
    po = vocab.offset["Program"]
    for t in (vocab.offset["Position"], po + 32, vocab.offset["Velocity"], vocab.offset["Pitch"] + 40,
              vocab.offset["Duration"], BAR, BAR):  # a bass note in bar 1, then two more bars
        g.feed(t)
    w = g.weights()
    assert w[po + 0] == w[po + 128] == 100.0 and w[po + 32] == 1.0 and np.count_nonzero(w != 1) == 2
