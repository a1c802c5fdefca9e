"""Live conversion: the instant tier in blocks, with a bounded delay.

:class:`LiveConverter` takes audio in blocks of any size and returns as many converted
samples, delayed by :attr:`LiveConverter.delay_s`. It works in 40-ms blocks at 16 kHz:
each block is converted once a further 40 ms (the lookahead) has arrived, from a window
that also holds the 100 ms before it, so WORLD's pitch tracker (DIO) and its envelope and
aperiodicity estimates (CheapTrick, D4C) see enough signal on both sides; only the
block's own frames (plus two on each side) are estimated and re-synthesised, and the
10 ms where one block's synthesis meets the next are cross-faded. The delay is therefore
block + lookahead = 80 ms of audio, plus the time a block takes to compute.

What the offline converter reads from the whole clip is read from the stream so far: the
mean envelopes the equalisation uses (running means), the register for the transposition
and the formant ratio (fixed once 100 ms of voice has been heard, or given), the
loudness (a slowly moving gain toward the input's level, under a peak limit).

:func:`convert_stream` runs a whole clip through it and times every block, for the tests
and for ``musicrnn transfer --live``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import dsp
from .instant import CONVERT_F0_METHOD, PEAK, InstantSettings, VoiceProfile, moved_envelopes

SR = 16000
BLOCK_MS = 40.0
LOOKAHEAD_MS = 40.0
CONTEXT_MS = 100.0
MARGIN_FRAMES = 2  # frames synthesised on each side of a block: the cross-fade is MARGIN_FRAMES x 5 ms
DECIDE_FRAMES = 20  # voiced frames (100 ms) before the transposition and formant ratio are fixed


class LiveConverter:
    """Streaming instant-tier conversion toward ``target`` (see the module docstring).

    ``sr`` must be 16 kHz (resample before); ``settings``: as the offline converter's.
    """

    def __init__(self, target: VoiceProfile, sr: int = SR, settings: InstantSettings | None = None):
        if sr != SR:
            raise ValueError(f"live conversion runs at {SR} Hz; resample the input first (got {sr})")
        self.target, self.s = target, (settings or InstantSettings()).check()
        self.hop = int(SR * dsp.FRAME_MS / 1000)
        self.block = int(SR * BLOCK_MS / 1000)
        self.look = int(SR * LOOKAHEAD_MS / 1000)
        self.context = int(SR * CONTEXT_MS / 1000)
        self.fade = MARGIN_FRAMES * self.hop
        self.buf = np.zeros(self.context + self.block + self.look)  # the analysis window, newest last
        self.pending = np.zeros(0)
        self.filled = 0  # real samples received (the window starts as silence)
        self.out_queue = np.zeros(self.block)  # a block's output waits for the next block to be heard
        self.prev_tail = np.zeros(self.fade)
        self.semitones = None if self.s.transpose is None else float(self.s.transpose)
        self.ratio = None if self.s.formant is None else float(self.s.formant)
        self.steady_log_f0: list[float] = []
        self.sum_v = self.sum_u = None
        self.n_v = self.n_u = 0
        self.loud_db = -math.inf
        self.e_in = self.e_out = 0.0
        self.block_seconds: list[float] = []

    @property
    def delay_s(self) -> float:
        """Algorithmic delay: block + lookahead (the compute time comes on top). A block covers
        the input from a lookahead before the newest block, so its first sample has waited a
        lookahead and a block when the block is played."""
        return (self.block + self.look) / SR

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed input samples (any count); returns the same count of output, delayed."""
        x = np.asarray(x, np.float64).ravel()
        self.pending = np.concatenate([self.pending, x])
        while self.pending.size >= self.block:
            chunk, self.pending = self.pending[: self.block], self.pending[self.block:]
            t = time.perf_counter()
            self.out_queue = np.concatenate([self.out_queue, self._step(chunk)])
            self.block_seconds.append(time.perf_counter() - t)
        out, self.out_queue = self.out_queue[: x.size], self.out_queue[x.size:]
        return out

    def flush(self) -> np.ndarray:
        """The converted rest of the stream (feeds silence through the delay)."""
        tail = self.block + self.look + self.pending.size
        return self.process(np.zeros(tail + self.block))[:tail]

    # --- one block ----------------------------------------------------------------------------
    def _step(self, chunk: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf[chunk.size:], chunk])
        self.filled += chunk.size
        pw = dsp.pyworld()
        y = dsp.as_world_input(self.buf)
        if not np.any(np.abs(y) > 1e-7):
            return self._join(np.zeros(self.block + 2 * self.fade))
        f0, times = dsp.register_f0(y, SR, method=CONVERT_F0_METHOD)
        first = self.context // self.hop - MARGIN_FRAMES  # the block's frames, with a margin each side
        last = (self.context + self.block) // self.hop + MARGIN_FRAMES
        f0, times = f0[first:last], times[first:last]
        fft = pw.get_cheaptrick_fft_size(SR, dsp.F0_FLOOR)  # 1,024 at 16 kHz, for either floor
        sp = pw.cheaptrick(y, f0, times, SR, f0_floor=dsp.envelope_floor(f0), fft_size=fft)
        ap = pw.d4c(y, f0, times, SR, fft_size=fft)
        log_sp = np.log(np.maximum(sp, dsp.LOG_FLOOR))
        freqs = np.arange(sp.shape[1]) * SR / fft
        energy = dsp.frame_energy_db(sp)
        self.loud_db = max(self.loud_db - 0.05 * len(energy), float(energy.max()))  # a level that decays slowly
        active = energy >= self.loud_db - 40.0
        voiced = f0 > 0
        self._learn(f0, log_sp, voiced, active, freqs)
        ratio = self.ratio if self.ratio is not None else 1.0
        warped = dsp.warp_log_envelope(log_sp, ratio)
        means = None
        if self.ratio is not None and self.n_v:
            means = (self.sum_v / self.n_v, self.sum_u / self.n_u if self.n_u else None)
        out_env = moved_envelopes(log_sp, warped, voiced, active, freqs, self.target, means, self.s)
        shift = self.semitones
        if shift is None:  # not fixed yet: the register heard so far (this block's voice at the very start)
            heard = self.steady_log_f0 or np.log(f0[voiced]).tolist()
            shift = dsp.octave_shift(float(np.median(heard)), self.target.median_log_f0) if heard else 0.0
        audio = pw.synthesize(np.ascontiguousarray(f0 * 2.0 ** (shift / 12.0)), np.ascontiguousarray(np.exp(out_env)),
                              np.ascontiguousarray(ap), SR, dsp.FRAME_MS)
        need = self.block + 2 * self.fade
        seg = np.zeros(need)
        seg[: min(need, audio.size)] = np.nan_to_num(audio[:need])
        src = self.buf[self.context - self.fade: self.context + self.block + self.fade]
        if (voiced & active).any():  # follow the input's level, slowly: the ratio of running energies
            e_in, e_out = float(np.mean(src ** 2)), float(np.mean(seg ** 2))
            self.e_in, self.e_out = 0.9 * self.e_in + 0.1 * e_in, 0.9 * self.e_out + 0.1 * e_out
        gain = math.sqrt(self.e_in / self.e_out) if self.e_out > 1e-12 else 1.0
        return self._join(seg * min(gain, 10.0))

    def _learn(self, f0, log_sp, voiced, active, freqs) -> None:
        """Running means of the voiced and unvoiced envelopes (after the warp, once it is
        fixed); the register and the formant ratio, fixed once enough voice is in."""
        mid = slice(MARGIN_FRAMES, len(f0) - MARGIN_FRAMES)  # each frame counted once
        v, u = (voiced & active)[mid], (~voiced & active)[mid]
        if self.semitones is None or self.ratio is None:
            heard = ((f0 > 0) & active)[mid]  # a block holds too few frames to judge steadiness: every voiced one
            self.steady_log_f0 += np.log(f0[mid][heard]).tolist()
            if v.any():
                self.sum_v = log_sp[mid][v].sum(0) + (0 if self.sum_v is None else self.sum_v)
                self.n_v += int(v.sum())
            if len(self.steady_log_f0) >= DECIDE_FRAMES:
                if self.semitones is None:
                    self.semitones = dsp.octave_shift(float(np.median(self.steady_log_f0)), self.target.median_log_f0)
                if self.ratio is None:
                    tgt_v = dsp.resample_log_envelope(self.target.mean_log_env_voiced, self.target.freqs, freqs)
                    self.ratio = dsp.fit_formant_ratio(self.sum_v / self.n_v, tgt_v, freqs) if self.n_v else 1.0
                self.sum_v, self.n_v = None, 0  # from here the means are of warped envelopes
            return
        warped = dsp.warp_log_envelope(log_sp[mid], self.ratio)
        if v.any():
            self.sum_v = warped[v].sum(0) + (0 if self.sum_v is None else self.sum_v)
            self.n_v += int(v.sum())
        if u.any():
            self.sum_u = warped[u].sum(0) + (0 if self.sum_u is None else self.sum_u)
            self.n_u += int(u.sum())

    def _join(self, seg: np.ndarray) -> np.ndarray:
        """The block's output: its synthesis, the first ``fade`` samples cross-faded with
        the previous block's synthesis of the same span; limited to the peak ceiling."""
        w = np.linspace(0.0, 1.0, self.fade, endpoint=False)
        body = seg[self.fade: self.fade + self.block].copy()
        body[: self.fade] = (1 - w) * self.prev_tail + w * body[: self.fade]
        self.prev_tail = seg[self.fade + self.block: self.fade + self.block + self.fade]
        peak = float(np.abs(body).max()) if body.size else 0.0
        if peak > PEAK:  # never clip: a block that would is turned down as a whole
            body *= PEAK / peak
            self.prev_tail = self.prev_tail * (PEAK / peak)
        return body


