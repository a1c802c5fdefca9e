"""The model registry: a checkpoint's ``family`` names the classes that build it.

Every family implements one interface:

* ``init_state(batch, device) -> state`` and ``forward(x, state, reset) -> (out, state)``
  (``reset`` (B, T) bool marks where a new sequence starts in a row);
* the class attribute ``carries_state``: True when training carries the state from one
  window to the next (stateful truncated BPTT, the RNN), False when every window is
  read from a fresh state (the transformer);
* a streaming stepper for sampling, built from the weights alone (NumPy, no torch):
  ``start(prompt, n)`` and ``step(tokens, state)``, each returning (logits (n, V), state).

Checkpoints written before families existed hold a char-RNN: ``family`` defaults to
``rnn``. Imports are lazy, so that reading a registry entry costs nothing.
:data:`FAMILIES` holds the token-sequence families; :data:`TASK_FAMILIES` the families a
task of this package defines for other data (``ddsp``, the voice decoder, which has no
streaming stepper), known by name so that their checkpoints load without the task first.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .errors import CheckpointError, SettingsError


@dataclass(frozen=True)
class Family:
    name: str
    config: str  # "module:Class" of the config dataclass (from_dict, to_dict, validate)
    model: str  # "module:Class" of the torch module
    stepper: str  # "module:Class" of the NumPy streaming stepper: Class(weights, cfg, output)
    about: str
    train_defaults: tuple = ()  # (name, value) pairs: TrainConfig settings this family trains best with

    def _load(self, spec: str):
        module, name = spec.split(":")
        return getattr(importlib.import_module(module), name)

    def config_class(self):
        return self._load(self.config)

    def model_class(self):
        return self._load(self.model)

    def stepper_class(self):
        return self._load(self.stepper)


FAMILIES = {
    "rnn": Family("rnn", "musicrnn.core.config:RNNConfig", "musicrnn.core.rnn:CharRNN",
                  "musicrnn.core.sample:NumpyStepper", "stateful char-RNN (LSTM, GRU, LSTM-LITE), truncated BPTT"),
    "transformer": Family("transformer", "musicrnn.core.transformer_np:TransformerConfig",
                          "musicrnn.core.transformer:Transformer", "musicrnn.core.transformer_np:TransformerStepper",
                          "causal decoder with rotary positions and a key/value cache",
                          (("bptt", 384), ("primer", 128), ("lr", 1e-3))),
}


# Families a task of this package defines, known here by name and "module:Class" strings
# only (nothing is imported until a checkpoint or a task asks for one), so that a checkpoint
# of one loads whether or not its task was imported first. Kept apart from FAMILIES, the
# token-sequence families that a token task trains (the command line's --model choices).
TASK_FAMILIES = {
    "ddsp": Family("ddsp", "musicrnn.style.voice:VoiceConfig", "musicrnn.style.voice:VoiceModel", "",
                   "DDSP voice: recurrent decoder -> harmonic + filtered-noise synthesizer"),
}


def register(fam: Family) -> Family:
    """Add a family defined outside this package (a third-party model); the families of
    this package's own tasks are listed in :data:`TASK_FAMILIES` instead."""
    FAMILIES[fam.name] = fam
    return fam


def family(name: str | None) -> Family:
    key = name or "rnn"
    try:
        return FAMILIES[key]
    except KeyError:
        pass
    try:
        return TASK_FAMILIES[key]
    except KeyError:
        raise SettingsError(f"unknown model family {name!r}: choose from {', '.join(FAMILIES)}") from None


def family_of(meta: dict) -> Family:
    """The family of a checkpoint's config (``rnn`` for checkpoints older than families)."""
    name = meta.get("family")
    if name is not None and not isinstance(name, str):
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json family {str(name)[:40]!r} is not a name")
    try:
        return family(name)
    except SettingsError as e:
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: {e}") from None


def make_config(name: str, settings: dict):
    """A validated model config of family ``name`` (unknown keys are ignored)."""
    return family(name).config_class().from_dict(settings).validate()


