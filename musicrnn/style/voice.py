"""The trained voice model: a DDSP-style synthesizer (harmonic excitation with a learned
time-varying spectrum, plus filtered noise) driven by a recurrent decoder from the
research core, trained on 1-5 minutes of one voice with a multi-scale spectral loss
through the core's one ``fit``.

Per 5-ms frame (hop 80 at 16 kHz) the decoder reads

* pitch: log2(f0 / 220 Hz) where voiced, 0 elsewhere, and the voicing flag;
* loudness: A-weighted dB, scaled by ``LOUD_SCALE`` around the training voice's mean;
* content: MFCC 1..19 normalised per file (mean and spread over its active frames):
  a speaker-normalised description of *what* is said or sung, with the speaker's own
  average colour removed.

and writes the synthesizer's controls: an overall harmonic amplitude, a distribution
over 60 harmonics and 65 noise-filter magnitudes. Trained only on the target voice, the
decoder learns to render any content in that voice; at conversion the *source's* pitch
(transposed), loudness and content drive it. ``index_rate`` blends each source content
frame with its nearest neighbours among the target's training frames (kept in
``index.safetensors``), as RVC's retrieval index does, pulling what the decoder reads
toward what it was trained on; ``protect`` keeps unvoiced frames (consonants) closer to
the source's own content.

Per-file normalisation removes a speaker's average colour but not the scale of their vocal
tract: a man's formants sit 15-30% below a woman's, and the decoder, which has only heard
the target, reads them as other vowels. So conversion first moves the source with the
instant tier toward a profile of the training voice (``profile.json``/``.npz``, built
at training time: pitch to the voice's register, formants warped by the fitted ratio,
envelope equalised), and reads the content from that. On espeak-ng male -> female this
took the trained model's MCD from 9.1 dB (content read from the raw source) to 6.0 dB,
against 7.4 dB for the instant tier alone and 4.9 dB for re-synthesising the target's own
sentences (``docs/benchmarks.md``).

The core's model registry knows the family as ``ddsp`` (``core.models.TASK_FAMILIES``) and
its objective, :class:`Spectral`, as ``spectral`` (``core.objectives.TASK_KINDS``), both
without importing this module; a voice checkpoint is a normal checkpoint folder
(config.json + model.safetensors) plus the index.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..codec.errors import AudioError
from ..core.errors import CheckpointError, DataError, SettingsError

SR = 16000
HOP = 80  # 5 ms
CLIP_FRAMES = 200  # 1-s training clips
LOUD_SCALE = 20.0  # dB per unit of the loudness input
ACTIVE_DB = 35.0  # frames within this many dB of a file's loud level count as active (statistics, index)
INDEX_SIZE = 20000  # most content frames kept for retrieval
VOICE_FORMAT = 1


@dataclass
class VoiceConfig:
    """The voice model's shape and its training voice's feature statistics."""

    sr: int = SR
    hop: int = HOP
    n_mfcc: int = 20  # MFCC 1..n_mfcc-1 are the content features (c0, energy, is left out)
    harmonics: int = 60
    noise_bands: int = 65
    hidden: int = 256
    layers: int = 2
    embed: int = 128
    cell: str = "gru"  # gru | lstm | lstm-lite (the research core's cells)
    activation: str = "tanh"
    dropout: float = 0.0
    loud_mean: float = -30.0  # the training voice's mean loudness over active frames, dB
    f0_median: float = 200.0  # its median f0 over voiced frames, Hz (conversion moves the source here)
    format: int = VOICE_FORMAT

    @classmethod
    def from_dict(cls, d: dict) -> "VoiceConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def n_in(self) -> int:
        return 3 + self.n_mfcc - 1

    @property
    def n_controls(self) -> int:
        return 1 + self.harmonics + self.noise_bands

    def validate(self) -> "VoiceConfig":
        if self.format != VOICE_FORMAT:
            raise CheckpointError(f"a voice model of format {self.format}; this musicrnn reads format {VOICE_FORMAT} "
                                  f"(train it again with `musicrnn voice train`)")
        if self.sr != SR or self.hop < 1 or self.harmonics < 1 or self.noise_bands < 2:
            raise SettingsError("voice model: sr must be 16000, hop, harmonics >= 1 and noise bands >= 2")
        for name, hi in (("hop", 16000), ("harmonics", 1000), ("noise_bands", 1025), ("n_mfcc", 128)):
            if getattr(self, name) > hi:
                raise SettingsError(f"voice model: {name} must be at most {hi:,} (got {getattr(self, name):,})")
        if self.n_mfcc < 2:
            raise SettingsError(f"voice model: n_mfcc must be at least 2 (got {self.n_mfcc})")
        self.rnn_config()  # the decoder's sizes, within the core's bounds
        return self

    def weight_shapes(self) -> dict:
        """The decoder's weight shapes these settings decide (``models.check_weights``)."""
        return {f"decoder.{k}": v for k, v in self.rnn_config().weight_shapes().items()}

    def rnn_config(self):
        from ..core.config import RNNConfig

        return RNNConfig(vocab_size=1, embed=self.embed, hidden=self.hidden, layers=self.layers, cell=self.cell,
                         dropout=self.dropout, activation=self.activation, features=self.n_in,
                         outputs=self.n_controls).validate()