def convert_stream(y: np.ndarray, sr: int, target: VoiceProfile, settings: InstantSettings | None = None,
                   chunk: int = 256) -> tuple[np.ndarray, dict]:
    """Run ``y`` through a :class:`LiveConverter` in chunks of ``chunk`` samples (as a sound
    card delivers them); returns (the output aligned with the input: the delay removed, same
    length; stats: delay_s, semitones, formant, block_ms, compute per block (median and
    max, seconds), real-time factor (median compute / block duration))."""
    live = LiveConverter(target, sr, settings)
    outs = [live.process(y[i:i + chunk]) for i in range(0, len(y), chunk)]
    outs.append(live.flush())
    out = np.concatenate(outs)
    lag = int(round(live.delay_s * sr))
    out = out[lag: lag + len(y)]
    out = np.pad(out, (0, len(y) - out.size))
    per = np.array(live.block_seconds) if live.block_seconds else np.zeros(1)
    return out, {"delay_s": round(live.delay_s, 4), "semitones": live.semitones, "formant": live.ratio,
                 "block_ms": BLOCK_MS, "compute_median_s": float(np.median(per)), "compute_max_s": float(per.max()),
                 "rtf": float(np.median(per)) / (BLOCK_MS / 1000), "blocks": int(per.size)}


__all__ = ["LiveConverter", "convert_stream"]
