"""Typed settings: text such as ``hidden=128 cell=lstm-lite`` turned into values by the
types of the config dataclasses' fields (no second flag parser). Torch-free.

An experiment arm, a ``--vary`` grid value and a saved run's settings all go through
:func:`coerce`, so ``hidden=128`` is the int 128 and ``fused=false`` the bool False.
"""

from __future__ import annotations

import dataclasses
from .errors import SettingsError

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _type_name(field) -> str:
    t = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    return t.replace(" ", "")


def coerce(name: str, field, text: str):
    """``text`` as a value of ``field``'s type (int, float, bool, str, or one of those | None)."""
    t = _type_name(field)
    optional = t.endswith("|None") or t.startswith("None|")
    base = t.replace("|None", "").replace("None|", "")
    if optional and text.lower() in ("none", "off", ""):
        return None
    try:
        if base == "bool":
            low = text.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError
            return low in _TRUE
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
        if base == "str":
            return text
    except ValueError:
        raise SettingsError(f"{name}={text}: not a valid {base}") from None
    raise SettingsError(f"{name}: a setting of type {t} cannot be given as text")


def _fits(base: str, value) -> bool:
    if base == "bool":
        return isinstance(value, bool)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
            and abs(value) != float("inf")
    if base == "str":
        return isinstance(value, str) and len(value) <= 1000
    return True  # other types (tuples, nested configs) are the class's own to check


_WORDS = {"int": "a whole number", "float": "a finite number", "bool": "true or false", "str": "a short string"}


def typed(cls, d, where: str):
    """``cls(**d)`` after checking that every value ``d`` gives for a field of the dataclass
    ``cls`` has the field's type (an int is no bool, a float is finite, a string is short;
    ``None`` only where the type allows it); unknown keys are ignored. For settings read
    from a file nobody checked (a checkpoint's config.json): SettingsError (one line) naming
    ``where.field`` and the value, before anything is built from them."""
    if not isinstance(d, dict):
        raise SettingsError(f"{where}: must be an object of settings, not {type(d).__name__}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v, t = d[f.name], _type_name(f)
        optional = t.endswith("|None") or t.startswith("None|")
        base = t.replace("|None", "").replace("None|", "")
        if not ((optional and v is None) or _fits(base, v)):
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise SettingsError(f"{where}.{f.name}: {shown} is not {_WORDS.get(base, base)}")
        values[f.name] = v
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise SettingsError(f"{where}: {', '.join(missing)} missing")
    return cls(**values)


def check_range(where: str, value, lo, hi) -> None:
    """SettingsError (one line) unless lo <= value <= hi."""
    if not lo <= value <= hi:
        raise SettingsError(f"{where} must be between {lo:,} and {hi:,} (got {value:,})")


def fields_of(*classes) -> dict:
    """Field name -> dataclass field, over several config classes (earlier ones win)."""
    out: dict = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            out.setdefault(f.name, f)
    return out


# The core's model and training settings a research task's run (and an experiment arm) may
# change besides the task's own: the char-RNN's (config.RNNConfig) and the training loop's
# (train.TrainConfig). The run's length (steps, minutes) and seed are the task's arguments.
CORE_MODEL = ("cell", "activation", "attention", "dropout", "layers", "embed", "hidden", "fused")
CORE_TRAIN = ("lr", "weight_decay", "warmup", "min_lr_ratio", "grad_clip", "grad_scale", "bptt", "batch", "patience")


def core_fields() -> dict:
    """Name -> typed field of every CORE_MODEL and CORE_TRAIN setting."""
    from .config import RNNConfig
    from .train import TrainConfig

    fields = fields_of(RNNConfig, TrainConfig)
    return {k: fields[k] for k in (*CORE_MODEL, *CORE_TRAIN)}


def split_core(options: dict) -> tuple[dict, dict]:
    """(model settings, training settings) of a research run's core options; SettingsError
    (one line) for a name that is neither."""
    unknown = sorted(set(options) - set(CORE_MODEL) - set(CORE_TRAIN))
    if unknown:
        raise SettingsError(f"unknown setting{'s' * (len(unknown) > 1)} {', '.join(unknown)}: the core's are "
                            f"{', '.join(CORE_MODEL + CORE_TRAIN)}")
    return ({k: v for k, v in options.items() if k in CORE_MODEL},
            {k: v for k, v in options.items() if k in CORE_TRAIN})


def check_core(options: dict, model_defaults: dict) -> tuple[dict, dict]:
    """:func:`split_core` and then refuse (SettingsError, one line) a model or training setting
    no run can use, the model's on top of ``model_defaults``; returns (model, training) settings."""
    from .models import make_config
    from .train import TrainConfig

    model, train = split_core(options)
    make_config("rnn", {**model_defaults, **model, "vocab_size": 1})
    TrainConfig(**train).validate()
    return model, train


__all__ = ["CORE_MODEL", "CORE_TRAIN", "check_core", "check_range", "coerce", "core_fields", "fields_of", "split_core",
           "typed"]
