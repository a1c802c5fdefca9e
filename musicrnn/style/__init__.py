"""Vocal style transfer: move a voice toward a target voice's register and timbre.

- ``instant``: no training; a profile from one short target clip, WORLD resynthesis
  (``VoiceProfile``, ``build_profile``, ``convert``);
- ``metrics``: mel-cepstral distortion, log-f0 correlation, real-time factor, speaker
  similarity;
- ``evalset``: parallel speech (espeak-ng) and singing (Festival) test sets;
- ``dsp``: the pure signal-processing functions underneath.

Heavy libraries (pyworld, pysptk, resemblyzer/torch) load on first use, and so do the
names below: importing a light module of this package (``style.settings``) loads no NumPy.
"""

import importlib

_HOMES = {**dict.fromkeys(("Conversion", "InstantSettings", "VoiceProfile", "build_profile", "convert",
                           "convert_with_info"), "musicrnn.style.instant"),
          **dict.fromkeys(("f0_corr", "log_f0_rmse_cents", "mcd", "mel_cepstrum", "rtf", "speaker_similarity"),
                          "musicrnn.style.metrics")}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'musicrnn.style' has no attribute {name!r}")

__all__ = ["Conversion", "InstantSettings", "VoiceProfile", "build_profile", "convert", "convert_with_info",
           "f0_corr", "log_f0_rmse_cents", "mcd", "mel_cepstrum", "rtf", "speaker_similarity"]
