"""The music task: MIDI folders -> token streams -> char-RNN -> sampled MIDI.

Sampling (:func:`load_generator`, :func:`generate`, :func:`sample_to_files`) needs no
torch: it runs on NumPy arrays read from the checkpoint, so ``musicrnn sample`` starts
in a fraction of a second. Training and scoring import torch when they are called.
``sample_to_files`` is the one function that the command line and the page both call.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import __version__
from ..codec import BOS, EOS, PAD, CodecConfig, MidiError, Vocab, decode, encode, iter_midi_files, read_midi, transpose, write_midi
from ..codec.audio import AUDIO_SUFFIXES
from ..codec.grammar import Grammars
from ..codec.tokens import Clock, header_programs, programs_played, with_header
from ..core.checkpoint import CONFIG, load_arrays, read_config
from ..core.errors import CheckpointError, DataError, SettingsError
from ..core.sample import DEFAULT_TEMPERATURE, sample
from ..shipped import default_checkpoint



@dataclass
class Corpus:
    train: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    train_files: list[str] = field(default_factory=list)
    valid_files: list[str] = field(default_factory=list)
    test_files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: "path: problem"

    @property
    def n_tokens(self) -> int:
        return int(sum(len(s) for part in (self.train, self.valid, self.test) for s in part))

    def add(self, split: str, ids: np.ndarray, rel: str) -> None:
        getattr(self, split).append(ids)
        getattr(self, f"{split}_files").append(rel)

    def move_last(self, src: str, dst: str) -> None:
        self.add(dst, getattr(self, src).pop(), getattr(self, f"{src}_files").pop())


def split_of(rel_path: str, valid_fraction: float, test_fraction: float = 0.0) -> str:
    """A file's split depends only on its path inside the folder: stable across runs and
    seeds. Validation and test take disjoint ranges of the path's hash."""
    h = zlib.crc32(rel_path.replace(os.sep, "/").encode()) % 10_000
    if h < valid_fraction * 10_000:
        return "valid"
    return "test" if h < (valid_fraction + test_fraction) * 10_000 else "train"


def load_corpus(data: str | os.PathLike, vocab: Vocab, valid_fraction: float = 0.1, test_fraction: float = 0.0,
                progress: Callable | None = None) -> Corpus:
    """Encode every MIDI file under ``data``; bad files are skipped and listed, not fatal."""
    data = Path(data)
    if not data.exists():
        raise MidiError(data, "no such file or folder")
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise SettingsError("the validation and test fractions must each be in [0, 1) and leave files to train on")
    files = iter_midi_files([data])
    if not files:
        raise MidiError(data, "no MIDI files (.mid/.midi) found here")
    corpus = Corpus()
    root = data.resolve() if data.is_dir() else None
    for f in progress(files) if progress else files:
        if root is not None and f.is_symlink() and not f.resolve().is_relative_to(root):
            corpus.skipped.append(f"{f}: a link to a file outside {data} (not followed)")
            continue
        try:
            ids = encode(read_midi(f), vocab)
        except MidiError as e:
            corpus.skipped.append(str(e) if e.path else f"{f}: {e.problem}")
            continue
        rel = str(f.relative_to(data)) if data.is_dir() else f.name
        corpus.add(split_of(rel, valid_fraction, test_fraction) if valid_fraction > 0 else "train", ids, rel)
    if not corpus.train and not corpus.valid and not corpus.test:
        raise MidiError(data, f"none of the {len(files)} MIDI files could be read")
    for split in ("valid", "test"):  # keep at least one training piece, then fill the held-out splits
        while not corpus.train and getattr(corpus, split):
            corpus.move_last(split, "train")
    if not corpus.valid and valid_fraction > 0 and len(corpus.train) > 1:  # tiny folders
        corpus.move_last("train", "valid")
    if not corpus.valid:
        corpus.add("valid", corpus.train[0], corpus.train_files[0])
    if not corpus.test and test_fraction > 0 and len(corpus.train) > 2:
        corpus.move_last("train", "test")
    return corpus


def held_out(meta: dict, split: str, data, vocab: Vocab) -> list[np.ndarray]:
    """The pieces of ``data`` in ``split`` (valid, test, or all) of a model's own division
    of that folder, as recorded in its config."""
    d = meta.get("data", {})
    valid_fraction, test_fraction = d.get("valid_fraction", 0.1), d.get("test_fraction", 0.0)
    if split == "all":
        return load_corpus(data, vocab, 0.0, 0.0).train
    if split == "test" and not test_fraction:
        raise SettingsError("this model was trained before test splits existed (it has no held-out test files); "
                            "use --split valid")
    return getattr(load_corpus(data, vocab, valid_fraction, test_fraction), split)


def transposer(vocab: Vocab, max_semitones: int):
    """Augmentation: each piece, each epoch, moves by a random -m..+m semitones (drums stay)."""
    if max_semitones <= 0:
        return None
    return lambda seq, rng: transpose(seq, int(rng.integers(-max_semitones, max_semitones + 1)), vocab)


# --- checkpoints ------------------------------------------------------------------------
def _vocab_of(path, meta: dict) -> Vocab:
    if meta.get("task") != "music":
        raise CheckpointError(f"{path}: a {meta.get('task')!r} checkpoint, not a music model")
    from ..core.settings import typed

    try:
        codec = meta.get("codec", {})
        if isinstance(codec, dict):  # written before pieces declared their instruments: no header
            codec = {**CodecConfig.STORED_DEFAULTS, **codec}
        vocab = Vocab(typed(CodecConfig, codec, "codec").validate())
    except (SettingsError, ValueError) as e:
        raise CheckpointError(f"{path}: config.json {e}") from None
    if meta.get("vocabulary") and meta["vocabulary"] != vocab.names:
        raise CheckpointError(f"{path}: its token vocabulary differs from this version's codec")
    return vocab


def output_of(meta: dict) -> str:
    """The output activation a music checkpoint was trained with (its objective's)."""
    from ..core.config import OUTPUTS

    output = (meta.get("objective") or {}).get("output", "softmax")
    if not (isinstance(output, str) and output in OUTPUTS):
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json objective.output "
                              f"{str(output)[:40]!r}: not one of {', '.join(OUTPUTS)}")
    return output


def load_generator(checkpoint: str | os.PathLike | None = None):
    """(streaming sampler, vocab, config) for a music checkpoint of any family
    (``None``: the shipped default); NumPy only, no torch."""
    from ..core.models import stepper_from_arrays

    path = Path(checkpoint) if checkpoint else default_checkpoint()
    arrays, meta = load_arrays(path)
    vocab = _vocab_of(path, meta)
    return stepper_from_arrays(arrays, meta, output_of(meta)), vocab, meta


def load_model(checkpoint: str | os.PathLike | None = None, device: str = "cpu"):
    """(torch model of the checkpoint's family, vocab, config) for a music checkpoint;
    ``None`` means the shipped default."""
    from ..core.checkpoint import load_model_state
    from ..core.models import from_checkpoint

    path = Path(checkpoint) if checkpoint else default_checkpoint()
    state, meta = load_model_state(path)
    vocab = _vocab_of(path, meta)
    return from_checkpoint(state, meta, device), vocab, meta


def objective_of(meta: dict):
    """The objective a checkpoint was trained with (scores held-out pieces exactly)."""
    from ..core.objectives import from_dict

    return from_dict(meta.get("objective"))


# --- training ---------------------------------------------------------------------------
SHORT_RUN_HINT = ("Fine-tune a shipped model instead (--init checkpoints/folk or checkpoints/chorales), "
                  "or train longer (--epochs, --steps, --minutes).")


