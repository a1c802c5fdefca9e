"""The music task's settings: what a run of ``train_music`` takes (the model family's,
the training loop's, ``MusicSettings``), read from flags or an experiment arm, filled from
a run being resumed or a checkpoint being fine-tuned, and compared with a run's record.

The command line and the page hand this module the flags the user gave (a value of None
is a flag not given) and get back the arguments of ``tasks.music.train_music``: no
settings logic lives in the faces. What may change on ``--resume`` is the core's one rule
(``core.runs``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..core.errors import SettingsError
from ..core.runs import RESUME_MAY_CHANGE, SESSION_ONLY, saved

RNN_FLAGS = ("cell", "embed", "hidden", "activation", "attention")  # + fused (--unfused)
TRANSFORMER_FLAGS = ("dim", "heads", "context", "mlp")
MODEL_FLAGS = ("layers", "dropout", *RNN_FLAGS, *TRANSFORMER_FLAGS)
TRAIN_FLAGS = ("seed", "batch", "bptt", "lr", "weight_decay", "warmup", "epochs", "steps", "minutes", "max_steps",
               "grad_clip", "grad_scale", "patience", "device", "primer", "precision",
               "optimizer", "rmsprop_alpha", "schedule", "lr_decay", "lr_decay_after", "grad_clamp", "init_uniform",
               "stateless")
DATA_FLAGS = ("valid_fraction", "test_fraction", "transpose")
DEFAULT_FRACTIONS = {"valid_fraction": 0.1, "test_fraction": 0.1}
FLAGS = ("model", *MODEL_FLAGS, *TRAIN_FLAGS, "output", *DATA_FLAGS, "unfused", "compile", "data", "init")


@dataclass
class MusicSettings:
    """The music task's own settings, beside the model's (``core.models``) and the
    training's (``core.train.TrainConfig``)."""

    model: str = "rnn"  # the model family
    output: str = "softmax"  # output activation of the next-token objective
    transpose: int = 5  # augmentation: random transposition up to +-N semitones


def setting_fields(family: str) -> dict:
    """Every setting a music run of ``family`` takes, by name, with its typed field."""
    from ..core.models import family as family_named
    from ..core.settings import fields_of
    from ..core.train import TrainConfig

    fields = fields_of(MusicSettings, family_named(family).config_class(), TrainConfig)
    return {k: f for k, f in fields.items() if k not in ("vocab_size", "features", "outputs")}


def split_settings(flat: dict):
    """(family, model config dict, output, TrainConfig, max_transpose) from one flat dict of
    settings (command-line flags or an experiment arm); the family's own training defaults
    fill what is not given."""
    from ..core.models import family as family_named
    from ..core.train import TrainConfig

    fam = family_named(flat.get("model", "rnn"))
    mfields = fam.config_class().__dataclass_fields__
    tfields = TrainConfig.__dataclass_fields__
    unknown = [k for k in flat if k not in mfields and k not in tfields and k not in MusicSettings.__dataclass_fields__]
    if unknown:
        raise SettingsError(f"{', '.join(unknown)}: not a setting of a {fam.name} model")
    tcfg = TrainConfig(**{**dict(fam.train_defaults), **{k: v for k, v in flat.items() if k in tfields}})
    mcfg = {k: v for k, v in flat.items() if k in mfields and k not in ("vocab_size", "features", "outputs")}
    if "activation" in mcfg:  # an older name (iris-mm) is stored, and compared, as its current one (iris)
        from ..core.config import canonical_activation

        mcfg["activation"] = canonical_activation(mcfg["activation"])
    return fam.name, mcfg, flat.get("output", "softmax"), tcfg, flat.get("transpose", MusicSettings.transpose)


def run_settings(out: str | os.PathLike) -> dict:
    """The settings a run in ``out`` was started with: {"family", "model", "objective",
    "train", "data", "init"} (for --resume)."""
    return settings_of(saved(out))


def settings_of(meta: dict) -> dict:
    """A checkpoint's training settings, as :func:`changed_settings` compares them."""
    data = {"test_fraction": 0.0, **meta.get("data", {})}  # runs from before the test split had none
    return {"family": meta.get("family", "rnn"), "model": meta["model"], "objective": meta.get("objective", {}),
            "train": meta.get("train", {}), "data": data, "init": meta.get("init")}


def _changes(want: dict, have: dict, keys) -> list[tuple[str, object, object]]:
    return [(k, have.get(k), want.get(k)) for k in keys if want.get(k) != have.get(k)]


def differences(want: dict, have: dict, keys) -> list[str]:
    return [f"{k} ({old!r} -> {new!r})" for k, old, new in _changes(want, have, keys)]


def _defaults(cls) -> dict:
    from dataclasses import MISSING, fields

    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def changed_settings(saved: dict, family: str, model_cfg: dict, output: str, train_cfg, data_settings: dict,
                     may_change=()) -> list[tuple[str, object, object]]:
    """(key, saved, wanted) for each setting that differs from a run's saved ones
    (:func:`settings_of`); settings missing from an older run count as their defaults,
    and train settings in ``may_change`` are not compared. Used by --resume and by the
    experiment runner's reuse of finished runs."""
    from ..core.models import family as family_named
    from ..core.train import TrainConfig

    if family != saved.get("family", "rnn"):
        return [("model", saved.get("family", "rnn"), family)]
    mdef = _defaults(family_named(family).config_class())
    have_m, want_m = {**mdef, **saved["model"]}, {**mdef, **model_cfg}
    tdef = {k: v for k, v in _defaults(TrainConfig).items() if k not in may_change}
    have_t = {**tdef, **{k: v for k, v in saved["train"].items() if k in tdef}}
    want_t = {k: v for k, v in vars(train_cfg).items() if k in tdef}
    have_o = saved.get("objective", {}).get("output", "softmax")
    return (_changes(want_m, have_m, [k for k in want_m if k != "vocab_size"])
            + ([("output", have_o, output)] if have_o != output else [])
            + _changes(want_t, have_t, want_t)
            + _changes(data_settings, saved["data"], data_settings))


