"""Vocal style transfer: metrics, the instant tier and the parallel test set (musicrnn.style).

Small signals only: a synthetic harmonic tone with one formant, and two short espeak-ng
clips per voice.
"""

import math
import shutil

import numpy as np
import pytest

from musicrnn.core.errors import CheckpointError, SettingsError
from musicrnn.style import dsp, evalset, metrics
from musicrnn.style.backends import pysptk
from musicrnn.style.instant import InstantSettings, VoiceProfile, build_profile, convert, convert_with_info

SR = 16000
TONE_F0 = 100.0
FORMANT_HZ = 1000.0


def harmonic_tone(f0=TONE_F0, formant=FORMANT_HZ, seconds=1.0, sr=SR, peak=0.9):
    """[N] harmonics of f0 up to 6 kHz, amplitudes a Gaussian bump at ``formant`` Hz (150 Hz wide) over a floor."""
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for k in range(1, int(6000 / f0) + 1):
        f = k * f0
        y += (np.exp(-0.5 * ((f - formant) / 150.0) ** 2) + 0.03) * np.sin(2 * np.pi * f * t + 0.3 * k)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    y *= fade
    return peak * y / np.abs(y).max()


def median_f0(y, sr=SR):
    f0 = metrics.metric_f0(y, sr)
    return float(np.median(f0[f0 > 0]))


def envelope_peak_hz(y, sr=SR, lo=300.0, hi=3000.0):
    """Frequency of the maximum of the mean voiced CheapTrick envelope between lo and hi Hz."""
    feats = dsp.world_analyze(y, sr)
    env = feats.log_sp[feats.voiced].mean(axis=0)
    band = (feats.freqs >= lo) & (feats.freqs <= hi)
    return float(feats.freqs[band][np.argmax(env[band])])


