"""The differentiable synthesizer and the spectral loss of the DDSP-style voice model
(musicrnn.style.synth, musicrnn.style.spectral).

Outcomes on small synthetic signals: pitch and level of a synthesized sine, no aliasing,
no clicks, finite output when unvoiced, phase precision over a minute, noise filtering,
the loss's ordering, and that gradients fit a tone.
"""

import math

import numpy as np
import pytest
import torch

from musicrnn.style.spectral import a_weighting_db, loudness_db, multiscale_spectral_loss, stft_mag
from musicrnn.style.synth import (exp_sigmoid, filtered_noise, harmonic_amplitudes, harmonic_synth, noise_filter_ir,
                                  upsample)

SR = 16000
HOP = 64


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def const(value, n_frames, batch=1, dtype=torch.float32):
    return torch.full((batch, n_frames), float(value), dtype=dtype)


def one_hot_dist(n_frames, n_harm, which, batch=1):
    d = torch.zeros(batch, n_frames, n_harm)
    d[..., which] = 1.0
    return d


def peak_hz(y, sr):
    spec = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64) * np.hanning(len(y))))
    return np.argmax(spec) * sr / len(y), sr / len(y)


def naive_harmonic_synth(f0, amp, dist, sr, hop):
    """The same synthesizer, written out with a (B, N, K) tensor and plain autograd."""
    amps = upsample(harmonic_amplitudes(f0, amp, dist, sr), f0.shape[1] * hop)
    omega = upsample(f0.to(torch.float64)[..., None], f0.shape[1] * hop)[..., 0] * (2 * math.pi / sr)
    phase = (torch.cumsum(omega, 1) - omega).to(amp.dtype)
    k = torch.arange(1, dist.shape[-1] + 1, dtype=amp.dtype)
    return (amps * torch.sin(phase[..., None] * k)).sum(-1)


# --- synth -----------------------------------------------------------------------------

def test_exp_sigmoid_range():
    x = torch.linspace(-20, 20, 101)
    y = exp_sigmoid(x)
    assert torch.all(y > 0) and torch.all(y <= 2.0 + 1e-7)
    assert torch.all(y[1:] >= y[:-1])
    assert exp_sigmoid(torch.tensor(0.0)).item() == pytest.approx(2.0 * 0.5 ** math.log(10.0) + 1e-7, rel=1e-6)


def test_upsample_hits_frames_and_interpolates_linearly():
    frames = torch.tensor([[[0.0, 10.0], [4.0, 10.0], [2.0, 10.0]]])  # (1, 3, 2)
    up = upsample(frames, 12)  # hop 4
    assert up.shape == (1, 12, 2)
    assert up[0, [0, 4, 8], 0].tolist() == [0.0, 4.0, 2.0]
    assert up[0, 2, 0].item() == pytest.approx(2.0) and up[0, 6, 0].item() == pytest.approx(3.0)
    assert torch.all(up[0, 8:, 0] == 2.0)  # held after the last frame
    assert torch.all(up[..., 1] == 10.0)


def test_custom_autograd_matches_plain_autograd():
    torch.manual_seed(0)
    f0 = (torch.rand(2, 6, dtype=torch.float64) * 900 + 100).requires_grad_()
    amp = torch.rand(2, 6, dtype=torch.float64).requires_grad_()
    dist = torch.rand(2, 6, 7, dtype=torch.float64).requires_grad_()
    y = harmonic_synth(f0, amp, dist, 8000, 8, chunk=3)
    y_ref = naive_harmonic_synth(f0, amp, dist, 8000, 8)
    assert y.shape == (2, 48)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad((y * g).sum(), [f0, amp, dist]), torch.autograd.grad((y_ref * g).sum(), [f0, amp, dist])):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    small = [t.detach()[:1, :3].clone().requires_grad_() for t in (f0, amp)] + [dist.detach()[:1, :3, :4].clone().requires_grad_()]
    assert torch.autograd.gradcheck(lambda f, a, d: harmonic_synth(f, a, d, 8000, 4, chunk=3), small)


def test_single_harmonic_is_a_sine_at_f0_with_the_right_level():
    n_frames = SR // HOP  # 1 s
    y = harmonic_synth(const(220, n_frames), const(0.5, n_frames), one_hot_dist(n_frames, 8, 0), SR, HOP)
    assert y.shape == (1, SR)
    hz, bin_hz = peak_hz(y[0].numpy(), SR)
    assert abs(hz - 220.0) <= bin_hz
    rms = y.pow(2).mean().sqrt().item()
    assert rms == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


