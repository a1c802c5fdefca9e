"""The music task: MIDI folders -> token streams -> char-RNN -> sampled MIDI."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..codec import BOS, EOS, PAD, CodecConfig, MidiError, Vocab, encode, iter_midi_files, read_midi, transpose
from ..codec.tokens import Clock
from ..core.checkpoint import CheckpointError, load_model_state
from ..core.data import Transform
from ..core.rnn import CharRNN, RNNConfig
from ..core.sample import sample
from ..core.train import TrainConfig, evaluate_bits, train

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = ROOT / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "folk"


@dataclass
class Corpus:
    train: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    train_files: list[str] = field(default_factory=list)
    valid_files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: "path: problem"

    @property
    def n_tokens(self) -> int:
        return int(sum(len(s) for s in self.train) + sum(len(s) for s in self.valid))


def in_validation(rel_path: str, fraction: float) -> bool:
    """A file's split depends only on its path inside the folder: stable across runs and seeds."""
    return zlib.crc32(rel_path.replace(os.sep, "/").encode()) % 10_000 < fraction * 10_000


def load_corpus(data: str | os.PathLike, vocab: Vocab, valid_fraction: float = 0.1,
                progress: Callable | None = None) -> Corpus:
    """Encode every MIDI file under ``data``; bad files are skipped and listed, not fatal."""
    data = Path(data)
    if not data.exists():
        raise MidiError(data, "no such file or folder")
    files = iter_midi_files([data])
    if not files:
        raise MidiError(data, "no MIDI files (.mid/.midi) found here")
    corpus = Corpus()
    for f in progress(files) if progress else files:
        try:
            ids = encode(read_midi(f), vocab)
        except MidiError as e:
            corpus.skipped.append(str(e))
            continue
        rel = str(f.relative_to(data)) if data.is_dir() else f.name
        if valid_fraction > 0 and in_validation(rel, valid_fraction):
            corpus.valid.append(ids), corpus.valid_files.append(rel)
        else:
            corpus.train.append(ids), corpus.train_files.append(rel)
    if not corpus.train and not corpus.valid:
        raise MidiError(data, f"none of the {len(files)} MIDI files could be read")
    if not corpus.valid:  # tiny folders: hold out the last training piece
        corpus.valid.append(corpus.train.pop()), corpus.valid_files.append(corpus.train_files.pop())
    if not corpus.train:
        corpus.train.append(corpus.valid[0]), corpus.train_files.append(corpus.valid_files[0])
    return corpus


def transposer(vocab: Vocab, max_semitones: int) -> Transform | None:
    """Augmentation: each piece, each epoch, moves by a random -m..+m semitones (drums stay)."""
    if max_semitones <= 0:
        return None
    return lambda seq, rng: transpose(seq, int(rng.integers(-max_semitones, max_semitones + 1)), vocab)


def train_music(data, out, model_cfg: dict, train_cfg: TrainConfig, *, valid_fraction: float = 0.1,
                max_transpose: int = 5, resume: bool = False, command: str = "", progress=None,
                log=print, corpus: Corpus | None = None) -> dict:
    """Train on the MIDI under ``data``; ``corpus`` may pass it already encoded (with this
    ``valid_fraction``), so that many runs on one folder encode it once."""
    vocab = Vocab()
    corpus = corpus or load_corpus(data, vocab, valid_fraction, progress)
    for line in corpus.skipped:
        log(f"skipped {line}")
    log(f"{len(corpus.train)} training and {len(corpus.valid)} validation pieces, {corpus.n_tokens:,} tokens"
        + (f"; {len(corpus.skipped)} files skipped" if corpus.skipped else ""))
    meta = {"musicrnn_version": __version__, "task": "music", "codec": vocab.cfg.to_dict(),
            "vocabulary": vocab.names, "command": command,
            "data": {"folder": str(data), "train_pieces": len(corpus.train), "valid_pieces": len(corpus.valid),
                     "tokens": corpus.n_tokens, "skipped": len(corpus.skipped), "valid_fraction": valid_fraction,
                     "max_transpose": max_transpose}}
    cfg = RNNConfig(vocab_size=len(vocab), **model_cfg)
    summary = train(cfg, train_cfg, corpus.train, corpus.valid, out, meta=meta,
                    transform=transposer(vocab, max_transpose), resume=resume, progress=progress is not None, log=log)
    summary["skipped_files"] = corpus.skipped
    return summary


def load_model(checkpoint: str | os.PathLike | None = None, device: str = "cpu") -> tuple[CharRNN, Vocab, dict]:
    """Load a music checkpoint; ``None`` means the shipped default melody model."""
    path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    state, meta = load_model_state(path)
    if meta.get("task") != "music":
        raise CheckpointError(f"{path}: a {meta.get('task')!r} checkpoint, not a music model")
    vocab = Vocab(CodecConfig.from_dict(meta["codec"]))
    if meta.get("vocabulary") and meta["vocabulary"] != vocab.names:
        raise CheckpointError(f"{path}: its token vocabulary differs from this version's codec")
    model = CharRNN(RNNConfig.from_dict(meta["model"]))
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CheckpointError(f"{path}: weights do not fit the model described in config.json") from None
    return model.to(device).eval(), vocab, meta


def generate(model: CharRNN, vocab: Vocab, *, n: int = 1, seconds: float | None = 30.0, tokens: int | None = None,
             primer: np.ndarray | None = None, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             seed: int = 0) -> list[np.ndarray]:
    """Sample ``n`` pieces; each is the prompt (BOS [+ primer]) plus its continuation.

    With ``seconds``, the music runs until it reaches ``seconds`` beyond the primer's
    last onset (EOS is not drawn before, so a tune that would end early goes on).
    With ``tokens`` alone, it stops at EOS or after ``tokens`` new tokens.
    """
    prompt = [BOS] if primer is None else [BOS] + [int(t) for t in primer if t not in (BOS, EOS)]
    clocks = [Clock(vocab) for _ in range(n)]
    for c in clocks:
        for t in prompt:
            c.feed(t)
    limit = None if seconds is None else clocks[0].seconds + seconds
    max_new = tokens if tokens is not None else int(120 * (seconds or 30) + 500)

    def stop(row: int, tok: int) -> bool:
        if tok == EOS:
            return True
        if limit is not None and clocks[row].time_after(tok) >= limit:
            return True
        clocks[row].feed(tok)
        return False

    forbid = [PAD, BOS] + ([EOS] if limit is not None else [])
    rows = sample(model, prompt, n, max_new, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                  stop=stop, forbid=forbid)
    return [np.array(prompt + r + [EOS], dtype=np.int64) for r in rows]


def primer_ids(path, vocab: Vocab) -> np.ndarray:
    return encode(read_midi(path), vocab)

