"""Vocal style transfer: move a voice toward a target voice's register and timbre.

- ``instant``: no training; a profile from one short target clip, WORLD resynthesis
  (``VoiceProfile``, ``build_profile``, ``convert``);
- ``metrics``: mel-cepstral distortion, log-f0 correlation, real-time factor, speaker
  similarity;
- ``evalset``: parallel speech (espeak-ng) and singing (Festival) test sets;
- ``dsp``: the pure signal-processing functions underneath.

Heavy libraries (pyworld, pysptk, resemblyzer/torch) load on first use.
"""

from musicrnn.style.instant import Conversion, InstantSettings, VoiceProfile, build_profile, convert, convert_with_info
from musicrnn.style.metrics import f0_corr, log_f0_rmse_cents, mcd, mel_cepstrum, rtf, speaker_similarity

__all__ = ["Conversion", "InstantSettings", "VoiceProfile", "build_profile", "convert", "convert_with_info",
           "f0_corr", "log_f0_rmse_cents", "mcd", "mel_cepstrum", "rtf", "speaker_similarity"]