class VoiceModel(nn.Module):
    """Frame features (B, T, 3 + content) -> audio (B, T * hop).

    Column 0 of the input is f0 in Hz (0 = unvoiced), column 1 the voicing flag, column 2
    the scaled loudness, the rest the content features; the decoder reads the pitch as
    log2(f0 / 220) so that its input is in the usual range.
    """

    family = "ddsp"
    carries_state = False  # clips are independent

    def __init__(self, cfg: VoiceConfig):
        super().__init__()
        from ..core.rnn import CharRNN

        self.cfg = cfg.validate()
        self.decoder = CharRNN(cfg.rnn_config())
        with torch.no_grad():  # start quiet: small harmonic amplitude, noise well below it
            self.decoder.head.bias[0] = -2.0
            self.decoder.head.bias[1 + cfg.harmonics:] = -5.0

    def init_state(self, batch: int, device=None):
        return self.decoder.init_state(batch, device)

    def controls(self, x: torch.Tensor, state=None):
        """(amplitude (B, T), harmonic distribution (B, T, K), noise magnitudes (B, T, M), state)."""
        from .synth import exp_sigmoid

        f0, voiced = x[..., 0], x[..., 1]
        pitch = torch.where(f0 > 0, torch.log2(f0.clamp_min(1.0) / 220.0), torch.zeros_like(f0))
        z, state = self.decoder(torch.cat([pitch[..., None], x[..., 1:]], -1), state)
        k = self.cfg.harmonics
        amp = exp_sigmoid(z[..., 0]) * voiced
        return amp, exp_sigmoid(z[..., 1:1 + k]), exp_sigmoid(z[..., 1 + k:]), state

    def forward(self, x: torch.Tensor, state=None, reset=None, generator: torch.Generator | None = None):
        from .synth import filtered_noise, harmonic_synth

        amp, dist, noise, state = self.controls(x, state)
        f0 = fill_unvoiced(x[..., 0])
        audio = harmonic_synth(f0, amp, dist, self.cfg.sr, self.cfg.hop) + filtered_noise(noise, self.cfg.hop,
                                                                                           generator=generator)
        return audio, state


def fill_unvoiced(f0: torch.Tensor) -> torch.Tensor:
    """f0 (B, T) with unvoiced frames (0) given the nearest earlier voiced value (or the
    first voiced one at the start), so the oscillator's phase runs on smoothly through
    consonants; their amplitude is 0 there anyway."""
    out = f0.clone()
    for b in range(out.shape[0]):
        row = out[b]
        v = torch.nonzero(row > 0).flatten()
        if v.numel() == 0:
            continue
        idx = torch.zeros_like(row, dtype=torch.long)
        idx[v] = v
        idx = torch.cummax(idx, 0).values
        idx[: int(v[0])] = int(v[0])
        out[b] = row[idx]
    return out