def train_music(data, out, model_cfg: dict, train_cfg, *, family: str = "rnn", output: str = "softmax",
                valid_fraction: float = 0.1, test_fraction: float = 0.1, max_transpose: int = 5, resume: bool = False,
                force: bool = False, init: str | os.PathLike | None = None, command: str = "", progress=None,
                log=print, corpus: Corpus | None = None, codec: str | None = None, tune_pieces: int | None = None) -> dict:
    """Train a model of ``family`` (``core.models.FAMILIES``) on the MIDI under ``data``
    into the folder ``out``, predicting the next token with the output activation ``output``.

    ``init``: a music checkpoint to fine-tune (its family and model settings are used;
    those given in ``model_cfg`` must match them, except dropout). ``resume``: continue
    the run in ``out`` with exactly its settings (only ``core.runs.RESUME_MAY_CHANGE`` may differ).
    ``force``: replace a model already in ``out``. ``corpus``: the folder already encoded
    with these fractions. ``codec``: a name in ``codec.vocab.CODECS`` for a new model
    (default "default"); a fine-tuned model keeps its base's codec (with an instruments
    header), a resumed run its own. A model whose codec has repeat tokens ends by fitting
    its sampler to the folder (:func:`tune_sampling`, with ``tune_pieces`` samples per
    setting tried; None: its default, 0: skip).
    """
    from ..core import models
    from ..core.checkpoint import load_model_state
    from ..core.data import Streams
    from ..core.objectives import NextToken
    from ..core.runs import RESUME_MAY_CHANGE, prepare_out, refuse
    from .musicsettings import changed_settings, differences, run_settings
    from ..core.train import check_window, fit, main_process, resolve_device, stop_on_signals

    from dataclasses import replace

    from ..codec.vocab import codec_named

    out = Path(out)
    try:
        vocab = Vocab(codec_named(codec or "default"))  # new runs: pieces declare their instruments
    except ValueError as e:
        raise SettingsError(f"--{e}") from None
    if resume and (out / CONFIG).is_file():  # a resumed run keeps the codec it started with
        vocab = _vocab_of(out, {"task": "music", **read_config(out)})
    data_settings = {"valid_fraction": valid_fraction, "test_fraction": test_fraction, "max_transpose": max_transpose}
    init_weights, init_meta = None, None
    if init:
        init_weights, init_meta = load_model_state(init)
        base_vocab = Vocab(replace(_vocab_of(init, init_meta).cfg, instruments_header=True))
        if codec and base_vocab.cfg != vocab.cfg:
            raise SettingsError(f"--codec {codec}: a fine-tuned model keeps the codec of --init {init}; "
                                f"leave --codec out")
        if not resume:
            vocab = base_vocab
        have = models.family_of(init_meta).name
        if have != family:
            raise SettingsError(f"--init {init}: a {have} model; it cannot start a --model {family} run")
        base = {k: v for k, v in models.config_of(init_meta).to_dict().items() if k != "vocab_size"}
        shaping = [k for k in base if k != "dropout"]  # every setting but dropout shapes the weights
        diffs = differences({**base, **model_cfg}, base, shaping)
        if output != output_of(init_meta):
            diffs.append(f"output ({output_of(init_meta)!r} -> {output!r})")
        if diffs:
            raise SettingsError(f"--init {init}: a fine-tuned model keeps its shape; these differ: {', '.join(diffs)}")
        model_cfg = {**base, **{k: v for k, v in model_cfg.items() if k not in shaping}}
    if resume:
        saved = run_settings(out)
        diffs = [f"{k} ({old!r} -> {new!r})" for k, old, new in
                 changed_settings(saved, family, model_cfg, output, train_cfg, data_settings, RESUME_MAY_CHANGE)]
        init_path = str(init) if init else None
        if init_path != (saved.get("init") or {}).get("path"):
            diffs.append(f"init ({(saved.get('init') or {}).get('path')!r} -> {init_path!r})")
        refuse(out, diffs)
    if main_process():  # with torchrun, rank 0 alone touches the folder
        prepare_out(out, resume, force)
    cfg = models.make_config(family, {**model_cfg, "vocab_size": len(vocab)})
    objective = NextToken(output)
    resolve_device(train_cfg.device)
    check_window(cfg, train_cfg)
    corpus = corpus or load_corpus(data, vocab, valid_fraction, test_fraction, progress)
    with stop_on_signals():  # from here on a signal stops the run resumably (after the step in flight)
        for line in corpus.skipped:
            log(f"skipped {line}")
        log(f"{len(corpus.train)} training, {len(corpus.valid)} validation and {len(corpus.test)} test pieces, "
            f"{corpus.n_tokens:,} tokens" + (f"; {len(corpus.skipped)} files skipped" if corpus.skipped else ""))
        counts = {"train_pieces": len(corpus.train), "valid_pieces": len(corpus.valid), "test_pieces": len(corpus.test),
                  "tokens": corpus.n_tokens}
        if resume:
            changed = differences(counts, saved["data"], [k for k in counts if k in saved["data"]])
            if changed:
                raise DataError(f"{data}: the folder changed since the run started ({', '.join(changed)}); "
                                f"resuming would not continue the same run")
        meta = {"musicrnn_version": __version__, "task": "music", "codec": vocab.cfg.to_dict(),
                "vocabulary": vocab.names, "command": command,
                "data": {"folder": str(data), **counts, "skipped": len(corpus.skipped), **data_settings}}
        if init:
            meta["init"] = {"path": str(init), "weights_sha256": init_meta.get("weights_sha256")}
            if isinstance(init_meta.get("sampling"), dict):  # a fine-tuned model samples as its base did
                meta["sampling"] = dict(init_meta["sampling"])
        model = models.build(family, cfg, seed=train_cfg.seed)
        if init_weights is not None:
            model.load_state_dict(init_weights)
        batches = Streams(corpus.train, train_cfg.batch, train_cfg.bptt, seed=train_cfg.seed,
                          transform=transposer(vocab, max_transpose), primer=train_cfg.primer,
                          stateful=model.carries_state)
        test = (lambda m: {**objective.score(m, corpus.test), "pieces": len(corpus.test)}) if corpus.test else None
        summary = fit(model, objective, batches, lambda m: objective.score(m, corpus.valid), train_cfg, out,
                      test=test, meta=meta, resume=resume, valid_size=sum(len(s) for s in corpus.valid),
                      init=init is not None, short_run_hint=SHORT_RUN_HINT, progress=progress is not None, log=log)
        summary["skipped_files"] = corpus.skipped
        if (out / CONFIG).is_file() and main_process():
            record_reference_stats(out, corpus.valid, vocab)
            # against every piece of the folder, test pieces too: the samples should be like the user's
            # songs, and no score depends on the sampler (the folder's drum repeats 0.586 and scale
            # 0.917 on OpenMSX; its 28 training and validation pieces alone 0.612 and 0.925)
            summary["sampling"] = tune_sampling(out, corpus.train + corpus.valid + corpus.test, vocab, log=log,
                                                samples=tune_pieces_for(train_cfg.minutes, tune_pieces))
        return summary


# --- statistics: generated music against its corpus ---------------------------------------------
def calibration_reports(checkpoints, data, *, bins: int = 15, report=None) -> dict:
    """``musicrnn calibrate``: each checkpoint's calibration (``core.calibration``) on the
    validation split of the folder ``data`` it was trained on, keyed "name (output)"; the
    folder is encoded once per codec and split, not once per model. ``report(checkpoint,
    result)`` is called after each."""
    import json

    from ..core.calibration import calibration_report

    reports, encoded = {}, {}
    for ckpt in checkpoints:
        model, vocab, meta = load_model(ckpt)
        d = meta.get("data", {})
        key = (json.dumps(meta["codec"], sort_keys=True), d.get("valid_fraction"), d.get("test_fraction"))
        if key not in encoded:
            encoded[key] = held_out(meta, "valid", data, vocab)
        rep = calibration_report(model, encoded[key], bins=bins, output=output_of(meta))
        reports[f"{Path(ckpt).name} ({output_of(meta)})"] = rep
        if report:
            report(ckpt, rep)
    return reports


REFERENCE_PIECES = 200  # the corpus side of the comparison: 200 held-out pieces, evenly spread


def sample_stats(pieces: list[np.ndarray], vocab: Vocab) -> dict:
    """Statistics of token sequences (musicstats), averaged over the pieces."""
    from . import musicstats as ms

    return ms.summarize([ms.piece_stats(s, vocab) for s in pieces])


def reference_pieces(pieces: list) -> list:
    """``REFERENCE_PIECES`` of the held-out pieces, evenly spread over the list (all when
    there are fewer). Not the first ones: a folder's files are listed collection by
    collection, so the first 200 folk tunes are mostly one collection (Aird's airs, which
    repeat bars far more than the rest: 41% against 28% over all held-out tunes)."""
    if len(pieces) <= REFERENCE_PIECES:
        return list(pieces)
    return [pieces[i] for i in np.linspace(0, len(pieces) - 1, REFERENCE_PIECES).round().astype(int)]


