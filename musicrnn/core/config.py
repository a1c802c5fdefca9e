"""The char-RNN's configuration and the names of the model options (the output activation
belongs to the objective, ``objectives.NextToken``; the transformer's config is in
``transformer.py``). Imports nothing heavy (no
numpy, no torch), so that the command line can build its parser in milliseconds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import SettingsError

CELLS = ("lstm", "gru", "lstm-lite")
ACTIVATIONS = ("tanh", "iris", "phi-tanh", "iris2")  # functions in activations.HIDDEN
ACTIVATION_ALIASES = {"iris-mm": "iris", "iris1": "phi-tanh"}  # older names, same functions
LEGACY = {**ACTIVATION_ALIASES, "iris": "phi-tanh"}  # what a name meant in checkpoint format < 2
OUTPUTS = ("softmax", "topcat", "topcat-sigmoid")
MAXIMA = {"vocab_size": 1_000_000, "embed": 16_384, "hidden": 16_384, "layers": 64, "attention": 65_536,
          "features": 100_000, "outputs": 1_000_000}  # upper bounds of RNNConfig's sizes


def canonical_activation(name: str) -> str:
    name = ACTIVATION_ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise SettingsError(f"unknown activation {name!r}: choose from {', '.join(ACTIVATIONS)}")
    return name


@dataclass
class RNNConfig:
    vocab_size: int
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    cell: str = "lstm"  # lstm | gru | lstm-lite
    dropout: float = 0.1
    activation: str = "tanh"  # tanh | iris | phi-tanh | iris2 (LSTM cells; activations.HIDDEN)
    fused: bool = True  # plain tanh LSTM: use nn.LSTM (True) or ResearchLSTM (False)
    attention: int = 0  # > 0: temporal attention over this many recent outputs (carried statefully)
    features: int = 0  # > 0: float inputs of this width (a linear layer) instead of token ids
    outputs: int = 0  # size of the output layer; 0: vocab_size (next-token logits)

    @classmethod
    def from_dict(cls, d: dict) -> "RNNConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def n_out(self) -> int:
        return self.outputs or self.vocab_size

    @property
    def uses_fused(self) -> bool:
        """True when the recurrent layer is PyTorch's nn.LSTM/nn.GRU (else the research cell)."""
        return self.cell == "gru" or (self.cell == "lstm" and self.activation == "tanh" and self.fused)

    def validate(self) -> "RNNConfig":
        """Raise SettingsError (one line) for a setting no model can be built from; names the
        activation by its current name (``iris-mm`` -> ``iris``)."""
        if self.cell not in CELLS:
            raise SettingsError(f"unknown cell {self.cell!r}: use lstm, gru or lstm-lite")
        self.activation = canonical_activation(self.activation)
        if self.cell == "gru" and self.activation != "tanh":
            raise SettingsError("the GRU cell supports only --activation tanh")
        for name in ("vocab_size", "embed", "hidden", "layers"):
            if int(getattr(self, name)) < 1:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if not 0 <= self.dropout < 1:
            raise SettingsError(f"--dropout must be in [0, 1) (got {self.dropout})")
        if self.features < 0 or self.outputs < 0:
            raise SettingsError("features and outputs must be >= 0")
        if self.attention < 0:
            raise SettingsError(f"--attention must be 0 (off) or a window of at least 1 (got {self.attention})")
        for name, hi in MAXIMA.items():  # far beyond any model this project trains; above, memory runs out
            if int(getattr(self, name)) > hi:
                raise SettingsError(f"--{name.replace('_', '-')} must be at most {hi:,} (got {getattr(self, name):,})")
        return self

    def weight_shapes(self) -> dict:
        """{weight name: ((size, setting), ...)} for the weights whose shapes the settings
        decide (``models.check_weights`` compares a checkpoint's against them before any
        model is built); a missing weight is named by the setting that asks for it."""
        H = (self.hidden, "hidden")
        shapes = {"embed.weight": ((self.embed, "embed"), (self.features, "features")) if self.features
                  else ((self.vocab_size, "vocab_size"), (self.embed, "embed")),
                  "head.weight": ((self.n_out, "outputs" if self.outputs else "vocab_size"), H)}
        gates = 3 if self.cell == "gru" else 1 if self.cell == "lstm-lite" else 4
        for k in range(self.layers):
            name = f"rnn.weight_hh_l{k}" if self.uses_fused else f"rnn.w_hh.{k}"
            shapes[name] = ((gates * self.hidden, "hidden"), H)
        if self.attention:
            shapes["att.q.weight"] = (H, H)
        return shapes


__all__ = ["ACTIVATIONS", "CELLS", "OUTPUTS", "RNNConfig", "canonical_activation"]
