"""Spectral features and losses for a DDSP-style voice model (after magenta/ddsp, in torch).

Pure functions over tensors, shared conventions with ``musicrnn.style.synth``: audio is
(B, N) float in about [-1, 1]; spectra are (B, F, T) with F = n_fft // 2 + 1 bins from
0 Hz to Nyquist and T frames ``hop`` samples apart, frame t centred on sample t * hop.

- :func:`stft_mag`: STFT magnitudes (Hann window, centred frames, zero padding);
- :func:`multiscale_spectral_loss`: ddsp's multi-resolution L1 loss on linear and log
  magnitudes, the training loss of the voice model;
- :func:`loudness_db`: A-weighted frame loudness in dB relative to full scale, a
  conditioning feature (differentiable, though nothing needs it to be).
"""

from __future__ import annotations

import torch

__all__ = ["stft_mag", "multiscale_spectral_loss", "loudness_db", "a_weighting_db"]

LOG_EPS = 1e-5  # added to magnitudes before the log in the loss (see multiscale_spectral_loss)
POWER_FLOOR = 1e-10  # mean-square floor in loudness_db: -100 dB


def stft_mag(x: torch.Tensor, n_fft: int, hop: int | None = None) -> torch.Tensor:
    """(B, N) or (N,) audio -> (B, F, T) or (F, T) STFT magnitudes, F = n_fft // 2 + 1.

    Periodic Hann window of length n_fft, hop ``n_fft // 4`` by default (75 % overlap),
    ``center=True`` with zero padding of n_fft / 2 on each side (so any N >= 1 works,
    unlike reflect padding, which needs N > n_fft / 2), T = 1 + N // hop frames. Not
    normalised: a full-scale sine centred on a bin peaks at about n_fft / 4.
    """
    hop = n_fft // 4 if hop is None else int(hop)
    window = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop, window=window, center=True, pad_mode="constant", return_complex=True)
    return spec.abs()


def multiscale_spectral_loss(pred: torch.Tensor, target: torch.Tensor, ffts=(2048, 1024, 512, 256, 128, 64),
                             overlap: float = 0.75, log_weight: float = 1.0, *, mag_weight: float = 1.0,
                             eps: float = LOG_EPS) -> torch.Tensor:
    """Scalar: ddsp's multi-scale spectral loss between pred and target audio (B, N).

    For each FFT size s (hop = s * (1 - overlap), at least 1), with S = :func:`stft_mag`:
    ``mag_weight * mean|S_pred - S_target| + log_weight * mean|log(S_pred + eps) - log(S_target + eps)|``
    (means over batch, bins and frames), then the mean over the scales (ddsp sums; the mean
    keeps the value's size independent of how many scales are used). The linear term
    follows the loud partials, the log term the quiet ones and the noise floor; ``eps``
    (1e-5: 124 dB below the peak magnitude n_fft / 4 of a full-scale sine at s = 64, and
    further below at larger s) keeps the log finite at digital silence and stops the loss from
    chasing differences far below anything audible. Gradients reach ``pred`` (and
    ``target`` if it requires them). 0 for identical signals.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if not ffts:
        raise ValueError("need at least one FFT size")
    total = pred.new_zeros(())
    for n_fft in ffts:
        hop = max(1, int(round(n_fft * (1.0 - overlap))))
        s_pred, s_true = stft_mag(pred, n_fft, hop), stft_mag(target, n_fft, hop)
        loss = mag_weight * (s_pred - s_true).abs().mean()
        if log_weight:
            loss = loss + log_weight * (torch.log(s_pred + eps) - torch.log(s_true + eps)).abs().mean()
        total = total + loss
    return total / len(ffts)


def a_weighting_db(freqs_hz: torch.Tensor) -> torch.Tensor:
    """A-weighting gain in dB at ``freqs_hz`` (IEC 61672-1: 0 dB at 1 kHz, -inf at 0 Hz)."""
    f2 = freqs_hz.to(torch.float64) ** 2
    ra = (12194.0 ** 2 * f2 ** 2) / ((f2 + 20.6 ** 2) * torch.sqrt((f2 + 107.7 ** 2) * (f2 + 737.9 ** 2)) * (f2 + 12194.0 ** 2))
    return 20.0 * torch.log10(ra) + 2.0


def loudness_db(x: torch.Tensor, sr: float, n_fft: int = 1024, hop: int | None = None) -> torch.Tensor:
    """(B, N) or (N,) audio -> (B, T) or (T,) A-weighted loudness, dB re full scale.

    Per :func:`stft_mag` frame: the mean square of the windowed frame with each bin's power
    weighted by the A-curve, ``10 log10(max(ms, 1e-10))`` (floor -100 dB). By Parseval,
    ms = (|X_0|^2 + 2 sum_{0<f<F-1} |X_f|^2 + |X_{F-1}|^2) / (n_fft * sum(window^2)), so a
    full-scale 1 kHz sine reads -3.0 dB (its mean square is 1/2) and scaling the audio by
    a gives + 20 log10(a) dB. ddsp instead averages dB over the bins with its own offset;
    this version is an energy and so adds up across sources. Frames as in
    :func:`stft_mag` (T = 1 + N // hop, hop = n_fft // 4 by default).
    """
    hop = n_fft // 4 if hop is None else int(hop)
    mag = stft_mag(x, n_fft, hop)
    freqs = torch.linspace(0.0, sr / 2.0, n_fft // 2 + 1, dtype=torch.float64, device=x.device)
    gain = 10.0 ** (a_weighting_db(freqs.clamp(min=1e-3)) / 10.0)  # power gain; ~0 at DC
    gain[1:-1] *= 2.0  # one-sided spectrum: interior bins stand for two
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=x.device)
    norm = n_fft * float((window ** 2).sum())
    gain = (gain / norm).to(mag.dtype)
    ms = torch.einsum("...ft,f->...t", mag ** 2, gain)
    return 10.0 * torch.log10(ms.clamp(min=POWER_FLOOR))