def reference_stats(pieces: list[np.ndarray], vocab: Vocab, seconds: float | None = None) -> dict:
    """The corpus side of ``evaluate`` (and of the page's table): statistics of
    :func:`reference_pieces` of the given held-out pieces; with ``seconds``, of their
    :func:`openings` that long, to compare with samples of that length."""
    ref = reference_pieces(pieces)
    return sample_stats(openings(ref, vocab, seconds) if seconds else ref, vocab)


def openings(pieces: list[np.ndarray], vocab: Vocab, seconds: float) -> list[np.ndarray]:
    """Each piece cut where a sample of ``seconds`` is cut (:func:`generate`: at the first
    token that reaches ``seconds``, a trailing half note dropped), so that a corpus and its
    samples are compared like with like: a 30-s sample holds at most the first 30 s of a
    tune, and how often bars and phrases repeat grows with a piece's length (the folk
    tunes' aligned 2-bar phrases repeat 0.220 whole, 0.193 in their first 30 s)."""
    out = []
    for ids in pieces:
        ids = [int(t) for t in np.asarray(ids).ravel()]
        clock, body = Clock(vocab), []
        for t in ids[1:]:
            if t == EOS or clock.time_after(t) >= seconds:
                break
            body.append(t)
            clock.feed(t)
        out.append(np.array(ids[:1] + _whole_notes(body, vocab) + [EOS], dtype=np.int64))
    return out


def record_reference_stats(checkpoint, valid: list[np.ndarray], vocab: Vocab) -> dict:
    """Store the validation pieces' statistics in the checkpoint's config.json as
    "corpus_stats" (weights untouched), so that samples can be compared with the corpus
    without the corpus."""
    from ..core.checkpoint import update_config

    stats = reference_stats(valid, vocab)
    update_config(checkpoint, lambda meta: meta.update(corpus_stats={"split": "valid", **stats}))
    return stats


# --- fitting the sampler to the folder (the end of `train` for codecs with repeat tokens) -----------
# The README's custom-folder recipe relies on this. A model fine-tuned on a few dozen songs, sampled as its base model is, repeats the songs'
# bars less often than they do (it is unsure after each bar it draws: on OpenMSX it repeated
# a third as many drum bars as the songs), and its base's temperature suits its base's
# corpus, not necessarily the folder (OpenMSX's samples kept to one scale more tightly than
# its songs). So after training, three settings of the sampler are chosen by drawing pieces
# and comparing them with the folder's own pieces, each on the statistic it moves:
#
# - the drums' repeat weight (how much likelier ``DrumRepeat_k`` is drawn than the model has
#   it) on the share of drum bars that repeat an earlier bar;
# - the pitched bars' repeat weight (``BarRepeat_k``) on the share of pitched bars that do;
# - the temperature on scale consistency (the share of notes in the piece's best major or
#   minor scale).
#
# Pieces and samples are compared over the same length, a sample's (30 s), as a piece's
# repeat rates grow with its length. Nothing else about the samples is fitted; the other
# statistics ``evaluate`` reports are left to the model, but for one: a fourth setting, the
# drums' weight in the band a model declares, on the share of pieces with drums (below). The
# samples are drawn with their own seeds, apart from the seeds people sample with.
#
# A batch of 20 samples moves these statistics by about as much as the steps between the
# settings tried (drum repeats by ±0.05-0.07, scale consistency by ±0.015), so the choice is
# read off lines fitted through every setting drawn, each with its own seed, rather than
# taken from the one draw nearest the target: that draw flatters its setting (the README's
# run chose T 0.7 on one lucky 0.941 and then missed scale consistency in 2 of 3 batches),
# and with one seed for all settings, the same 20 bands, every setting shares that seed's luck.
TUNE_WEIGHTS = (1.0, 4.0, 16.0, 64.0)  # tried for both kinds of repeat at once, then halved and doubled
# around the model's own temperature, more of them upward: a base's own temperature is often
# colder than a small folder wants (OpenMSX from the band model's 0.6: scale consistency
# 0.96 at 0.8, 0.93 at 0.9, 0.86 at 1.0 against the songs' 0.92)
TUNE_TEMPERATURE_STEPS = (-0.2, -0.1, 0.1, 0.2, 0.3, 0.4)
TUNE_PIECES = 20  # samples per setting tried (``train --tune-pieces``)
TUNE_FULL_MINUTES = 6.0  # a time budget this long or longer gets all of them; a shorter one, its share
TUNE_SECONDS = 30.0
TUNE_MAX_SECONDS = 170.0  # the fitting's time on this machine: fewer samples per setting for a slow model or dense music
TUNE_SEED = 1_000_003
TUNE_SEED_STEP = 1009  # each setting drawn with its own seed: TUNE_SEED + TUNE_SEED_STEP x its number
TUNE_GRID = 0.05  # the temperatures the fitted lines are read at
TUNE_MIN_SLOPE = 0.05  # log odds per doubling: a repeat rate that rises less is not solved for from its line
TUNE_KINDS = {"drums": "drum_bar_repeat_rate", "bars": "bar_repeat_rate", "scale": "scale_consistency"}
# The band the model declares is left to it, but for the drums: a folder whose songs mostly
# have drums should get them in its samples as often. Whether a header model declares drums
# is one draw (with ``drums_first`` the header's first token), whose chance is computed
# exactly; the drums' weight in the header (``Grammar``'s ``drums_weight``) is the smallest of
# these that makes a batch of ``TUNE_PIECES`` samples fall short of the folder's share of
# pieces with drums less than one time in ten (``TUNE_DRUMS_SHORT``). It only ever raises drums.
TUNE_DRUMS_WEIGHTS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
TUNE_DRUMS_SHORT = 0.1


def tune_pieces_for(minutes: float | None, given: int | None = None) -> int:
    """Samples per setting the tuning draws: ``given``, else ``TUNE_PIECES``, or with a time
    budget under ``TUNE_FULL_MINUTES`` minutes its share (at least 2), so that the
    tuning's minute or two does not dwarf a short run (the page's default is 2 minutes)."""
    if given is not None:
        return given
    if minutes:
        return max(2, min(TUNE_PIECES, round(TUNE_PIECES * minutes / TUNE_FULL_MINUTES)))
    return TUNE_PIECES


def header_drums_chance(stepper, vocab: Vocab, temperature: float) -> float | None:
    """The exact chance that a piece the model starts (no primer, no band asked for)
    declares drums in its header, at ``temperature``; None when that is not one draw (a
    codec without a drums-first header)."""
    from ..core.sample import next_probs
    from ..codec.grammar import DRUMS

    if not (vocab.cfg.instruments_header and vocab.cfg.drums_first):
        return None
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        logits, _ = stepper.start([BOS], 1)
    banned = np.zeros(len(vocab), bool)
    banned[[PAD, BOS]] = True  # as generate forbids them
    p = next_probs(logits, stepper.output, banned, Grammars(vocab, [BOS], 1), temperature)[0]
    return float(p[vocab.offset["Program"] + DRUMS])


def drums_weight_for(chance: float, share: float, n: int = TUNE_PIECES, weights: Sequence[float] = TUNE_DRUMS_WEIGHTS,
                     short: float = TUNE_DRUMS_SHORT) -> tuple[float, float, float]:
    """(weight, the chance of drums under it, the chance a batch of ``n`` pieces has drums in
    at least ``share`` of them): the smallest of ``weights`` whose batch falls short with
    chance under ``short`` (else the largest), for a model that declares drums with
    ``chance``. A folder without drums (``share`` 0) keeps the model's own chance."""
    need = math.ceil(share * n - 1e-9)
    for w in weights:
        q = w * chance / (w * chance + 1.0 - chance) if chance > 0 else 0.0
        at_least = sum(math.comb(n, k) * q ** k * (1 - q) ** (n - k) for k in range(need, n + 1))
        if need == 0 or at_least >= 1.0 - short or w == weights[-1]:
            return float(w), q, at_least