class Spectral:
    """Objective: multi-scale spectral loss between the model's audio and the clip's."""

    kind = "spectral"
    primary, direction = "spectral_loss", "lower"
    report_name, report_scale = "train_loss", 1.0
    unit = "spectral loss"
    progress_valid = "valid_loss"

    def __init__(self, ffts=(2048, 1024, 512, 256, 128, 64)):
        self.ffts = tuple(int(f) for f in ffts)

    def loss(self, out: torch.Tensor, batch) -> tuple[torch.Tensor, float]:
        from .spectral import multiscale_spectral_loss

        loss = multiscale_spectral_loss(out.float(), batch.y.float(), self.ffts)
        return loss, loss.item()

    @torch.no_grad()
    def score(self, model, clips, batch: int = 16) -> dict:
        """Mean loss over clips [(x, y)], each scored once, with the noise drawn from a
        fixed generator (the same clips give the same score)."""
        from .spectral import multiscale_spectral_loss

        was = model.training
        model.eval()
        gen = torch.Generator().manual_seed(0)
        total, n = 0.0, 0
        for i in range(0, len(clips), batch):
            xs = torch.from_numpy(np.stack([c[0] for c in clips[i:i + batch]]))
            ys = torch.from_numpy(np.stack([c[1] for c in clips[i:i + batch]]))
            audio, _ = model(xs, None, None, generator=gen)
            total += float(multiscale_spectral_loss(audio, ys, self.ffts)) * len(xs)
            n += len(xs)
        model.train(was)
        return {self.primary: total / max(n, 1), "clips": n}

    def to_dict(self) -> dict:
        return {"kind": self.kind, "ffts": list(self.ffts)}


# --- features -------------------------------------------------------------------------------
@dataclass
class Frames:
    """Per-frame features of one clip, T = len(audio) // hop frames."""

    f0: np.ndarray  # (T,) Hz, 0 = unvoiced
    loudness: np.ndarray  # (T,) A-weighted dB
    mfcc: np.ndarray  # (T, n_mfcc - 1), MFCC 1.. (not normalised)
    active: np.ndarray = field(default=None)  # (T,) bool: within ACTIVE_DB of the loud level

    def __post_init__(self):
        if self.active is None:
            top = np.percentile(self.loudness, 95) if self.loudness.size else 0.0
            self.active = self.loudness > top - ACTIVE_DB

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0

    def content(self) -> np.ndarray:
        """(T, n_mfcc - 1) MFCCs normalised by this clip's own active-frame mean and spread."""
        ref = self.mfcc[self.active] if self.active.sum() >= 10 else self.mfcc
        return ((self.mfcc - ref.mean(0)) / (ref.std(0) + 1e-3)).astype(np.float32)


def frames_of(y: np.ndarray, cfg: VoiceConfig = VoiceConfig()) -> Frames:
    """Features of mono audio y (N,) at cfg.sr: f0 (WORLD DIO + StoneMask, 5-ms frames),
    A-weighted loudness and MFCCs on the same centred hop, trimmed to N // hop frames."""
    import librosa

    from ..codec.audio import loudness_from_power, power_stft
    from .dsp import world_f0

    y = np.asarray(y, np.float32)
    t = len(y) // cfg.hop
    f0, _ = world_f0(y, cfg.sr, frame_ms=1000.0 * cfg.hop / cfg.sr)
    # one power STFT (1 + N // hop centred frames) for both: codec.audio.a_weighted_loudness's
    # loudness and librosa.feature.mfcc's mel spectrum (bit-identical to computing each alone)
    power = power_stft(y, 1024, cfg.hop)
    loud = loudness_from_power(power, cfg.sr, 1024)
    mel = librosa.feature.melspectrogram(S=power.T, sr=cfg.sr, n_fft=1024, n_mels=40)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=cfg.n_mfcc).T
    fit = lambda a: np.pad(a[:t], [(0, max(0, t - len(a)))] + [(0, 0)] * (a.ndim - 1), mode="edge")  # noqa: E731
    return Frames(fit(f0).astype(np.float32), fit(loud).astype(np.float32), fit(mfcc[:, 1:]).astype(np.float32))


def model_input(fr: Frames, cfg: VoiceConfig, content: np.ndarray | None = None,
                loud_shift: float = 0.0) -> np.ndarray:
    """(T, n_in) float32: f0 Hz, voiced, scaled loudness, content."""
    c = fr.content() if content is None else content
    loud = (fr.loudness + loud_shift - cfg.loud_mean) / LOUD_SCALE
    return np.concatenate([fr.f0[:, None], fr.voiced[:, None].astype(np.float32), loud[:, None], c], 1).astype(np.float32)


# --- training ---------------------------------------------------------------------------------
def _names(data) -> str:
    """The --data argument as the user typed it: one path, or several joined by spaces."""
    return str(data) if isinstance(data, (str, os.PathLike)) else " ".join(map(str, data))