def config_of(meta: dict):
    """The model config a checkpoint's config.json describes, every field's type checked
    before anything is built (CheckpointError, one line naming the field). Its ranges are
    checked by :func:`checked_config`."""
    from .settings import typed

    try:
        return typed(family_of(meta).config_class(), meta.get("model"), "model")
    except SettingsError as e:
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json {e}") from None


def checked_config(meta: dict):
    """:func:`config_of`, its ranges validated too."""
    cfg = config_of(meta)
    if hasattr(cfg, "validate"):
        try:
            cfg.validate()
        except SettingsError as e:
            raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: config.json model: "
                                  f"{str(e).replace('--', '')}") from None
    return cfg


def check_weights(meta: dict, cfg, shapes: dict) -> None:
    """Compare the shapes of a checkpoint's weights (``shapes``: name -> shape) with those its
    config asks for (the config's ``weight_shapes()``) before any model is built, so that a
    config.json edited to ``hidden: 10**9`` is one line naming the setting, not an
    allocation of gigabytes."""
    where = meta.get("_folder", "checkpoint")
    if not hasattr(cfg, "weight_shapes"):
        return
    for name, dims in cfg.weight_shapes().items():
        have = shapes.get(name)
        if have is None:
            base = name.split(".", 1)[1] if name.startswith("decoder.") else name
            setting = (dims[0][1] if base.startswith(("embed", "head")) else "attention" if base.startswith("att.")
                       else "layers, cell or activation" if base.startswith("rnn.") else "layers")
            raise CheckpointError(f"{where}: config.json model.{setting} does not fit the weights (they have no "
                                  f"{name})")
        have = tuple(int(x) for x in have)
        for axis, (size, setting) in enumerate(dims):
            if axis >= len(have) or have[axis] != size:
                raise CheckpointError(f"{where}: config.json model.{setting} = {getattr(cfg, setting, size)!r} does not "
                                      f"fit the weights ({name} has shape {have})")


def build(name: str, cfg, seed: int | None = None):
    """A fresh torch model of family ``name``; with ``seed``, its initial weights depend on
    the seed alone (torch's global generator is seeded first)."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    return family(name).model_class()(cfg)


def from_checkpoint(state: dict, meta: dict, device: str = "cpu"):
    """A torch model (eval mode) from a checkpoint's weights and config."""
    cfg = checked_config(meta)
    check_weights(meta, cfg, {k: tuple(v.shape) for k, v in state.items()})
    model = build(family_of(meta).name, cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: weights do not fit the model described in "
                              f"config.json") from None
    return model.to(device).eval()


def stepper_from_arrays(arrays: dict, meta: dict, output: str):
    """A NumPy streaming stepper from a checkpoint's arrays (no torch)."""
    cfg = checked_config(meta)
    check_weights(meta, cfg, {k: v.shape for k, v in arrays.items()})
    try:
        return family_of(meta).stepper_class()(arrays, cfg, output=output)
    except (KeyError, ValueError, IndexError) as e:
        raise CheckpointError(f"{meta.get('_folder', 'checkpoint')}: weights do not fit the model described in "
                              f"config.json ({e})") from None


def stepper_for(model, output: str = "softmax"):
    """The fastest streaming stepper for a torch model in memory: NumPy on the CPU, torch elsewhere."""
    if next(model.parameters()).device.type == "cpu":
        return family(model.family).stepper_class().from_model(model, output=output)
    from .stepper_torch import TorchStepper

    return TorchStepper(model, output)


def detach(state):
    """A carried state cut from the graph of the window that produced it."""
    return tuple(s.detach() for s in state)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["check_weights", "checked_config", "count_parameters", "detach", "FAMILIES", "Family", "build", "config_of",
           "family", "family_of", "from_checkpoint",
           "make_config", "register", "stepper_for", "stepper_from_arrays", "TASK_FAMILIES"]