def test_harmonics_above_nyquist_are_silent():
    sr, n_frames, hop = 8000, 100, 80  # 1 s; f0 3 kHz: harmonic 2 would be 6 kHz > 4 kHz
    y = harmonic_synth(const(3000, n_frames), const(0.8, n_frames), torch.ones(1, n_frames, 5), sr, hop)[0].numpy()
    hz, bin_hz = peak_hz(y, sr)
    assert abs(hz - 3000.0) <= bin_hz
    # all of the amplitude went to harmonic 1 (renormalised), none to the aliases at 2, 1, 0 kHz
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.8 / math.sqrt(2), rel=0.01)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    assert spec[np.abs(freqs - 3000) > 50].max() < 1e-3 * spec.max()


def test_glide_has_continuous_phase():
    n_frames = SR // HOP
    f0 = torch.linspace(200, 400, n_frames)[None]
    y = harmonic_synth(f0, const(1.0, n_frames), one_hot_dist(n_frames, 4, 0), SR, HOP)[0]
    # a unit sine at <= 400 Hz moves at most 2 pi 400 / sr per sample; a phase jump would exceed it
    assert y.diff().abs().max().item() <= 2 * math.pi * 400 / SR * 1.01
    quarter = SR // 4
    crossings = lambda s: int((np.diff(np.signbit(s.numpy())) != 0).sum())
    assert crossings(y[-quarter:]) > 1.5 * crossings(y[:quarter])  # it does rise


def test_unvoiced_frames_are_finite_and_silent():
    n_frames = 40
    f0 = torch.tensor([[0.0] * 10 + [180.0] * 20 + [0.0] * 10])
    amp = torch.tensor([[0.0] * 10 + [0.5] * 20 + [0.0] * 10], requires_grad=True)
    dist = torch.rand(1, n_frames, 30, requires_grad=True)
    y = harmonic_synth(f0, amp, dist, SR, HOP)
    assert torch.isfinite(y).all()
    assert y[0, : 9 * HOP].abs().max().item() == 0.0 and y[0, 31 * HOP:].abs().max().item() == 0.0
    assert y[0, 12 * HOP: 28 * HOP].abs().max().item() > 0.1
    y.square().sum().backward()
    assert torch.isfinite(amp.grad).all() and torch.isfinite(dist.grad).all()
    assert torch.isfinite(harmonic_synth(const(0, 5), const(1, 5), torch.zeros(1, 5, 3), SR, HOP)).all()  # 0 / 0 guarded


def test_phase_stays_precise_over_a_minute():
    n_frames = 60 * SR // HOP  # 60 s, 960000 samples
    f0 = float(torch.tensor(123.4))  # the float32 value, so the reference has the same pitch
    y = harmonic_synth(const(f0, n_frames), const(1.0, n_frames), one_hot_dist(n_frames, 20, 19), SR, HOP)[0]
    n = torch.arange(len(y) - 2000, len(y), dtype=torch.float64)
    exact = torch.sin(torch.remainder(2 * math.pi * 20 * f0 * n / SR, 2 * math.pi))
    assert (y[-2000:].double() - exact).abs().max().item() < 1e-3


def test_noise_filter_ir_flat_is_a_delayed_impulse():
    ir = noise_filter_ir(torch.ones(1, 2, 33))
    assert ir.shape == (1, 2, 64)
    expected = torch.zeros(64)
    expected[32] = 1.0
    torch.testing.assert_close(ir[0, 1], expected, atol=1e-6, rtol=0)


def test_filtered_noise_flat_filter_is_the_noise_itself():
    y = filtered_noise(torch.ones(2, 10, 65), HOP, generator=torch.Generator().manual_seed(3))
    noise = torch.rand(2, 10 * HOP, generator=torch.Generator().manual_seed(3)) * 2 - 1
    assert y.shape == (2, 10 * HOP)
    torch.testing.assert_close(y, noise, atol=1e-5, rtol=0)