def _tune_off(rate: float | None, target: float, log_ratio: bool) -> float:
    if rate is None:  # no such bar in the samples (no drums drawn, say)
        return math.inf
    return abs(math.log((rate + 0.01) / (target + 0.01))) if log_ratio else abs(rate - target)


def _tune_y(value: float, kind: str) -> float:
    """The scale a statistic is fitted on: a repeat rate's log odds (clipped to 0.5-99.5%),
    scale consistency as it is."""
    if kind == "scale":
        return float(value)
    p = min(max(float(value), 0.005), 0.995)
    return math.log(p / (1.0 - p))


def _tune_x(row: dict, kind: str) -> float:
    """The log2 weight a statistic answers to: its own kind's, for scale the two's mean."""
    if kind == "scale":
        return (math.log2(row["drums_weight"]) + math.log2(row["bars_weight"])) / 2
    return math.log2(row[f"{kind}_weight"])


def fit_response(rows: list[dict], kind: str, t0: float) -> dict | None:
    """Least squares of one statistic over every setting drawn (:func:`_tune_y` of it):
    ``y = a + b·x + c·(T-t0) + d·(T-t0)²`` with x the log2 weight (:func:`_tune_x`) and T
    the temperature, the T terms as far as the temperatures drawn allow (none for one, the
    line for two). Returns {"coef": [a, b, c, d], "rows": n}, None with fewer rows than terms.
    (A quasi-binomial fit of the repeat rates, weighing a rate near 0 less, did no better
    on simulated Simutrans-like draws: docs/benchmarks.md.)"""
    pts = [r for r in rows if r.get(kind) is not None]
    deg = min(2, len({r["temperature"] for r in pts}) - 1) if pts else 0
    if len(pts) < 2 + deg:
        return None
    X = np.array([[1.0, _tune_x(r, kind)] + [(r["temperature"] - t0) ** i for i in range(1, deg + 1)] for r in pts])
    y = np.array([_tune_y(r[kind], kind) for r in pts])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return {"coef": [float(c) for c in coef] + [0.0] * (2 - deg), "rows": len(pts)}


def _predict(fit: dict, t: float, x: float, t0: float) -> float:
    a, b, c, d = fit["coef"]
    return a + b * x + c * (t - t0) + d * (t - t0) ** 2


def _shown(y: float, kind: str) -> float:
    return y if kind == "scale" else 1.0 / (1.0 + math.exp(-y))


def choose_setting(rows: list[dict], target: dict, t0: float, max_weight: float) -> dict:
    """The setting the fitted responses (:func:`fit_response`, over all ``rows`` drawn) put
    nearest ``target``: for each temperature on a 0.05 grid over those drawn, each repeat
    kind's weight solved from its line (a power of two in half steps, 1 to ``max_weight``),
    then the temperature whose predicted scale consistency, at those weights, is nearest.
    A kind whose fitted rate does not rise with its weight keeps the weight of the drawn
    row nearest its target. Returns {"temperature", "weights": {drums, bars}, "predicted"}."""
    fits = {k: fit_response(rows, k, t0) for k in target}
    top = math.log2(max_weight)

    def x_for(kind: str, t: float) -> float:
        f = fits.get(kind)
        if f is not None and f["coef"][1] > TUNE_MIN_SLOPE:
            x = (_tune_y(target[kind], kind) - _predict(f, t, 0.0, t0)) / f["coef"][1]
            return float(np.clip(round(x * 2) / 2, 0.0, top))
        near_t = min({r["temperature"] for r in rows}, key=lambda v: abs(v - t))
        best = min((r for r in rows if r["temperature"] == near_t),
                   key=lambda r: _tune_off(r.get(kind), target[kind], True))
        return math.log2(best[f"{kind}_weight"])

    def xs_at(t: float) -> dict:  # each statistic's x at t: its kind's log2 weight, for scale the two's mean
        x = {k: x_for(k, t) if k in target else 0.0 for k in ("drums", "bars")}
        return {**x, "scale": (x["drums"] + x["bars"]) / 2}

    temps = sorted({r["temperature"] for r in rows})
    t = t0
    if "scale" in target and fits["scale"] is not None and len(temps) > 1:
        grid = [round(v, 4) for v in np.arange(temps[0], temps[-1] + 1e-9, TUNE_GRID)]
        off = [abs(_predict(fits["scale"], g, xs_at(g)["scale"], t0) - target["scale"]) for g in grid]
        t = grid[int(np.argmin(off))]
    x = xs_at(t)
    predicted = {k: round(_shown(_predict(f, t, x[k], t0), k), 4) for k, f in fits.items() if f is not None}
    return {"temperature": t, "weights": {k: round(2.0 ** x[k], 3) for k in ("drums", "bars")}, "predicted": predicted,
            "fits": {k: f for k, f in fits.items() if f is not None}}


