"""Differentiable synthesizers for a DDSP-style voice model (after magenta/ddsp, in torch).

Pure signal-processing functions over tensors: no modules, no parameters, no state. A
decoder predicts frame-rate controls; these turn them into audio, and every output is
differentiable with respect to every floating-point input.

Conventions (shared with ``musicrnn.style.spectral``):

- B batch, T frames, N = T * hop samples, K harmonics, M noise-filter bands;
- frame ``t`` describes sample ``t * hop`` (its centre); between two frames controls are
  interpolated linearly, after the last frame they are held for the last ``hop`` samples
  (see :func:`upsample`);
- audio is float in about [-1, 1]; frequencies are in Hz at sample rate ``sr``;
- f0 = 0 Hz marks an unvoiced frame. The synthesizers stay finite there (the phase just
  stops advancing), but silencing the harmonic part is the caller's job (amplitude ~ 0).

Functions: :func:`exp_sigmoid` (non-negative network outputs), :func:`upsample`,
:func:`harmonic_synth` (additive sinusoids), :func:`filtered_noise` (time-varying FIR
filtered white noise), :func:`noise_filter_ir` (the filters themselves).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["exp_sigmoid", "upsample", "harmonic_synth", "harmonic_amplitudes", "filtered_noise", "noise_filter_ir"]

DIST_EPS = 1e-7  # added to the sum of a harmonic distribution before dividing by it


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7) -> torch.Tensor:
    """ddsp's scaled sigmoid for non-negative outputs (amplitudes, magnitudes).

    ``max_value * sigmoid(x) ** log(exponent) + threshold``, elementwise, any shape. The
    power makes the output span many decades (at x = -10 it is ~1e-10 * max_value, so
    log-magnitudes are reachable), ``threshold`` keeps it strictly positive (no zero
    division when normalising, no dead gradient of a log), and the gradient never
    vanishes the way it does for ``relu`` or ``exp`` overflows.
    """
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


def _frame_weights(n_samples: int, n_frames: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left frame index i0 [N], right frame index i1 [N] and right weight w [N] in [0, 1)."""
    pos = torch.arange(n_samples, dtype=torch.float64, device=device) * (n_frames / n_samples)
    i0 = pos.floor().long().clamp_(max=n_frames - 1)
    i1 = (i0 + 1).clamp_(max=n_frames - 1)
    w = (pos - i0.to(torch.float64)).clamp_(0.0, 1.0)
    return i0, i1, w.to(dtype)


def upsample(frames: torch.Tensor, n_samples: int) -> torch.Tensor:
    """(B, T, C) frame-rate controls -> (B, n_samples, C) sample-rate controls.

    Linear interpolation between frame centres: with hop = n_samples / T (need not be an
    integer), frame t sits at sample t * hop; sample n takes frame positions
    p = n / hop, mixing frames floor(p) and floor(p) + 1 with weight frac(p). After the last
    frame (p > T - 1) the last value is held, so the output has exactly ``n_samples``
    samples and starts exactly at frame 0. Differentiable in ``frames``.
    """
    if frames.dim() != 3:
        raise ValueError(f"upsample expects (B, T, C), got shape {tuple(frames.shape)}")
    n_frames = frames.shape[1]
    if n_frames < 1 or n_samples < 1:
        raise ValueError(f"need T >= 1 frames and n_samples >= 1, got T={n_frames}, n_samples={n_samples}")
    i0, i1, w = _frame_weights(n_samples, n_frames, frames.dtype, frames.device)
    w = w[None, :, None]
    return frames[:, i0] * (1.0 - w) + frames[:, i1] * w


