"""A recurrent layer with research options: LSTM or LSTM-LITE, tanh or Iris.

LSTM-LITE shares one weight matrix between all three gates and the candidate; only the
biases differ. Pre-activation a = W_x x + W_h h (hidden-sized), then

    i = sigmoid(a + b_i)   f = sigmoid(a + b_f)   o = sigmoid(a + b_o)   g = act(a + b_g)
    c' = f * c + i * g     h' = o * act(c')

so the layer has a quarter of an LSTM's weights. With ``lite=False`` it is the standard
LSTM (parameters in PyTorch's gate order i, f, g, o), with ``act`` in place of both tanh's.

Speed. Autograd through a per-step loop records ~25 graph nodes per time step, and
their bookkeeping, not arithmetic, dominates at the sizes a CPU can train. So the time
loop is one :class:`torch.autograd.Function` with a hand-written backward
(back-propagation through time):

* forward: the input projection of the whole window is one matrix multiply; per step
  only ``addmm`` + in-place gate activations + the cell update run (7 kernels), written
  into preallocated buffers;
* backward: every factor that does not depend on the recurrence (the gate derivatives,
  computed from the saved activations) is computed for the whole window at once; per step
  only the two recurrences (dh, dc) and one ``addmm`` run (5 kernels); the weight gradient
  is one matrix multiply over the window at the end;
* resets (a new piece starting in some rows) zero those rows' state inside the kernel,
  so a window of many short pieces is still one call per layer.

LSTM-LITE runs through the same kernel with its one matrix repeated for the four gates
(autograd sums the four gradients back into it). Tests check the result against
``nn.LSTM`` (with and without resets) and the gradients with ``gradcheck``; ``benchmarks/train_speed.py --impl
fused research`` measures the speed.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .activations import IRIS_SCALE, PHI as _PHI, SILVER as _SILVER
from .config import canonical_activation

# kernel codes of the activations in activations.HIDDEN (fused in-place copies of them)
ACTIVATION_CODES = {"tanh": 0, "phi-tanh": 1, "iris2": 2, "iris": 3}


def _act_(x: Tensor, code: int) -> Tensor:
    """Apply the activation in place (x is overwritten) and return x."""
    if code == 0:
        return x.tanh_()
    if code == 1:
        return x.tanh_().mul_(_PHI)
    if code == 2:
        return x.mul_(0.5).tanh_().mul_(_SILVER)
    return x.mul_(torch.rsqrt(x * x + 4.0)).mul_(IRIS_SCALE)


def _act(x: Tensor, code: int, out: Optional[Tensor] = None) -> Tensor:
    """act(x), written into ``out`` when given."""
    if code == 0:
        return torch.tanh(x, out=out) if out is not None else torch.tanh(x)
    return _act_(out.copy_(x) if out is not None else x.clone(), code)


def _act_grad(y: Tensor, code: int) -> Tensor:
    """d act / dx written in terms of the output y = act(x) (so x need not be kept)."""
    if code == 0:
        return 1.0 - y * y
    if code == 1:  # phi tanh x: phi (1 - tanh^2)
        return _PHI * (1.0 - (y / _PHI) ** 2)
    if code == 2:  # s tanh(x/2): s/2 (1 - tanh^2)
        return 0.5 * _SILVER * (1.0 - (y / _SILVER) ** 2)
    # k x / sqrt(x^2 + 4): with u = y / k, 1 - u^2 = 4 / (x^2 + 4), derivative k/2 (1 - u^2)^1.5
    return 0.5 * IRIS_SCALE * (1.0 - (y / IRIS_SCALE) ** 2).clamp(min=0.0) ** 1.5


class LSTMScan(torch.autograd.Function):
    """The LSTM time loop with a hand-written backward.

    xp: (T, B, 4H) input projections plus biases, gates in the order (i, f, o, g);
    h0, c0: (B, H); w: (4H, H) recurrent weights in the same order; keep: None or (T, B)
    with 0 where a sequence starts (the state of that row is zeroed just before step t)
    and 1 elsewhere. Returns y (T, B, H), h_T, c_T.
    """

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, c0: Tensor, w: Tensor, code: int, keep: Optional[Tensor]):
        T, B, G = xp.shape
        H = G // 4
        z = xp.new_empty(T, B, G)    # gate activations (i, f, o sigmoid; g act)
        cs = xp.new_empty(T, B, H)   # cell states
        tcs = xp.new_empty(T, B, H)  # act(c)
        ys = xp.new_empty(T, B, H)
        cuts = _cuts(keep, T)
        wt = w.t()
        h, c = h0, c0
        # per-step views, made once (slicing in the loop costs more than some of the kernels)
        steps = zip(xp.unbind(0), z.unbind(0), z[..., :3 * H].unbind(0), z[..., :H].unbind(0),
                    z[..., H:2 * H].unbind(0), z[..., 2 * H:3 * H].unbind(0), z[..., 3 * H:].unbind(0),
                    cs.unbind(0), tcs.unbind(0), ys.unbind(0), cuts)
        for xp_t, z_t, sig_t, i_t, f_t, o_t, g_t, c_t, tc_t, y_t, keep_t in steps:
            if keep_t is not None:
                h, c = h * keep_t, c * keep_t
            torch.addmm(xp_t, h, wt, out=z_t)
            sig_t.sigmoid_()
            _act_(g_t, code)
            c = torch.mul(f_t, c, out=c_t).addcmul_(i_t, g_t)
            h = torch.mul(o_t, _act(c, code, out=tc_t), out=y_t)
        ctx.code = code
        ctx.save_for_backward(z, cs, tcs, ys, h0, c0, w, keep)
        return ys, h.clone(), c.clone()

    @staticmethod
    def backward(ctx, dys: Optional[Tensor], dhT: Optional[Tensor], dcT: Optional[Tensor]):
        z, cs, tcs, ys, h0, c0, w, keep = ctx.saved_tensors
        code = ctx.code
        T, B, G = z.shape
        H = G // 4
        i, f, o, g = z[..., :H], z[..., H:2 * H], z[..., 2 * H:3 * H], z[..., 3 * H:]
        # the states each step read (after any reset)
        c_prev = torch.cat([c0.unsqueeze(0), cs[:-1]])
        h_prev = torch.cat([h0.unsqueeze(0), ys[:-1]])
        if keep is not None:
            c_prev = c_prev * keep.unsqueeze(-1)
            h_prev = h_prev * keep.unsqueeze(-1)
        # everything that does not depend on the recurrence, for the whole window at once
        sig = z[..., :3 * H]
        k = torch.empty_like(z)  # d pre-activation / d(dc) for i, f, g; / d(dh) for o
        k[..., :3 * H] = sig * (1.0 - sig)
        k[..., :H] *= g
        k[..., H:2 * H] *= c_prev
        k[..., 2 * H:3 * H] *= tcs
        k[..., 3 * H:] = _act_grad(g, code) * i
        p = o * _act_grad(tcs, code)  # dc_t += dh_t * p_t
        dz = torch.empty_like(z)
        dz4 = dz.view(T, B, 4, H)
        k4 = k.view(T, B, 4, H)
        dys = torch.zeros_like(ys) if dys is None else dys
        dh = torch.zeros_like(h0) if dhT is None else dhT.clone()
        dc = torch.zeros_like(c0) if dcT is None else dcT.clone()
        dys = list(dys.unbind(0))
        dh.add_(dys[-1])
        dys = [None] + dys[:-1]  # dy_{t-1}, added in the same kernel as the recurrent term
        steps = zip(dys, p.unbind(0), k4.unbind(0), dz4.unbind(0), k[..., 2 * H:3 * H].unbind(0),
                    dz[..., 2 * H:3 * H].unbind(0), f.unbind(0), dz.unbind(0), _cuts(keep, T))
        for dy_prev, p_t, k4_t, dz4_t, ko_t, dzo_t, f_t, dz_t, keep_t in reversed(list(steps)):
            dc.addcmul_(dh, p_t)
            torch.mul(k4_t, dc.unsqueeze(1), out=dz4_t)
            torch.mul(ko_t, dh, out=dzo_t)
            dc.mul_(f_t)
            if keep_t is None:
                dh = torch.mm(dz_t, w) if dy_prev is None else torch.addmm(dy_prev, dz_t, w)
            else:  # the reset stops the gradient of the rows that restarted
                dc.mul_(keep_t)
                dh = torch.mm(dz_t, w).mul_(keep_t)
                if dy_prev is not None:
                    dh.add_(dy_prev)
        dw = dz.reshape(T * B, G).t().mm(h_prev.reshape(T * B, H))
        return dz, dh, dc, dw, None, None


def _cuts(keep: Optional[Tensor], T: int) -> list:
    """Per step: None (no row restarts) or the (B, 1) keep mask."""
    if keep is None:
        return [None] * T
    any_reset = (keep == 0).any(1).tolist()
    return [keep[t].unsqueeze(1) if any_reset[t] else None for t in range(T)]


# rows of PyTorch's (i, f, g, o) layout in the kernel's (i, f, o, g) order
def _ifog(h: int) -> Tensor:
    return torch.cat([torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)])


class ResearchLSTM(nn.Module):
    """Multi-layer, batch-first LSTM / LSTM-LITE with a selectable activation.

    Same call as ``nn.LSTM``: ``y, (h, c) = layer(x, (h0, c0))`` with x (B, T, in),
    h0/c0 (layers, B, H).
    """

    def __init__(self, input_size: int, hidden: int, layers: int = 1, lite: bool = False,
                 activation: str = "tanh", dropout: float = 0.0):
        super().__init__()
        self.hidden, self.layers, self.lite = hidden, layers, lite
        self.code = ACTIVATION_CODES[canonical_activation(activation)]
        g = hidden if lite else 4 * hidden
        self.w_ih = nn.ParameterList([nn.Parameter(torch.empty(g, input_size if k == 0 else hidden)) for k in range(layers)])
        self.w_hh = nn.ParameterList([nn.Parameter(torch.empty(g, hidden)) for _ in range(layers)])
        # lite: (4, H), rows i, f, g, o; full: (4H,) in PyTorch's i, f, g, o layout
        self.bias = nn.ParameterList([nn.Parameter(torch.empty(4, hidden) if lite else torch.empty(g)) for _ in range(layers)])
        self.drop = nn.Dropout(dropout)
        self.register_buffer("_order", _ifog(hidden), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():  # forget-gate bias 1: remember by default
            for b in self.bias:
                (b[1] if self.lite else b[self.hidden:2 * self.hidden]).add_(1.0)

    def _layer_weights(self, k: int) -> Tuple[Tensor, Tensor, Tensor]:
        """(W_ih, W_hh, bias) of layer k in the kernel's (i, f, o, g) order, 4H rows each."""
        if self.lite:
            b = self.bias[k][[0, 1, 3, 2]].reshape(-1)
            return self.w_ih[k], self.w_hh[k].repeat(4, 1), b
        return self.w_ih[k][self._order], self.w_hh[k][self._order], self.bias[k][self._order]

    def forward(self, x: Tensor, state: Tuple[Tensor, Tensor],
                reset: Optional[Tensor] = None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        """reset: optional (B, T) bool, True where a new sequence starts: the state of that
        row is zeroed just before it reads that token (inside the kernel, so a window full of
        short pieces is still one call)."""
        h0, c0 = state
        keep = None if reset is None or not bool(reset.any()) else (~reset).t().to(x.dtype).contiguous()
        seq = x.transpose(0, 1)  # (T, B, in)
        hs, cs = [], []
        for k in range(self.layers):
            if k:
                seq = self.drop(seq)
            w_ih, w_hh, b = self._layer_weights(k)
            if self.lite:  # one projection, shared by the four gates
                xp = (seq @ w_ih.t()).repeat(1, 1, 4) + b
            else:
                xp = torch.addmm(b, seq.reshape(-1, seq.shape[-1]), w_ih.t()).view(seq.shape[0], seq.shape[1], -1)
            seq, h, c = LSTMScan.apply(xp, h0[k].contiguous(), c0[k].contiguous(), w_hh.contiguous(), self.code, keep)
            hs.append(h)
            cs.append(c)
        return seq.transpose(0, 1), (torch.stack(hs), torch.stack(cs))