def tune_sampling(checkpoint, pieces: list[np.ndarray], vocab: Vocab, *, samples: int = TUNE_PIECES,
                  seconds: float = TUNE_SECONDS, weights: Sequence[float] = TUNE_WEIGHTS,
                  temperature_steps: Sequence[float] = TUNE_TEMPERATURE_STEPS,
                  max_seconds: float | None = TUNE_MAX_SECONDS, log=print) -> dict | None:
    """Choose and store the checkpoint's sampling temperature and repeat weights
    (config.json ``sampling``: ``temperature``, ``repeat_weight`` {drums, bars},
    ``drums_weight``, and the record of the choice as ``tuning``) so that ``samples``
    pieces of ``seconds`` repeat bars, keep to a scale and have drums as the first
    ``seconds`` of ``pieces`` do.

    Each setting is drawn once, with its own seed, and every choice is made on all the
    settings drawn so far at once (:func:`choose_setting`: a line per statistic through
    them, :func:`fit_response`), not on the one draw nearest the target: a setting's 20
    samples move its statistics by as much as the steps between settings, and the draw
    that happens to land nearest flatters its setting. In five steps:
    1. every weight of ``weights`` for both kinds of repeat, at the model's own temperature,
       then the weights the fit puts at the pieces' rates;
    2. the temperature, the model's own plus each of ``temperature_steps``, at those
       weights, then the setting the fit over all of them chooses;
    3. that setting's weights halved and doubled at its temperature;
    4. the choice, from the fit over every setting drawn (not drawn as such);
    5. the choice drawn once more with a fresh seed: what it ``got``, unflattered by the
       choosing;
    and for a model that declares its band (drums first), the drums' weight in that header
    (``drums_weight``, :func:`drums_weight_for`), from the exact chance it declares drums
    at the chosen temperature (:func:`header_drums_chance`) and the pieces' share with drums.
    ``max_seconds``: when the first setting shows that all of them would take longer than
    that, ``samples`` is lowered in proportion (to at least 2) and the fitting starts over.
    Returns what it stored, None (storing nothing) for a codec without repeat tokens,
    ``samples=0`` or pieces without any bar to compare.
    """
    from ..core.checkpoint import update_config

    if samples <= 0 or not (vocab.cfg.drum_repeats or vocab.cfg.bar_repeats) or not pieces:
        return None
    ref = sample_stats(openings(reference_pieces(pieces), vocab, seconds), vocab)
    on = {"drums": bool(vocab.cfg.drum_repeats), "bars": bool(vocab.cfg.bar_repeats), "scale": True}
    target = {k: ref[TUNE_KINDS[k]] for k in TUNE_KINDS if on[k] and math.isfinite(ref[TUNE_KINDS[k]])}
    repeat_kinds = [k for k in ("drums", "bars") if k in target]
    if not repeat_kinds:
        return None
    stepper, _, meta = load_generator(checkpoint)
    t0 = sampling_temperature(meta)
    tried: dict[tuple, dict] = {}
    asked = samples
    max_weight = 2.0 * max(weights)

    def draw(step: int, t: float, drums: float, bars: float, again: bool = False) -> dict:
        key = (round(t, 4), float(drums), float(bars), again)
        if key not in tried:
            seed = TUNE_SEED + TUNE_SEED_STEP * len(tried)  # each setting its own draws
            gen = generate(stepper, vocab, n=samples, seconds=seconds, temperature=key[0], seed=seed,
                           repeat_weight=(drums, bars))
            st = sample_stats(gen, vocab)
            tried[key] = {"temperature": key[0], "drums_weight": key[1], "bars_weight": key[2], "seed": seed,
                          "steps": [],
                          **{k: round(st[TUNE_KINDS[k]], 4) if math.isfinite(st[TUNE_KINDS[k]]) else None for k in target}}
        if step not in tried[key]["steps"]:  # the steps (1-4, 5: the fresh draw) this setting took part in
            tried[key]["steps"].append(step)
        return tried[key]

    def fitted(step: int, drawn: bool = True) -> dict:  # the choice on every setting so far, drawn with ``step``
        c = choose_setting([r for k, r in tried.items() if not k[3]], target, t0, max_weight)
        if drawn:
            draw(step, c["temperature"], c["weights"]["drums"], c["weights"]["bars"])
        return c

    # 1. the repeat weights at the model's own temperature
    clock = time.perf_counter()
    draw(1, t0, weights[0], weights[0])
    took, settings = time.perf_counter() - clock, len(weights) + len(temperature_steps) + 6
    if max_seconds and took * settings > max_seconds and samples > 2:
        samples = max(2, int(samples * max_seconds / (took * settings)))
        tried.clear()
    for w in weights:
        draw(1, t0, w, w)
    w = fitted(1)["weights"]
    # 2. the temperature at those weights
    if "scale" in target:
        for x in sorted({round(t0 + d, 4) for d in (0.0, *temperature_steps) if t0 + d > 0.05}):
            draw(2, x, w["drums"], w["bars"])
    c = fitted(2)
    # 3. the weights halved and doubled at that temperature
    for f in (0.5, 2.0):
        draw(3, c["temperature"], c["weights"]["drums"] * f, c["weights"]["bars"] * f)
    # 4. the choice, on every setting drawn; 5. drawn again, fresh
    c = fitted(4, drawn=False)
    t, w = c["temperature"], c["weights"]
    final = draw(5, t, w["drums"], w["bars"], again=True)
    # the drums in the band the model declares, at that temperature (exact: no draw)
    share = float(ref.get("has_drums", math.nan))  # the share of the pieces' openings with drums
    chance = header_drums_chance(stepper, vocab, t)
    band = {"drums_weight": 1.0}
    if chance is not None and math.isfinite(share):
        dw, q, batch = drums_weight_for(chance, share)
        band = {"drums_weight": dw, "pieces_with_drums": round(share, 4), "drums_chance_before": round(chance, 4),
                "drums_chance": round(q, 4), "batch_reaches_share": round(batch, 4), "batch": TUNE_PIECES}
    choice = {"temperature": t, "repeat_weight": {"drums": w["drums"], "bars": w["bars"]}, **band,
              "got": {k: final[k] for k in target}, "predicted": c["predicted"],
              "target": {k: round(v, 4) for k, v in target.items()}, "fits": c["fits"],
              "pieces": len(reference_pieces(pieces)), "samples": samples, "samples_asked": asked, "seconds": seconds,
              "own_temperature_before": t0, "tried": list(tried.values())}
    update_config(checkpoint, lambda m: m.update(sampling={**(m.get("sampling") or {}), "temperature": t,
                                                            "repeat_weight": choice["repeat_weight"],
                                                            "drums_weight": band["drums_weight"],
                                                            "tuning": choice}))
    names = {"drums": "drum bars repeating", "bars": "pitched bars repeating", "scale": "scale consistency"}
    log(f"sampling fitted to {choice['pieces']} pieces' first {seconds:g} s ({len(tried) - 1} settings of {samples} "
        f"samples, then the choice drawn afresh): temperature {t:g}, repeat weight {w['drums']:g} for drums, "
        f"{w['bars']:g} for pitched bars; "
        + ", ".join(f"{names[k]} {'none' if final[k] is None else f'{final[k]:.2f}'} (pieces: {target[k]:.2f})"
                    for k in target)
        + ("" if "drums_chance" not in band else
           f"; drums in {band['drums_chance']:.1%} of the bands it declares (pieces: {band['pieces_with_drums']:.1%})"
           if band["drums_weight"] == 1 else
           f"; drums weighed {band['drums_weight']:g} in the band it declares: in {band['drums_chance_before']:.1%} "
           f"-> {band['drums_chance']:.1%} of them (pieces: {band['pieces_with_drums']:.1%})"))
    return choice


def compare_stats(generated: dict, corpus: dict | None) -> list[tuple[str, float, float | None]]:
    """Rows (metric, generated, corpus) of the numbers ``musicrnn evaluate`` reports,
    including the key-relative pitch-class distance (generated vs corpus)."""
    from . import musicstats as ms

    rows = [(m, generated[m], corpus.get(m) if corpus else None) for m in ms.METRICS]
    if corpus:
        rows.append(("pitch_class_distance", ms.pc_distance(corpus, generated), 0.0))
    return rows


def evaluation_report(checkpoint, data, *, split: str = "valid", samples: int = 20, seconds: float = 30.0,
                      temperature: float | None = None, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                      repeat_weight=None) -> dict:
    """``musicrnn evaluate``: exact bits/token on a model's held-out files of ``data``, and
    statistics of ``samples`` generated pieces of ``seconds`` against those files' first
    ``seconds`` (:func:`openings`). ``temperature=None`` and ``repeat_weight=None``:
    the checkpoint's own (:func:`sampling_temperature`, :func:`sampling_repeat_weight`)."""
    check_sampling(temperature=DEFAULT_TEMPERATURE if temperature is None else temperature, top_k=top_k, top_p=top_p, n=samples, seconds=seconds, seed=seed,
                   n_flag="--samples", repeat_weight=repeat_weight)
    if not Path(data).exists():
        raise DataError(f"{data}: no such file or folder")
    from . import musicstats as ms

    seed = new_seed() if seed is None else seed
    model, vocab, meta = load_model(checkpoint)  # torch: only once the values are known to be usable
    temperature = sampling_temperature(meta, temperature)
    refuse_idle_repeat_weight(vocab, repeat_weight, checkpoint)
    repeat_weight = sampling_repeat_weight(meta, repeat_weight)
    ref = held_out(meta, split, data, vocab)
    bits = objective_of(meta).score(model, ref)["bits_per_token"]
    ref_stats = reference_stats(ref, vocab, seconds)  # the pieces' openings as long as the samples
    gen = generate(model, vocab, n=samples, seconds=seconds, temperature=temperature, top_k=top_k, top_p=top_p,
                   seed=seed, output=output_of(meta), repeat_weight=repeat_weight,
                   drums_weight=sampling_drums_weight(meta))
    gen_stats = sample_stats(gen, vocab)
    return {"checkpoint": str(checkpoint or "default"), "data": str(data), "split": split,
            "pieces": len(ref), "tokens_scored": int(sum(len(s) - 1 for s in ref)),
            "bits_per_token": round(bits, 4), "samples": samples, "seed": seed, "temperature": temperature,
            "repeat_weight": list(repeat_weight), "pitch_class_distance": round(ms.pc_distance(ref_stats, gen_stats), 4),
            "pitch_class_distance_absolute": round(ms.pc_distance(ref_stats, gen_stats, key_relative=False), 4),
            "corpus": {k: round(v, 4) for k, v in ref_stats.items() if k in ms.METRICS},
            "corpus_pieces": min(REFERENCE_PIECES, len(ref)),
            "corpus_seconds": seconds,
            "generated": {k: round(v, 4) for k, v in gen_stats.items() if k in ms.METRICS},
            **({"note": SPLIT_ALL_NOTE} if split == "all" else {})}


SPLIT_ALL_NOTE = ("--split all scores every file of DATA, the model's training files included: its bits/token "
                  "is not a held-out figure (use --split valid or test for one)")


# --- generation -----------------------------------------------------------------------------
def sampling_temperature(meta: dict, temperature: float | None = None) -> float:
    """The temperature to sample with: ``temperature`` when given, else the checkpoint's own
    (config.json ``sampling.temperature``, chosen on its validation pieces; see
    checkpoints/README.md), else 1.0."""
    if temperature is not None:
        return temperature
    t = (meta.get("sampling") or {}).get("temperature", DEFAULT_TEMPERATURE)
    if not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 100 and math.isfinite(t)):
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json sampling.temperature "
                              f"{str(t)[:40]!r} is not a temperature (a number > 0); give --temperature")
    return float(t)