def harmonic_amplitudes(f0_hz: torch.Tensor, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, sr: float) -> torch.Tensor:
    """(B, T, K) frame-rate amplitude of each harmonic.

    f0_hz (B, T) Hz, amplitude (B, T) >= 0, harmonic_distribution (B, T, K) >= 0.
    Harmonic k (1-based) is zeroed in a frame where k * f0 >= sr / 2 (it would alias),
    the remaining ones are normalised to sum 1 (divided by their sum + ``DIST_EPS``), and
    the result is scaled by ``amplitude``: so ``amplitude`` is the sum of the sinusoids'
    peak amplitudes. When every harmonic is above Nyquist the frame is silent.
    """
    n_harm = harmonic_distribution.shape[-1]
    k = torch.arange(1, n_harm + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    below = (f0_hz[..., None] * k) < (sr / 2.0)
    dist = harmonic_distribution * below.to(harmonic_distribution.dtype)
    dist = dist / (dist.sum(-1, keepdim=True) + DIST_EPS)
    return amplitude[..., None] * dist


def _phase(f0_hz: torch.Tensor, sr: float, hop: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, T * hop) instantaneous phase of the fundamental, wrapped to [0, 2 pi), in ``dtype``.

    phase[n] = 2 pi / sr * sum_{m < n} f0(m) with f0 linearly upsampled (so phase[0] = 0).
    The running sum is taken in float64 and wrapped before the cast: in float32 the
    unwrapped phase of a minute of 400 Hz (~1.5e5 rad) has a resolution of ~0.016 rad,
    ~1 rad for the 60th harmonic, and a sequential float32 sum drifts further.
    Wrapping by whole turns leaves k * phase correct mod 2 pi for every integer k.
    """
    n = f0_hz.shape[1] * hop
    f0_up = upsample(f0_hz.to(torch.float64)[..., None], n)[..., 0]
    omega = f0_up * (2.0 * math.pi / sr)
    phase = torch.cumsum(omega, dim=1) - omega
    return torch.remainder(phase, 2.0 * math.pi).to(dtype)


class _HarmonicSum(torch.autograd.Function):
    """out[b, t, j] = sum_k ((1 - w_j) a0[b, t, k] + w_j a1[b, t, k]) * sin(h_k * phase[b, t, j]).

    phase (B, T, hop); a0, a1 (B, T, K): harmonic amplitudes at the frame at the start and
    at the end of each hop; weights (hop, 2) = [1 - w_j, w_j]; harmonics (K,) the harmonic
    numbers. Harmonics go ``chunk`` at a time and nothing of size B * N * K is stored:
    forward keeps only its inputs, backward recomputes sin / cos per chunk (a few
    B * N * chunk temporaries). Measured for B = 8, 1 s at 16 kHz, K = 60, forward and
    backward: peak RSS +64 MB, against +227 MB for the same sum with plain autograd
    (one B * N * K float32 tensor is 31 MB), and about half the time.
    """

    @staticmethod
    def forward(ctx, phase, a0, a1, weights, harmonics, chunk):
        a01 = torch.stack((a0, a1), dim=-1)  # (B, T, K, 2)
        out = phase.new_zeros(phase.shape + (2,))
        for s in range(0, harmonics.numel(), chunk):
            sines = (phase[..., None] * harmonics[s:s + chunk]).sin_()  # (B, T, hop, kc)
            out += sines @ a01[:, :, s:s + chunk]  # (B, T, hop, 2)
        ctx.save_for_backward(phase, a01, weights, harmonics)
        ctx.chunk = chunk
        return (out * weights).sum(-1)

    @staticmethod
    def backward(ctx, grad_out):
        phase, a01, weights, harmonics = ctx.saved_tensors
        need_phase, need_a0, need_a1 = ctx.needs_input_grad[:3]
        g2 = grad_out[..., None] * weights  # (B, T, hop, 2)
        grad_phase = torch.zeros_like(phase) if need_phase else None
        grad_a01 = torch.zeros_like(a01) if (need_a0 or need_a1) else None
        for s in range(0, harmonics.numel(), ctx.chunk):
            h = harmonics[s:s + ctx.chunk]
            arg = phase[..., None] * h  # (B, T, hop, kc)
            if grad_a01 is not None:
                grad_a01[:, :, s:s + ctx.chunk] = torch.sin(arg).transpose(-1, -2) @ g2  # (B, T, kc, 2)
            if need_phase:
                dsin = arg.cos_() @ (a01[:, :, s:s + ctx.chunk] * h[:, None])  # (B, T, hop, 2)
                grad_phase += (dsin * g2).sum(-1)
        grad_a0 = grad_a01[..., 0] if need_a0 else None
        grad_a1 = grad_a01[..., 1] if need_a1 else None
        return grad_phase, grad_a0, grad_a1, None, None, None


def harmonic_synth(f0_hz: torch.Tensor, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, sr: float,
                   hop: int, *, chunk: int = 16) -> torch.Tensor:
    """Additive synthesis of a harmonic sound: (B, N) audio, N = T * hop.

    f0_hz (B, T): fundamental per frame, Hz (0 = unvoiced: finite output, phase frozen);
    amplitude (B, T) >= 0: overall amplitude, the sum of the harmonics' peak amplitudes;
    harmonic_distribution (B, T, K) >= 0: relative weight of harmonics 1..K, zeroed per
    frame above Nyquist and normalised (see :func:`harmonic_amplitudes`); sr: Hz;
    hop: samples per frame (int); chunk: harmonics summed per pass (memory vs. speed only).

    Sample n = t * hop + j is ``sum_k a_k(n) sin(k phi(n))`` with a_k and f0 linearly
    interpolated between frames exactly as :func:`upsample` does, and phi the running
    phase of the fundamental (starts at 0, accumulated in float64 and wrapped to
    [0, 2 pi) before the cast, see :func:`_phase`). The output dtype is amplitude's.
    The anti-alias mask is per frame: while f0 rises through a hop, a harmonic that is
    above Nyquist at the next frame fades out linearly over that hop rather than at once
    (so it may alias briefly, at a falling amplitude).
    Gradients reach f0, amplitude and the distribution; the harmonic sum is a custom
    autograd function that never holds a (B, N, K) tensor.
    """
    if f0_hz.dim() != 2 or amplitude.shape != f0_hz.shape or harmonic_distribution.shape[:2] != f0_hz.shape:
        raise ValueError("expected f0_hz (B, T), amplitude (B, T), harmonic_distribution (B, T, K); got "
                         f"{tuple(f0_hz.shape)}, {tuple(amplitude.shape)}, {tuple(harmonic_distribution.shape)}")
    hop = int(hop)
    if hop < 1 or chunk < 1:
        raise ValueError(f"hop and chunk must be >= 1, got hop={hop}, chunk={chunk}")
    batch, n_frames, n_harm = harmonic_distribution.shape
    dtype = amplitude.dtype
    amps = harmonic_amplitudes(f0_hz, amplitude, harmonic_distribution, sr).to(dtype)  # (B, T, K)
    amps_next = torch.cat((amps[:, 1:], amps[:, -1:]), dim=1)  # frame t + 1, the last one held
    phase = _phase(f0_hz, sr, hop, dtype).reshape(batch, n_frames, hop)
    w = torch.arange(hop, dtype=dtype, device=amps.device) / hop
    weights = torch.stack((1.0 - w, w), dim=-1)  # (hop, 2)
    harmonics = torch.arange(1, n_harm + 1, dtype=dtype, device=amps.device)
    out = _HarmonicSum.apply(phase, amps, amps_next, weights, harmonics, int(chunk))
    return out.reshape(batch, n_frames * hop)


def noise_filter_ir(magnitudes: torch.Tensor) -> torch.Tensor:
    """(..., M) zero-phase magnitude responses -> (..., 2 (M - 1)) windowed FIR filters.

    Frequency sampling, as ddsp's ``frequency_impulse_response``: M magnitudes on a linear
    grid from 0 Hz to Nyquist (bin m at m / (M - 1) * sr / 2) define a real, even
    (zero-phase) impulse response of length L = 2 (M - 1) via ``irfft``; it is rotated by
    L / 2 so that its centre tap sits at index L / 2 (causal, delay L / 2 samples) and
    multiplied by a periodic Hann window of length L (peak 1 at that centre tap), which
    trades the ripple of a truncated response for a smoothed one. All-ones magnitudes
    give a unit impulse at L / 2.
    """
    n_mag = magnitudes.shape[-1]
    if n_mag < 2:
        raise ValueError(f"need at least 2 filter magnitudes, got {n_mag}")
    size = 2 * (n_mag - 1)
    ir = torch.fft.irfft(magnitudes, n=size)  # real input = zero phase
    ir = torch.roll(ir, shifts=size // 2, dims=-1)
    return ir * torch.hann_window(size, periodic=True, dtype=ir.dtype, device=ir.device)


def filtered_noise(magnitudes: torch.Tensor, hop: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Time-varying filtered noise: (B, N) audio, N = T * hop.

    magnitudes (B, T, M) >= 0: per frame, the linear gain at M frequencies evenly spaced
    from 0 Hz to Nyquist (1 everywhere leaves the noise unchanged); hop: samples per frame.
    White noise uniform in [-1, 1] (variance 1/3, drawn with ``generator``, which must
    live on magnitudes' device: same generator state, same noise) is cut into T blocks
    of ``hop`` samples; block t is convolved (by FFT) with frame t's filter from
    :func:`noise_filter_ir`, and the T filtered blocks, each hop + L - 1 long, are
    overlap-added; finally the L / 2 samples of filter delay are removed so the output is
    aligned with the input and N long (ddsp's ``frequency_filter`` with ``padding='same'``).
    Differentiable in ``magnitudes``.
    """
    if magnitudes.dim() != 3:
        raise ValueError(f"filtered_noise expects magnitudes (B, T, M), got shape {tuple(magnitudes.shape)}")
    hop = int(hop)
    batch, n_frames, _ = magnitudes.shape
    noise = torch.rand(batch, n_frames * hop, generator=generator, dtype=magnitudes.dtype, device=magnitudes.device) * 2.0 - 1.0
    ir = noise_filter_ir(magnitudes)  # (B, T, L)
    size = ir.shape[-1]
    out_len = hop + size - 1
    n_fft = 1 << (out_len - 1).bit_length()
    spec = torch.fft.rfft(noise.reshape(batch, n_frames, hop), n=n_fft) * torch.fft.rfft(ir, n=n_fft)
    blocks = torch.fft.irfft(spec, n=n_fft)[..., :out_len]  # (B, T, hop + L - 1)
    total = (n_frames - 1) * hop + out_len
    audio = F.fold(blocks.transpose(1, 2), output_size=(1, total), kernel_size=(1, out_len), stride=(1, hop))
    start = size // 2
    return audio.reshape(batch, total)[:, start:start + n_frames * hop]
