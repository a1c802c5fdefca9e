"""The world <-> sequences. ``midi``: files <-> Score; ``vocab``/``tokens``: Score <-> ids."""

from .errors import AudioError
from .midi import MidiError, Score, iter_midi_files, load_midi_bytes, midi_bytes, read_midi, write_midi
from .roundtrip import CheckReport, check_paths, count_matched, roundtrip_score
from .tokens import Decoded, decode, encode, quantize, transpose
from .vocab import BAR, BOS, EOS, PAD, CodecConfig, Vocab

__all__ = [
    "AudioError", "BAR", "BOS", "EOS", "PAD", "CheckReport", "CodecConfig", "Decoded", "MidiError", "Score",
    "Vocab", "check_paths", "count_matched", "decode", "encode", "iter_midi_files",
    "load_midi_bytes", "midi_bytes", "quantize", "read_midi", "roundtrip_score", "transpose",
    "write_midi",
]