MAX_REPEAT_WEIGHT = 1000.0


def repeat_pair(weight) -> tuple[float, float]:
    """A repeat weight as (drums, pitched bars): one number is both; a pair or a config.json
    dict {"drums", "bars"} names each. Raises ValueError for anything else."""
    if isinstance(weight, dict):
        weight = (weight.get("drums"), weight.get("bars"))
    pair = (weight, weight) if not isinstance(weight, (list, tuple)) else tuple(weight)
    if len(pair) != 2 or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                                 and 0 < w <= MAX_REPEAT_WEIGHT for w in pair):
        raise ValueError(f"{str(weight)[:40]!r} is not a repeat weight (a number > 0 and at most "
                         f"{MAX_REPEAT_WEIGHT:g}, or two: drums, pitched bars)")
    return float(pair[0]), float(pair[1])


def refuse_idle_repeat_weight(vocab: Vocab, repeat_weight, checkpoint) -> None:
    """A --repeat-weight other than 1 for a model whose codec has no repeat tokens would
    change nothing: say so (SettingsError) rather than ignore it."""
    if repeat_weight is not None and not (vocab.cfg.drum_repeats or vocab.cfg.bar_repeats) \
            and repeat_pair(repeat_weight) != (1.0, 1.0):
        raise SettingsError(f"--repeat-weight: {checkpoint or 'the default model'} has no repeat tokens (its codec "
                            f"writes repeated bars out note by note), so there is nothing to weigh; models trained "
                            f"with --codec repeats have them (checkpoints/band, checkpoints/folk-repeats)")


def sampling_repeat_weight(meta: dict, repeat_weight=None) -> tuple[float, float]:
    """How much likelier than the model has them its repeat tokens are drawn, as (drums,
    pitched bars) (:func:`repeat_weights`): ``repeat_weight`` when given (one number or
    two), else the checkpoint's own (config.json ``sampling.repeat_weight``, chosen by
    ``train`` on its folder: :func:`tune_sampling`), else (1, 1): as the model has them."""
    if repeat_weight is not None:
        try:
            return repeat_pair(repeat_weight)
        except ValueError as e:
            raise SettingsError(f"--repeat-weight: {e}") from None
    try:
        return repeat_pair((meta.get("sampling") or {}).get("repeat_weight", 1.0))
    except ValueError as e:
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json sampling.repeat_weight: {e}; "
                              f"give --repeat-weight") from None


def sampling_drums_weight(meta: dict) -> float:
    """How much likelier than the model has them drums are drawn into a band the model
    declares: the checkpoint's own (config.json ``sampling.drums_weight``, chosen by
    ``train`` on its folder: :func:`tune_sampling`), else 1. A primer's band, or one asked
    for, is not weighed."""
    w = (meta.get("sampling") or {}).get("drums_weight", 1.0)
    if not (isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and 0 < w <= MAX_REPEAT_WEIGHT):
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json sampling.drums_weight "
                              f"{str(w)[:40]!r} is not a weight (a number > 0 and at most {MAX_REPEAT_WEIGHT:g})")
    return float(w)


def repeat_weights(vocab: Vocab, repeat_weight=1.0) -> np.ndarray | None:
    """The per-token weights (V,) that :func:`~musicrnn.core.sample.sample` multiplies the
    draw by: the drums' weight for ``DrumRepeat_k``, the pitched bars' for ``BarRepeat_k``
    (:func:`repeat_pair`), 1 elsewhere; None when that changes nothing."""
    drums, bars = repeat_pair(repeat_weight)
    w = np.ones(len(vocab))
    for family, n, x in (("DrumRepeat", vocab.cfg.drum_repeats, drums), ("BarRepeat", vocab.cfg.bar_repeats, bars)):
        if n:
            w[vocab.offset[family]:vocab.offset[family] + n] = x
    return None if np.all(w == 1.0) else w


def format_repeat_weight(weight) -> str:
    """'4' when drums and pitched bars share a weight, else '6 for drums, 2 for pitched bars'."""
    drums, bars = repeat_pair(weight)
    return f"{drums:g}" if drums == bars else f"{drums:g} for drums, {bars:g} for pitched bars"


def check_sampling(*, temperature: float = DEFAULT_TEMPERATURE, top_k: int = 0, top_p: float = 1.0, n: int = 1,
                   seconds: float | None = None, tokens: int | None = None, seed: int | None = None,
                   n_flag: str = "--num", repeat_weight=None) -> None:
    """Raise SettingsError (one line) for sampling settings that would silently do nothing useful."""
    if not (temperature > 0 and math.isfinite(temperature)):
        raise SettingsError(f"--temperature {temperature}: must be > 0 (near 0 is almost greedy; for greedy use --top-k 1)")
    if repeat_weight is not None:
        try:
            repeat_pair(repeat_weight)
        except ValueError as e:
            raise SettingsError(f"--repeat-weight: {e}; 1: repeats as the model has them, above 1 more, "
                                f"below 1 fewer") from None
    if top_k < 0:
        raise SettingsError(f"--top-k {top_k}: must be 0 (off) or a positive number of tokens")
    if not 0 < top_p <= 1:
        raise SettingsError(f"--top-p {top_p}: must be in (0, 1]")
    if n < 1:
        raise SettingsError(f"{n_flag} {n}: must be at least 1")
    if n > 1000:
        raise SettingsError(f"{n_flag} {n}: at most 1000 pieces at a time")
    if seed is not None and not 0 <= seed <= 2**63 - n:
        raise SettingsError(f"--seed {seed}: must be a whole number >= 0 (and below 2**63 - {n_flag})")
    if seconds is not None and not (0 < seconds <= 3600):
        raise SettingsError(f"--seconds {seconds}: must be > 0 and at most 3600")
    if tokens is not None and not (0 < tokens <= 1_000_000):
        raise SettingsError(f"--tokens {tokens}: must be > 0 and at most 1000000")


def _prompt(primer) -> list[int]:
    return [BOS] if primer is None else [BOS] + [int(t) for t in primer if t not in (BOS, EOS)]


def band_prompt(primer, vocab: Vocab, programs: Sequence[int] | None = None) -> tuple[list[int], list[int] | None]:
    """The prompt a piece starts from and the instruments its continuation may play.

    ``programs`` given: those (a header model's prompt declares them, the primer's own
    instruments too). Else a primer's instruments. Else None: with an instruments header
    the model declares its band itself."""
    prompt = _prompt(primer)
    if programs is None and primer is not None and len(prompt) > 1:
        programs = programs_played(prompt, vocab) or None
    if programs is not None:
        programs = sorted(set(int(p) for p in programs))
        if vocab.cfg.instruments_header:
            declared = set(header_programs(prompt, vocab)) | set(programs_played(prompt, vocab))
            prompt = with_header(prompt, declared | set(programs), vocab).tolist()
    return prompt, programs


def prompt_seconds(primer, vocab: Vocab) -> float:
    """Where a continuation of ``primer`` (token ids, or None) starts, in seconds: the time
    :func:`generate` counts ``seconds`` from."""
    clock = Clock(vocab)
    for t in _prompt(primer):
        clock.feed(t)
    return clock.seconds