# --- from flags ---------------------------------------------------------------------------
def grad_scale(value) -> float:
    """``--grad-scale`` as a number: 0 (off), a positive number, phi, golden or phi-conjugate."""
    from ..core.train import parse_grad_scale

    if value is None or str(value).lower() in ("0", "off", "none"):
        return 0.0
    try:
        return parse_grad_scale(str(value))
    except ValueError:
        raise SettingsError(f"--grad-scale {value}: give a positive number, phi, golden or phi-conjugate") from None


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def flat_settings(given: dict) -> dict:
    """One flat dict of the settings ``given`` (flag name -> value; None is a flag not
    given, and the family's defaults fill it), checked against the chosen family's fields
    (SettingsError, one line, naming a flag the family does not take)."""
    family = given.get("model") or "rnn"
    fields = setting_fields(family)
    flat = {"model": family}
    for dest in (*MODEL_FLAGS, *TRAIN_FLAGS, "output", "transpose"):
        v = given.get(dest)
        if v is None:
            continue
        if dest not in fields:
            raise SettingsError(f"{flag(dest)} is not a setting of the {family} model")
        flat[dest] = grad_scale(v) if dest == "grad_scale" else v
    if given.get("unfused"):
        if "fused" not in fields:
            raise SettingsError(f"--unfused is not a setting of the {family} model")
        flat["fused"] = False
    if given.get("compile"):
        flat["compile"] = True
    return flat


def train_configs(flat: dict):
    """(family, model config dict, output, TrainConfig, transpose), every value checked."""
    from ..core.models import make_config
    from ..core.objectives import NextToken

    family, mcfg, output, tcfg, transpose = split_settings(flat)
    make_config(family, {**mcfg, "vocab_size": 1})  # raise SettingsError (one line, exit 2) before any work
    NextToken(output)
    return family, mcfg, output, tcfg, transpose


def with_run(given: dict, record: dict, *, resume: bool, where: str) -> dict:
    """``given`` with every model (and, when ``resume``, training and data) setting it
    leaves None taken from a run's ``record`` (:func:`settings_of`): the run being resumed,
    or the checkpoint being fine-tuned (``where`` names it in the refusal of another family)."""
    given = dict(given)
    if given.get("model") is None:
        given["model"] = record["family"]
    elif given["model"] != record["family"]:
        raise SettingsError(f"{where}: {'the run trains ' if resume else ''}a {record['family']} model; "
                            f"it cannot start a --model {given['model']} run")
    for k, v in record["model"].items():
        if k in MODEL_FLAGS and given.get(k) is None:
            given[k] = v
    if record["model"].get("fused") is False:
        given["unfused"] = True
    if given.get("output") is None:
        given["output"] = record["objective"].get("output", "softmax")
    if resume:
        t, d = record["train"], record.get("data", {})
        for k in TRAIN_FLAGS:  # the session's own settings (SESSION_ONLY) are never the record's
            if given.get(k) is None and k in t and k not in SESSION_ONLY:
                given[k] = t[k] if k != "grad_scale" else (t[k] or None)
        for name, key in (("valid_fraction", "valid_fraction"), ("test_fraction", "test_fraction"),
                          ("transpose", "max_transpose")):
            if given.get(name) is None and key in d:
                given[name] = d[key]
        if given.get("init") is None and record.get("init"):
            given["init"] = record["init"]["path"]
        if given.get("data") is None and d.get("folder"):
            given["data"] = d["folder"]
    return given


def train_request(given: dict, out, *, resume: bool = False) -> dict:
    """The keyword arguments of ``train_music`` for the flags ``given`` (``FLAGS``; None: a
    flag not given): on ``resume`` the run's own settings fill the
    gaps, with ``init`` the checkpoint's model settings do, then the defaults."""
    from ..core.checkpoint import read_config

    if resume:
        given = with_run(given, run_settings(out), resume=True, where=str(out))
    elif given.get("init"):
        given = with_run(given, settings_of(read_config(given["init"])), resume=False, where=f"--init {given['init']}")
    if given.get("data") is None:
        raise SettingsError("--data: give the folder of MIDI files to train on")
    fractions = {k: v if given.get(k) is None else given[k] for k, v in DEFAULT_FRACTIONS.items()}
    family, mcfg, output, tcfg, transpose = train_configs(flat_settings(given))
    return dict(data=given["data"], out=out, model_cfg=mcfg, train_cfg=tcfg, family=family, output=output,
                max_transpose=transpose, init=given.get("init"), **fractions)


def experiment_arms(given: dict, arms: dict[str, dict]) -> dict[str, dict]:
    """Each arm's flat settings (the flags ``given`` are every arm's base), every arm checked
    before any is trained (SettingsError naming the arm)."""
    base = flat_settings(given)
    out = {}
    for name, change in arms.items():
        try:
            out[name] = {**base, **change}
            train_configs(out[name])
        except ValueError as e:
            raise SettingsError(f"{name}: {e}") from None
    return out


__all__ = ["DEFAULT_FRACTIONS", "FLAGS", "MODEL_FLAGS", "MusicSettings", "RESUME_MAY_CHANGE", "TRAIN_FLAGS",
           "changed_settings", "experiment_arms", "flat_settings", "grad_scale", "run_settings", "setting_fields",
           "settings_of", "split_settings", "train_configs", "train_request", "with_run"]
