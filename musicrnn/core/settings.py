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


__all__ = ["check_range", "coerce", "fields_of", "typed"]