def generate(model, vocab: Vocab, *, n: int = 1, seconds: float | None = 30.0, tokens: int | None = None,
             primer: np.ndarray | None = None, temperature: float = DEFAULT_TEMPERATURE, top_k: int = 0, top_p: float = 1.0,
             seed: int = 0, output: str = "softmax", programs: Sequence[int] | None = None,
             repeat_weight=1.0, drums_weight: float = 1.0) -> list[np.ndarray]:
    """Sample ``n`` pieces; each is the prompt (BOS [+ primer]) plus its continuation.

    Only tokens the codec's grammar allows are drawn (``codec.grammar``), so no piece holds
    an invalid token, and the band is kept: ``programs`` (program keys, 128 = drums) are
    the instruments the continuation may play; None: the primer's, or with no primer the
    ones the model declares in the piece's header (any, for a model without headers).

    ``model``: a stepper (``load_generator``) or a torch model of any family (then
    ``output`` is its objective's output activation).
    With ``seconds``, the music runs until it reaches ``seconds`` beyond the primer's
    last onset (EOS is not drawn before, so a tune that would end early goes on).
    With ``tokens`` alone, it stops at EOS or after ``tokens`` new tokens.
    ``repeat_weight``: the codec's repeat tokens are drawn that much likelier, one number
    or (drums, pitched bars) (:func:`repeat_weights`). ``drums_weight``: a band the model
    declares itself has its drums drawn that much likelier (``codec.grammar.Grammar``).
    """
    check_sampling(temperature=temperature, top_k=top_k, top_p=top_p, n=n, seconds=seconds, tokens=tokens, seed=seed,
                   repeat_weight=repeat_weight)
    if not hasattr(model, "step") or not hasattr(model, "start"):
        from ..core.models import stepper_for

        model = stepper_for(model, output)
    prompt, programs = band_prompt(primer, vocab, programs)
    clocks = [Clock(vocab) for _ in range(n)]
    for c in clocks:
        for t in prompt:
            c.feed(t)
    limit = None if seconds is None else clocks[0].seconds + seconds
    max_new = tokens if tokens is not None else int(120 * (seconds or 30) + 500)
    from ..codec.midi import MAX_NOTE_QUARTERS, MAX_PIECE_QUARTERS

    max_steps = (MAX_PIECE_QUARTERS - MAX_NOTE_QUARTERS) * vocab.cfg.resolution  # what a MIDI file may hold

    def stop(row: int, tok: int) -> bool:
        if tok == EOS:
            return True
        if limit is not None and clocks[row].time_after(tok) >= limit:
            return True
        if clocks[row].steps_after(tok) >= max_steps:
            return True
        clocks[row].feed(tok)
        return False

    forbid = [PAD, BOS] + ([EOS] if limit is not None else [])
    rows = sample(model, prompt, n, max_new, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                  stop=stop, forbid=forbid, grammar=Grammars(vocab, prompt, n, programs, drums_weight),
                  weights=repeat_weights(vocab, repeat_weight))
    return [np.array(prompt + _whole_notes(r, vocab) + [EOS], dtype=np.int64) for r in rows]


def _whole_notes(row: list[int], vocab: Vocab) -> list[int]:
    """A continuation cut by the token limit ends after its last whole note: a trailing
    Program, Velocity or Pitch (a note without its Duration) is dropped."""
    lo, hi = vocab.offset["Program"], vocab.offset["Duration"]
    end = len(row)
    while end and lo <= row[end - 1] < hi:
        end -= 1
    return row[:end]


def primer_score(path):
    """The codec Score of a primer: a MIDI file as it is, or an audio file (a hummed, sung
    or played melody) transcribed to a monophonic melody (``codec.melody``). A file whose
    name says neither is read as MIDI when it starts like one, else as audio."""
    from ..codec.midi import MIDI_SUFFIXES

    p = Path(path)
    is_midi = p.suffix.lower() in MIDI_SUFFIXES
    if not is_midi and p.suffix.lower() not in AUDIO_SUFFIXES and p.is_file():
        with open(p, "rb") as f:
            is_midi = f.read(4) == b"MThd"
    if is_midi:
        return read_midi(p)
    from ..codec.melody import transcribe_file

    return transcribe_file(p)[1]


MAX_PRIMER_TOKENS = 8192  # a primer's opening is continued: at most this many tokens ...
MAX_PRIMER_SECONDS = 600.0  # ... and this long (a 30-second folk tune is about 400 tokens)


def primer_ids(path, vocab: Vocab) -> tuple[np.ndarray, dict]:
    """A primer's tokens, cut to its opening bars that fit in ``MAX_PRIMER_TOKENS`` tokens
    and ``MAX_PRIMER_SECONDS`` seconds (:func:`~musicrnn.codec.tokens.opening`), and what
    was done: {"tokens" (the whole primer's), "used_tokens", "bars" (kept), "notes_cut"
    (notes cut to ``codec.midi.MAX_NOTE_QUARTERS``), "note" (one line, or "")}."""
    from ..codec.tokens import opening

    score = primer_score(path)
    try:
        ids = encode(score, vocab)
    except MidiError as e:
        raise MidiError(path, e.problem) from None
    kept, bars = opening(ids, vocab, MAX_PRIMER_TOKENS, MAX_PRIMER_SECONDS)
    used = len(kept)
    notes = []
    if used < len(ids) - 1:  # EOS alone is always dropped
        notes.append(f"continuing its first {bars} bars ({used:,} of {len(ids):,} tokens; a primer is cut to "
                     f"{MAX_PRIMER_TOKENS:,} tokens and {MAX_PRIMER_SECONDS:g} s)")
    if score.notes_cut:
        from ..codec.midi import MAX_NOTE_QUARTERS

        notes.append(f"{score.notes_cut} note{'s' * (score.notes_cut > 1)} longer than {MAX_NOTE_QUARTERS} "
                     f"quarter notes cut to that length")
    note = f"primer {Path(path).name}: " + "; ".join(notes) if notes else ""
    return kept, {"tokens": len(ids), "used_tokens": used, "bars": bars, "notes_cut": score.notes_cut, "note": note}


FIT_TOKENS = 1000  # a primer's fit is measured on its first tokens (about 1 s at most)
FAR = 1.6  # a primer whose bits/token exceed FAR x the model's held-out figure is far from its corpus


def primer_fit(primer_tokens: np.ndarray, stepper, meta: dict, vocab: Vocab) -> dict:
    """How well a primer fits a model: its bits/token under the model (on its first
    ``FIT_TOKENS``) against the model's own held-out bits/token. When it is far (``FAR``),
    the shipped music models are tried too and the best one the primer is not far from
    named: {"bits_per_token",
    "corpus_bits_per_token", "far", "better": {"checkpoint", "bits_per_token"} or None}."""
    from ..core.sample import score_sequence
    from ..shipped import names, shipped_checkpoint

    ids = _prompt(primer_tokens)[:FIT_TOKENS + 1]
    bits = float(-score_sequence(stepper, ids).mean() / math.log(2)) if len(ids) > 1 else float("nan")
    own = (meta.get("metrics") or {}).get("valid_bits_per_token")
    far = bool(own and bits > FAR * own)
    better = None
    if far:
        here = Path(meta.get("_folder", "")).resolve()
        for name in names():
            path = shipped_checkpoint(name)
            if path.resolve() == here or read_config(path).get("task", "music") != "music":
                continue  # the model itself; the benchmark and voice checkpoints (their weights are not read)
            try:
                other, other_vocab, other_meta = load_generator(path)
            except (CheckpointError, SettingsError):
                continue
            theirs = recode(ids, vocab, other_vocab)
            if theirs is None:
                continue
            b = float(-score_sequence(other, theirs).mean() / math.log(2))
            fits = b <= FAR * ((other_meta.get("metrics") or {}).get("valid_bits_per_token") or 0)
            if fits and b < bits and (better is None or b < better["bits_per_token"]):
                better = {"checkpoint": str(path), "name": name, "bits_per_token": round(b, 3)}
    return {"bits_per_token": round(bits, 3), "corpus_bits_per_token": own, "far": far, "better": better}


def recode(ids, have: Vocab, want: Vocab) -> list[int] | None:
    """Tokens of ``have``'s codec in ``want``'s: the same but for the instruments header
    (added or dropped), or decoded and encoded again where the codecs differ in the
    header's order or drum repeats; None when they differ otherwise (another grid)."""
    from dataclasses import replace

    same = dict(instruments_header=want.cfg.instruments_header, drums_first=want.cfg.drums_first,
                drum_repeats=want.cfg.drum_repeats, bar_repeats=want.cfg.bar_repeats)
    if replace(have.cfg, **same) != want.cfg:
        return None
    if any(getattr(have.cfg, k) != v for k, v in same.items() if k != "instruments_header"):
        again = encode(decode(ids, have).score, want)
        return again[:-1].tolist()  # without its EOS: a primer goes on
    ids = [int(t) for t in ids]
    if have.cfg.instruments_header == want.cfg.instruments_header:
        return ids
    if want.cfg.instruments_header:
        return with_header(ids, programs_played(ids, have), want).tolist()
    return [BOS] + ids[1 + len(header_programs(ids, have)):]