@pytest.fixture(scope="module")
def tone():
    return harmonic_tone()


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """espeak-ng clips at 16 kHz: male and female saying one sentence, and the female saying another."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: apt install espeak-ng")
    wd = tmp_path_factory.mktemp("espeak")
    say = lambda text, voice: evalset._load(evalset.espeak_wav(text, voice, wd / evalset._cache_name("t", voice, text)), SR)  # noqa: E731
    text = "The puppy chased its tail in the yard."
    return {"male": say(text, "en-us+m3"), "female": say(text, "en-us+f3"),
            "female_clip": say("On clear nights you can see thousands of stars above the valley.", "en-us+f3")}


# ---------------------------------------------------------------------------------- metrics


def test_mcd_is_zero_for_a_clip_with_itself_and_larger_for_another_voice(voices):
    assert metrics.mcd(voices["male"], SR, voices["male"], SR) < 1e-9
    other = metrics.mcd(voices["female"], SR, voices["male"], SR)
    assert other > 6.0, other


def test_f0_corr_ignores_a_constant_log_shift_and_unvoiced_frames():
    rng = np.random.default_rng(0)
    f0 = 120.0 * np.exp(0.1 * np.cumsum(rng.normal(size=400)) / 10)
    f0[::7] = 0.0
    shifted = f0 * 2.0 ** (5 / 12)
    shifted[3::11] = 0.0  # voiced in one contour only: ignored
    assert metrics.f0_corr(f0, shifted) == pytest.approx(1.0, abs=1e-12)
    assert metrics.log_f0_rmse_cents(f0, shifted) == pytest.approx(500.0, abs=1e-6)
    assert metrics.f0_corr(f0, np.where(f0 > 0, 1e4 / np.maximum(f0, 1), 0)) == pytest.approx(-1.0, abs=1e-12)
    assert metrics.rtf(1.0, 5.0) == pytest.approx(0.2)


def test_the_metric_f0_tracker_finds_a_tone_and_the_frame_grid_is_5_ms(tone):
    f0 = metrics.metric_f0(tone, SR)
    assert abs(len(f0) - len(tone) / SR * 200) <= 2
    assert np.median(f0[f0 > 0]) == pytest.approx(TONE_F0, rel=0.01)
    assert (f0 > 0).mean() > 0.9
    blips = np.array([0, 100, 0, 100, 100, 100, 0, 90.0])
    np.testing.assert_array_equal(metrics.drop_short_voiced_runs(blips, 2), [0, 0, 0, 100, 100, 100, 0, 0])


def test_numpy_sp2mc_matches_pysptk_and_alphas_are_the_usual_ones(tone):
    assert dsp.mcep_alpha(16000) == 0.42 and dsp.mcep_alpha(22050) == 0.455
    assert dsp.mcep_alpha(12000) == pytest.approx(0.369, abs=1e-9)  # SPTK's grid search, off the table
    sp = dsp.world_analyze(tone, SR).sp
    ours = dsp.sp2mc_numpy(sp, 24, 0.42)
    assert ours.shape == (len(sp), 25)
    sptk = pysptk()
    if sptk is None:
        pytest.skip("pysptk not installed: only the NumPy sp2mc is in use")
    np.testing.assert_allclose(ours, sptk.sp2mc(sp, 24, 0.42), atol=1e-9)


def test_dtw_path_has_the_minimum_cost():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(13, 3))
    cost = np.linalg.norm(x[:, None] - y[None], axis=2)
    acc = np.full((10, 14), np.inf)
    acc[0, 0] = 0
    for i in range(1, 10):
        for j in range(1, 14):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    path = dsp.dtw_path(x, y)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (8, 12)
    assert np.all(np.diff(path, axis=0) >= 0) and np.all(np.diff(path, axis=0).sum(1) >= 1)
    assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(acc[-1, -1])


def test_speaker_similarity_prefers_the_same_voice(voices):
    same = metrics.speaker_similarity(voices["female"], SR, voices["female_clip"], SR)
    other = metrics.speaker_similarity(voices["female"], SR, voices["male"], SR)
    if same is None:
        pytest.skip("resemblyzer not installed")
    assert same > other


# ---------------------------------------------------------------------------------- DSP


def test_warping_an_envelope_by_1_2_moves_its_peak_up_20_percent():
    freqs = dsp.bin_freqs(513, SR)
    env = -0.5 * ((freqs - 1000.0) / 100.0) ** 2
    assert freqs[np.argmax(dsp.warp_log_envelope(env, 1.2))] == pytest.approx(1200.0, abs=16)
    assert freqs[np.argmax(dsp.warp_log_envelope(env, 0.8))] == pytest.approx(800.0, abs=16)
    assert dsp.fit_formant_ratio(env, dsp.warp_log_envelope(env, 1.15), freqs) == pytest.approx(1.15, abs=0.015)


# ---------------------------------------------------------------------------------- instant tier


def test_convert_keeps_length_never_clips_and_is_deterministic(tone, voices):
    profile = build_profile(voices["female_clip"], SR)
    loud = harmonic_tone(peak=1.0)
    for y in (loud, voices["male"]):
        a = convert(y, SR, profile)
        b = convert(y, SR, profile)
        assert a.shape == y.shape and np.isfinite(a).all()
        assert np.abs(a).max() <= 0.99
        assert a.tobytes() == b.tobytes()


def test_transpose_by_12_doubles_f0_and_keeps_the_envelope_peak(tone):
    profile = build_profile(tone, SR)
    out = convert(tone, SR, profile, transpose=12, formant=1.0, eq=0.0)
    assert median_f0(out) / median_f0(tone) == pytest.approx(2.0, rel=0.02)
    assert envelope_peak_hz(out) == pytest.approx(FORMANT_HZ, rel=0.06)


def test_formant_ratio_1_2_moves_the_envelope_peak_up_about_20_percent(tone):
    profile = build_profile(tone, SR)
    out = convert(tone, SR, profile, transpose=0, formant=1.2, eq=0.0, knn=0.0)
    assert envelope_peak_hz(out) == pytest.approx(1.2 * FORMANT_HZ, rel=0.06)
    assert median_f0(out) == pytest.approx(TONE_F0, rel=0.02)


def test_silence_in_gives_silence_out(tone):
    profile = build_profile(tone, SR)
    for y in (np.zeros(SR), np.zeros(100)):
        out = convert(y, SR, profile)
        assert out.shape == y.shape and not np.isnan(out).any() and not out.any()


def test_voice_profile_round_trips_and_bad_files_are_refused(tone, tmp_path):
    profile = build_profile(tone, SR)
    path = profile.save(tmp_path / "voice")
    assert path.suffix == ".json" and path.with_suffix(".npz").exists()
    back = VoiceProfile.load(tmp_path / "voice.json")
    for k in VoiceProfile.ARRAYS:
        np.testing.assert_array_equal(getattr(back, k), getattr(profile, k))
    np.testing.assert_allclose(back.frames_log_env_voiced, profile.frames_log_env_voiced, rtol=1e-5, atol=1e-5)
    skip = (*VoiceProfile.ARRAYS, "frames_log_env_voiced")
    assert {k: v for k, v in back.__dict__.items() if k not in skip} == \
        {k: v for k, v in profile.__dict__.items() if k not in skip}
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="voice.json"):
        VoiceProfile.load(path)


def test_a_profile_from_a_female_clip_moves_a_male_clip_into_her_register(voices):
    profile = build_profile(voices["female_clip"], SR)
    conv = convert_with_info(voices["male"], SR, profile)
    male, female, out = median_f0(voices["male"]), median_f0(voices["female"]), median_f0(conv.audio)
    assert female / male > 1.5  # the voices really differ
    assert abs(12 * math.log2(out / female)) < 2.0, (male, female, out)
    assert conv.formant_ratio > 1.05  # a shorter vocal tract: formants up
    assert metrics.f0_corr(metrics.metric_f0(conv.audio, SR), metrics.metric_f0(voices["male"], SR)) > 0.9
    assert metrics.mcd(voices["female"], SR, conv.audio, SR) < metrics.mcd(voices["female"], SR, voices["male"], SR)


def test_bad_settings_are_refused(tone):
    profile = build_profile(tone, SR)
    with pytest.raises(SettingsError, match="protect"):
        convert(tone, SR, profile, protect=1.5)
    with pytest.raises(SettingsError, match="formant"):
        InstantSettings(formant=3.0).check()


def test_evalset_says_how_to_install_a_missing_synthesizer(monkeypatch, tmp_path):
    monkeypatch.setattr(evalset.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt install espeak-ng"):
        evalset.speech_pairs(n=1, workdir=tmp_path)
    with pytest.raises(RuntimeError, match="apt install festival"):
        evalset.singing_pairs(n=1, workdir=tmp_path)


def test_scores_transpose_and_the_sets_keep_test_and_target_text_apart():
    assert evalset.transpose_note("Bb3", 2) == "C4" and evalset.transpose_note("F#4", -12) == "F#3"
    xml = evalset.score_xml(evalset.TUNES["twinkle"], transpose=12)
    assert 'NOTE="C5,C5"' in xml and xml.count("<DURATION") == len(evalset.TUNES["twinkle"])
    assert not set(evalset.SENTENCES) & (set(evalset.TARGET_CLIP_SENTENCES) | set(evalset.TUNING_SENTENCES))
    assert not set(evalset.SCORED_TUNES) & (set(evalset.TARGET_CLIP_TUNES) | set(evalset.TUNING_TUNES))


def test_the_knn_envelope_mapping_brings_a_male_voice_nearer_the_female_rendition(voices):
    """The same sentence: mel-cepstral distortion to the female rendition, the profile built
    from another of her sentences (espeak m2f: 7.57 -> 6.27 dB median over ten sentences)."""
    profile = build_profile(voices["female_clip"], SR)
    ref = metrics.speech_mel_cepstrum(voices["female"], SR)
    mcd = {k: metrics.mcd_of_speech(ref, metrics.speech_mel_cepstrum(convert(voices["male"], SR, profile, knn=k), SR))
           for k in (0.0, 1.0)}
    assert mcd[1.0] < mcd[0.0] - 0.3


def test_follow_level_gives_back_the_dips_between_notes_and_keeps_the_peak():
    """A steady tone given the level contour of the same tone sung in four separate notes:
    the gaps fall by at least 20 dB and the peak stays where it was."""
    from musicrnn.style import dsp

    sr = 16000
    t = np.arange(sr) / sr
    steady = 0.5 * np.sin(2 * np.pi * 220 * t)
    gate = ((t * 4) % 1.0) < 0.75  # four notes of 187.5 ms with 62.5-ms gaps
    notes = steady * gate
    out = dsp.follow_level(steady, notes, sr)
    gaps = ~gate & (np.abs(((t * 4) % 1.0) - 0.875) < 0.05)  # the middle of each gap
    held = gate & (np.abs(((t * 4) % 1.0) - 0.375) < 0.1)
    assert 20 * np.log10(np.sqrt(np.mean(out[held] ** 2)) / np.sqrt(np.mean(out[gaps] ** 2))) >= 20
    assert abs(np.abs(out).max() - 0.5) < 1e-6
    assert np.allclose(dsp.follow_level(steady, steady, sr), steady, atol=1e-6)