def test_filtered_noise_with_a_fixed_filter_is_a_convolution():
    torch.manual_seed(1)
    mags = torch.rand(1, 1, 17).expand(1, 12, 17)
    y = filtered_noise(mags, 16, generator=torch.Generator().manual_seed(5))[0].numpy()
    noise = (torch.rand(1, 12 * 16, generator=torch.Generator().manual_seed(5)) * 2 - 1)[0].numpy()
    ir = noise_filter_ir(mags[0, 0]).numpy()
    expected = np.convolve(noise, ir)[16: 16 + len(noise)]  # delay L / 2 = 16 removed
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_filtered_noise_lowpass_determinism_and_gradient():
    n_frames, n_mag = 125, 65  # 0.5 s at 16 kHz
    freqs = torch.linspace(0, SR / 2, n_mag)
    lowpass = (freqs < 2000).float().expand(1, n_frames, n_mag).clone().requires_grad_()
    y = filtered_noise(lowpass, HOP, generator=torch.Generator().manual_seed(0))
    power = np.abs(np.fft.rfft(y[0].detach().numpy())) ** 2
    f = np.fft.rfftfreq(y.shape[1], 1 / SR)
    assert power[f < 2500].sum() > 0.95 * power.sum()
    again = filtered_noise(lowpass, HOP, generator=torch.Generator().manual_seed(0))
    other = filtered_noise(lowpass, HOP, generator=torch.Generator().manual_seed(1))
    assert torch.equal(y, again)
    assert (y - other).abs().max().item() > 0.1
    y.square().mean().backward()
    assert torch.isfinite(lowpass.grad).all() and lowpass.grad.abs().sum().item() > 0


# --- spectral --------------------------------------------------------------------------

def sine(hz, amp=0.5, seconds=0.5, sr=SR):
    t = torch.arange(int(seconds * sr), dtype=torch.float32) / sr
    return (amp * torch.sin(2 * math.pi * hz * t))[None]


def test_stft_mag_shape():
    s = stft_mag(torch.zeros(3, 1000), 256)
    assert s.shape == (3, 129, 1 + 1000 // 64)
    assert stft_mag(torch.zeros(10), 64).shape == (33, 1 + 10 // 16)  # shorter than the window


def test_loss_orders_signals_and_is_zero_for_identical():
    ref = sine(440)
    assert multiscale_spectral_loss(ref, ref.clone()).item() == 0.0
    scaled = multiscale_spectral_loss(0.95 * ref, ref).item()
    detuned = multiscale_spectral_loss(sine(440 * 2 ** (1 / 12)), ref).item()
    assert 0 < scaled < detuned
    silent = torch.zeros_like(ref, requires_grad=True)  # |S| = 0: gradient 0 there, but no NaN
    multiscale_spectral_loss(silent, ref).backward()
    assert torch.isfinite(silent.grad).all()
    quiet = (1e-6 * torch.randn_like(ref)).requires_grad_()
    multiscale_spectral_loss(quiet, ref).backward()
    assert torch.isfinite(quiet.grad).all() and quiet.grad.abs().sum().item() > 0


def test_gradients_fit_a_two_harmonic_tone():
    torch.manual_seed(0)
    n_frames = 64  # 4096 samples
    f0 = const(220, n_frames)
    target = harmonic_synth(f0, const(0.5, n_frames), torch.tensor([0.7, 0.3]).expand(1, n_frames, 2), SR, HOP)
    amp_logit = torch.tensor(-2.0, requires_grad=True)  # ~0.02
    dist_logit = torch.tensor([-1.0, 1.0], requires_grad=True)  # wrong way round
    opt = torch.optim.Adam([amp_logit, dist_logit], lr=0.1)
    ffts = (1024, 512, 256, 128)

    def loss_now():
        amp = exp_sigmoid(amp_logit).expand(1, n_frames)
        dist = exp_sigmoid(dist_logit).expand(1, n_frames, 2)
        return multiscale_spectral_loss(harmonic_synth(f0, amp, dist, SR, HOP), target, ffts=ffts)

    first = loss_now().item()
    for _ in range(50):
        opt.zero_grad()
        loss = loss_now()
        loss.backward()
        opt.step()
    last = loss_now().item()
    assert last < 0.5 * first


def test_loudness_full_scale_sine_and_a_weighting():
    y = sine(1000, amp=1.0, seconds=0.25)
    loud = loudness_db(y, SR, n_fft=1024)
    assert loud.shape == (1, 1 + y.shape[1] // 256)
    inner = loud[0, 4:-4]
    assert torch.allclose(inner, torch.tensor(-3.01), atol=0.05)  # mean square 1/2
    assert torch.allclose(loudness_db(0.1 * y, SR, n_fft=1024)[0, 4:-4], inner - 20.0, atol=1e-3)
    assert loudness_db(torch.zeros(1, 4000), SR).max().item() == pytest.approx(-100.0)
    table = {100.0: -19.1, 1000.0: 0.0, 10000.0: -2.5}  # IEC 61672-1 nominal values
    got = a_weighting_db(torch.tensor(list(table)))
    assert np.allclose(got.numpy(), list(table.values()), atol=0.1)