def fit_note(fit: dict, model: str) -> str | None:
    """One line about a primer far from the model's corpus (None when it is not)."""
    if not fit["far"]:
        return None
    line = (f"primer: {fit['bits_per_token']:.2f} bits/token under {model}, against {fit['corpus_bits_per_token']:.2f} "
            f"on its own held-out pieces: far from what it learned, so the continuation may not follow it")
    if fit["better"]:
        line += (f"; {fit['better']['name']} fits it better ({fit['better']['bits_per_token']:.2f} bits/token): "
                 f"--checkpoint {fit['better']['checkpoint']}")
    else:
        line += "; no shipped model fits it closely"
    return line


def new_seed() -> int:
    """A fresh seed for a run without ``--seed`` (printed, so the song can be made again)."""
    return int.from_bytes(os.urandom(4), "little") % 1_000_000_000


def numbered(path: Path, i: int, n: int) -> Path:
    """``song.mid`` for one piece; ``song_1.mid`` ... for several."""
    path = Path(path)
    return path if n == 1 else path.with_name(f"{path.stem}_{i + 1}{path.suffix}")


def sample_to_files(checkpoint=None, out: str | os.PathLike = "song.mid", *, n: int = 1, seconds: float | None = None,
                    tokens: int | None = None, primer: str | os.PathLike | None = None, temperature: float | None = None,
                    top_k: int = 0, top_p: float = 1.0, seed: int | None = None, wav: str | os.PathLike | None = None,
                    program: int | None = None, instruments=None, stats: bool = False, sing: bool = False,
                    voice=None, singer: str = "kal", repeat_weight=None,
                    report: Callable[[dict], None] | None = None,
                    report_note: Callable[[str], None] | None = None) -> dict:
    """Generate ``n`` pieces and write them as MIDI (and WAV); the one function behind
    ``musicrnn sample`` and the page. ``seed=None`` draws a new seed (returned);
    ``temperature=None`` uses the checkpoint's own (:func:`sampling_temperature`; returned), as
    does ``repeat_weight=None`` (:func:`sampling_repeat_weight`).

    ``instruments``: the band the pieces play (names or numbers, a list or one
    comma-separated string; ``pianoroll.instrument_keys``); None: the primer's, or the
    model's own choice. ``program``: play every pitched part with this General MIDI
    program (0-127; None: as generated). ``sing``: also write each piece's melody sung
    (``musicrnn.singing.sing_midi``: Festival's ``singer``, converted toward ``voice``, a clip
    or a voice model, when given; over the other parts) beside its MIDI as NAME.sung.wav
    ("sung" per piece). ``stats``: also return the pieces' statistics ("statistics") next to the
    corpus's ("corpus_statistics", from the checkpoint; None if it has none).

    Returns {"seed", "checkpoint", "pieces": [per piece: midi, tokens, notes,
    invalid_tokens, seconds (+ wav, engine, peak)]} (+ "primer": what :func:`primer_ids`
    did). ``report`` is called per piece; ``report_note`` with a line about a primer that
    was cut (before sampling starts).
    """
    if seconds is None and tokens is None:
        seconds = 30.0
    check_sampling(temperature=DEFAULT_TEMPERATURE if temperature is None else temperature, top_k=top_k, top_p=top_p, n=n,
                   seconds=seconds, tokens=tokens, seed=seed, repeat_weight=repeat_weight)
    if program is not None and not (isinstance(program, int) and 0 <= program <= 127):
        raise SettingsError(f"instrument {program!r}: a General MIDI program is a whole number from 0 to 127")
    out = Path(out)
    for p in (out, wav):
        if p is not None and Path(p).is_dir():
            raise SettingsError(f"{p}: is a folder; give a file name such as {Path(p) / 'song.mid'}")
    band = None
    if instruments not in (None, "", []):
        from ..pianoroll import instrument_keys

        try:
            band = instrument_keys(instruments)
        except ValueError as e:
            raise SettingsError(f"--instruments: {e}") from None
    if voice is not None and not sing:
        raise SettingsError("--voice is the voice that sings: give --sing too")
    if sing:
        from ..singing import SINGERS

        if singer not in SINGERS:
            raise SettingsError(f"--singer {singer!r}: choose {' or '.join(SINGERS)}")
        if voice is not None and not Path(voice).exists():
            raise SettingsError(f"--voice {voice}: no such clip or voice model")
        if voice is not None:  # loaded once for every piece, and a bad clip is named before anything is made
            from ..singing import load_voice

            voice = load_voice(voice)
    seed = new_seed() if seed is None else int(seed)
    stepper, vocab, meta = load_generator(checkpoint)
    asked, temperature = temperature, sampling_temperature(meta, temperature)
    refuse_idle_repeat_weight(vocab, repeat_weight, checkpoint)
    repeat_weight = sampling_repeat_weight(meta, repeat_weight)
    drums_weight = sampling_drums_weight(meta)
    primer_tokens, primer_info = primer_ids(primer, vocab) if primer else (None, None)
    if primer_info and primer_info["note"] and report_note:
        report_note(primer_info["note"])
    if primer_info is not None:
        primer_info["fit"] = primer_fit(primer_tokens, stepper, meta, vocab)
        note = primer_info["fit_note"] = fit_note(primer_info["fit"], Path(meta["_folder"]).name)
        if note and report_note:
            report_note(note)
    # each piece has its own seed (the run's seed + i), so any one of them can be made again alone
    seqs = [generate(stepper, vocab, n=1, seconds=seconds, tokens=tokens, primer=primer_tokens,
                     temperature=temperature, top_k=top_k, top_p=top_p, seed=seed + i, programs=band,
                     repeat_weight=repeat_weight, drums_weight=drums_weight)[0]
            for i in range(n)]
    end = None if seconds is None else prompt_seconds(primer_tokens, vocab) + seconds
    pieces = []
    for i, ids in enumerate(seqs):
        dec = decode(ids, vocab)
        if end is not None:  # the length asked for: notes still sounding at the end stop there
            dec.score.cut_at(end)
        if program is not None:
            dec.score.program[~dec.score.drum] = program
        path = _writable(numbered(out, i, n), lambda p: write_midi(dec.score, p))
        r = {"midi": str(path), "seed": seed + i, "tokens": len(ids), "notes": dec.score.n_notes,
             "invalid_tokens": dec.n_invalid, "instruments": dec.score.instruments(),
             "seconds": round(float(dec.score.seconds(dec.score.end.max(initial=0))), 2)}
        if wav:
            from ..render import render_wav

            audio = _writable(numbered(Path(wav), i, n), lambda p: render_wav(path, p))
            r.update(wav=audio["wav"], engine=audio["engine"], peak=audio["peak"], wav_seconds=audio["seconds"])
        if sing:
            from ..singing import sing_midi, sung_path

            r["sung"] = _writable(sung_path(path), lambda p: sing_midi(path, p, voice=voice, singer=singer))
        pieces.append(r)
        if report:
            report(r)
    result = {"seed": seed, "checkpoint": meta["_folder"], "temperature": temperature, "repeat_weight": list(repeat_weight),
              "drums_weight": drums_weight if band is None and primer_tokens is None else 1.0, "pieces": pieces,
              "own_temperature": asked is None and temperature != DEFAULT_TEMPERATURE}
    if primer_info:
        result["primer"] = primer_info
    if stats:
        result["statistics"] = sample_stats(seqs, vocab)
        result["corpus_statistics"] = meta.get("corpus_stats")  # None for models trained before they were kept
    return result


def band_line(keys: Sequence[int]) -> str:
    """'3 instruments: Flute, Acoustic Bass, Drums' (for the wrote line and the page)."""
    from ..pianoroll import key_name

    names = ", ".join(key_name(k) for k in keys)
    return f"{len(keys)} instrument{'s' * (len(keys) != 1)}: {names}" if keys else "no instruments"


def _writable(path: Path, write):
    """Run ``write(path)``; an unwritable place becomes one line naming it."""
    try:
        return write(path)
    except OSError as e:
        raise SettingsError(f"{path}: cannot write here ({e.strerror or e.__class__.__name__})") from None