def read_voice_files(data) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """[(name, audio at 16 kHz)] of the audio files named by ``data`` (files and/or folders,
    searched recursively), and the skipped files with the reason."""
    from ..codec.audio import AUDIO_SUFFIXES, load_audio
    from ..codec.midi import iter_midi_files

    paths: list[Path] = []
    for d in [data] if isinstance(data, (str, os.PathLike)) else list(data):
        d = Path(d)
        if not (d.is_dir() or d.is_file()):
            raise DataError(f"{d}: no such file or folder")
        paths += iter_midi_files([d], suffixes=AUDIO_SUFFIXES)
    clips, skipped = [], []
    for p in paths:
        try:
            y, _ = load_audio(p, sr=SR)
        except AudioError as e:
            skipped.append(str(e))
            continue
        if not np.any(np.abs(y) > 1e-4):
            skipped.append(f"{p}: silent")
            continue
        clips.append((str(p), y))
    return clips, skipped


def training_clips(files, cfg: VoiceConfig, valid_fraction: float = 0.1, clip_frames: int = CLIP_FRAMES):
    """(train clips, validation clips, content frames for the index): every file's
    features (content normalised per file), the files laid end to end and cut into clips
    of ``clip_frames`` frames, each (input (T, n_in), target audio (T * hop,)); training
    clips half-overlap. Every ``round(1 / valid_fraction)``-th file (at least one, when
    there are two or more) is held out for validation; a single file gives its last
    ``valid_fraction`` instead. Sets ``cfg``'s loudness mean and median f0."""
    frames = [(np.asarray(y[: len(y) // cfg.hop * cfg.hop], np.float32), frames_of(y, cfg)) for _, y in files]
    active = np.concatenate([fr.loudness[fr.active] for _, fr in frames])
    voiced = np.concatenate([fr.f0[fr.voiced] for _, fr in frames])
    if voiced.size < 200:
        raise DataError(f"only {voiced.size} voiced frames ({voiced.size * cfg.hop / cfg.sr:.1f} s) in the voice "
                        f"data: give at least a minute of clear singing or speech")
    cfg.loud_mean, cfg.f0_median = float(active.mean()), float(np.median(voiced))
    parts = [(model_input(fr, cfg), y, fr) for y, fr in frames]
    every = max(2, int(round(1 / valid_fraction)))
    if len(parts) >= 2:
        held = [i for i in range(len(parts)) if i % every == every - 1] or [len(parts) - 1]
        train_parts = [p for i, p in enumerate(parts) if i not in held]
        valid_parts = [parts[i] for i in held]
    else:
        x, y, fr = parts[0]
        cut = int(round(len(x) * (1 - valid_fraction)))
        train_parts = [(x[:cut], y[:cut * cfg.hop], fr)]
        valid_parts = [(x[cut:], y[cut * cfg.hop:], fr)]

    def cut(ps, step):
        x = np.concatenate([p[0] for p in ps])
        y = np.concatenate([p[1] for p in ps])
        return [(x[s:s + clip_frames], y[s * cfg.hop:(s + clip_frames) * cfg.hop])
                for s in range(0, len(x) - clip_frames + 1, step)]

    index = [x[fr.active[:len(x)] & fr.voiced[:len(x)], 3:] for x, _, fr in train_parts]
    index = np.concatenate(index) if index else np.zeros((0, cfg.n_mfcc - 1), np.float32)
    if len(index) > INDEX_SIZE:
        index = index[np.linspace(0, len(index) - 1, INDEX_SIZE).round().astype(int)]
    return cut(train_parts, clip_frames // 2), cut(valid_parts, clip_frames), index.astype(np.float32)


def train_voice(data, out, *, train_cfg=None, train_settings: dict | None = None, model_settings: dict | None = None,
                resume: bool = False, force: bool = False, command: str = "", progress: bool = True,
                log=print) -> dict:
    """``musicrnn voice train``: a voice model of the audio under ``data`` in ``out``.

    ``train_settings`` / ``model_settings``: the training and model settings given (the
    others are ``TRAIN_DEFAULTS`` and ``VoiceConfig``'s, or on ``resume`` the run's own);
    ``train_cfg``: a whole TrainConfig instead. A resumed run refuses (one line) a given
    setting that differs from its own (``core.runs``)."""
    from dataclasses import asdict

    from safetensors.numpy import save_file

    from ..core.data import Clips
    from ..core.runs import SESSION_ONLY, differences, prepare_out, refuse, saved
    from ..core.train import TrainConfig, fit
    from .. import __version__
    from .settings import TRAIN_DEFAULTS

    out = Path(out)
    given_t = asdict(train_cfg) if train_cfg is not None else dict(train_settings or {})
    given_m = dict(model_settings or {})
    if resume:
        record = saved(out, "voice")
        refuse(out, differences(given_m, record["model"]) + differences(given_t, record["train"]))
        own = {k: v for k, v in record["train"].items() if k not in SESSION_ONLY}
        train_cfg = TrainConfig.from_dict({**own, **given_t})
        cfg = VoiceConfig.from_dict({**record["model"], **given_m}).validate()
    else:
        train_cfg = train_cfg or TrainConfig(**{**TRAIN_DEFAULTS, **given_t})
        cfg = VoiceConfig.from_dict(given_m).validate()
    prepare_out(out, resume, force)
    files, skipped = read_voice_files(data)
    for line in skipped:
        log(f"skipped {line}")
    if not files:
        raise DataError(f"{_names(data)}: no usable audio files" + (f" ({len(skipped)} skipped)" if skipped else ""))
    seconds = sum(len(y) for _, y in files) / SR
    train, valid, index = training_clips(files, cfg)
    if not train or not valid:
        raise DataError(f"{_names(data)}: {seconds:.1f} s of audio is too little to train a voice (give 1 to 5 minutes)")
    log(f"{len(files)} files, {seconds / 60:.1f} min of audio: {len(train)} training and {len(valid)} validation "
        f"clips of {CLIP_FRAMES * cfg.hop / cfg.sr:g} s; median f0 {cfg.f0_median:.0f} Hz")
    out.mkdir(parents=True, exist_ok=True)
    save_file({"content": index}, str(out / "index.safetensors"))
    profile_of(files).save(out / "profile.json")
    from ..core import models

    model = models.build("ddsp", cfg, seed=train_cfg.seed)
    objective = Spectral()
    meta = {"musicrnn_version": __version__, "task": "voice", "command": command,
            "data": {"files": len(files), "seconds": round(seconds, 2), "train_clips": len(train),
                     "valid_clips": len(valid), "skipped": len(skipped)}}
    batches = Clips(train, train_cfg.batch, seed=train_cfg.seed)
    return fit(model, objective, batches, lambda m: objective.score(m, valid), train_cfg, out, meta=meta,
               resume=resume, valid_size=len(valid), progress=progress, log=log)  # in clips, as a batch counts them


PROFILE_SECONDS = 60.0  # audio the training voice's profile is built from


def profile_of(files):
    """The instant tier's profile of the training voice, from up to ``PROFILE_SECONDS`` of
    its files, evenly chosen."""
    from .instant import build_profile

    take = max(1, int(len(files) * min(1.0, PROFILE_SECONDS / max(sum(len(y) for _, y in files) / SR, 1e-9))))
    pick = np.linspace(0, len(files) - 1, take).round().astype(int)
    return build_profile(np.concatenate([files[i][1] for i in sorted(set(pick))]).astype(np.float64), SR)


# --- conversion ---------------------------------------------------------------------------------
@dataclass
class Voice:
    """A trained voice loaded for conversion."""

    model: VoiceModel
    cfg: VoiceConfig
    index: np.ndarray  # (n, content) the target's content frames
    meta: dict
    profile: object = None  # instant.VoiceProfile of the training voice (None: content from the raw source)


def is_voice_model(path) -> bool:
    p = Path(path)
    if not (p / "config.json").is_file():
        return False
    from ..core.checkpoint import read_json

    try:
        meta = read_json(p / "config.json")
    except (OSError, ValueError):  # CheckpointError is a ValueError
        return False
    return isinstance(meta, dict) and meta.get("family") == "ddsp"


def load_voice(path) -> Voice:
    from safetensors.numpy import load_file

    from ..core.checkpoint import load_model_state
    from ..core.models import checked_config, from_checkpoint

    p = Path(path)
    if not is_voice_model(p):
        raise CheckpointError(f"{p}: not a voice model (train one with `musicrnn voice train`)")
    state, meta = load_model_state(p)
    cfg = checked_config(meta)  # every field's type and range, one line naming it
    model = from_checkpoint(state, meta)
    idx = p / "index.safetensors"
    index = load_file(str(idx))["content"] if idx.is_file() else np.zeros((0, cfg.n_mfcc - 1), np.float32)
    profile = None
    if (p / "profile.json").is_file():
        from .instant import VoiceProfile

        profile = VoiceProfile.load(p / "profile.json")
    return Voice(model, cfg, index, meta, profile)


def retrieve(content: np.ndarray, index: np.ndarray, k: int = 4, chunk: int = 2048) -> np.ndarray:
    """(T, D): for every row of content (T, D), the mean of its k nearest rows of index
    (n, D) by Euclidean distance."""
    if len(index) == 0:
        return content
    k = min(k, len(index))
    out = np.empty_like(content)
    sq = (index ** 2).sum(1)
    for a in range(0, len(content), chunk):
        c = content[a:a + chunk]
        d = sq[None, :] - 2.0 * c @ index.T
        nn_ = np.argpartition(d, k - 1, axis=1)[:, :k]
        out[a:a + chunk] = index[nn_].mean(1)
    return out


def convert_trained(y: np.ndarray, sr: int, voice: Voice, *, transpose: float | None = None,
                    formant: float | None = None, index_rate: float = 0.5, protect: float = 0.33,
                    seed: int = 0) -> tuple[np.ndarray, dict]:
    """Convert mono audio y (N,) at sr to the trained voice; (audio at sr, same length,
    peak at the input's, at most 0.99; info).

    ``transpose``: semitones (None: whole octaves toward the voice's register, at most one); ``formant``:
    the formant ratio of the pre-warp toward the voice (None: fitted); ``index_rate`` in
    [0, 1]: how much of each frame's content comes from the voice's nearest training
    frames; ``protect`` in [0, 1]: how much unvoiced frames keep of their own (spared
    the retrieval, and the pre-warp's equalisation)."""
    import librosa

    cfg = voice.cfg
    if not 0 <= index_rate <= 1 or not 0 <= protect <= 1:
        raise SettingsError("--index-rate and --protect must be between 0 and 1")
    n_in = len(y)
    x16 = librosa.resample(np.asarray(y, np.float64), orig_sr=sr, target_sr=cfg.sr, res_type="soxr_hq") \
        if sr != cfg.sr else np.asarray(y, np.float64)
    if not np.any(np.abs(x16) > 1e-6):
        return np.zeros(n_in, np.float32), {"transpose": 0.0, "voiced_frames": 0}
    info = {}
    if voice.profile is not None:  # move the source toward the voice first, then read its content
        from .instant import InstantSettings, convert_with_info

        conv = convert_with_info(x16, cfg.sr, voice.profile, InstantSettings(transpose=transpose, formant=formant,
                                                                              protect=protect))
        x16, shift = conv.audio.astype(np.float64), 0.0
        info = {"transpose": round(float(conv.semitones), 2), "formant": round(float(conv.formant_ratio), 3)}
    pad = (-len(x16)) % cfg.hop
    fr = frames_of(np.pad(x16, (0, pad)).astype(np.float32), cfg)
    voiced = fr.voiced
    if voice.profile is None:
        shift = transpose
        if shift is None:
            from .dsp import confident_f0, octave_shift

            sure = confident_f0(fr.f0, voiced, min_frames=5)
            shift = octave_shift(float(np.median(np.log(fr.f0[sure]))), math.log(cfg.f0_median)) \
                if voiced.sum() >= 5 else 0.0
        info = {"transpose": round(float(shift), 2)}
    fr.f0 = fr.f0 * np.float32(2 ** (shift / 12))
    content = fr.content()
    if index_rate > 0 and len(voice.index):
        rate = np.where(voiced, index_rate, index_rate * (1 - protect))[:, None]
        content = (1 - rate) * content + rate * retrieve(content, voice.index)
    src_loud = float(fr.loudness[fr.active].mean()) if fr.active.any() else cfg.loud_mean
    x = model_input(fr, cfg, content.astype(np.float32), loud_shift=cfg.loud_mean - src_loud)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        audio, _ = voice.model(torch.from_numpy(x)[None], None, None, generator=gen)
    out = audio[0].numpy().astype(np.float64)
    if sr != cfg.sr:
        out = librosa.resample(out, orig_sr=cfg.sr, target_sr=sr, res_type="soxr_hq")
    out = np.pad(out, (0, max(0, n_in - len(out))))[:n_in]
    peak = float(np.abs(out).max())
    if peak > 0:  # the input's peak level, never above 0.99: no clipping
        out = out * (min(0.99, float(np.abs(y).max())) / peak)
    return out.astype(np.float32), {**info, "voiced_frames": int(voiced.sum())}
