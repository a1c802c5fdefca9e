"""Question 5's probe of the temporal attention: its weights changed in place (off, uniform,
shuffled, a shorter window) and where it looks, on a small model with the layer."""

import numpy as np
import torch

from musicrnn.core.rnn import CharRNN, RNNConfig
from musicrnn.tasks.attention_probe import changed, where_it_looks


def _model():
    torch.manual_seed(0)
    m = CharRNN(RNNConfig(vocab_size=30, embed=8, hidden=16, layers=1, dropout=0.0, attention=6)).eval()
    torch.nn.init.normal_(m.att.o.weight, std=0.3)  # a trained layer's output is not zero
    return m


def test_the_changed_weights_are_what_they_say():
    m, x = _model(), torch.randint(3, 30, (2, 20))
    trained, uniform, shuffled, short = [], [], [], []
    with torch.no_grad():
        with changed("trained", record=trained):
            base, _ = m(x)
        with changed("uniform", record=uniform):
            m(x)
        with changed("shuffled", seed=1, record=shuffled):
            m(x)
        with changed("trained", window=2, record=short):
            m(x)
        with changed("off"):
            off, _ = m(x)
        o = m.att.o.weight.detach().clone()
        m.att.o.weight.zero_(), m.att.o.bias.zero_()
        plain, _ = m(x)
        m.att.o.weight.copy_(o)
    assert torch.allclose(off, plain, atol=1e-6)  # off: the layer adds nothing
    a, u, s, w = trained[0], uniform[0], shuffled[0], short[0]
    support = a > 0
    assert torch.allclose(u.sum(-1), torch.ones(2, 20)) and torch.equal(u > 0, support)
    assert torch.allclose(u[support], (1.0 / support.sum(-1, keepdim=True).float()).expand_as(u)[support])
    assert torch.equal(s > 0, support)  # shuffled: the same positions, the same weights, another order
    assert torch.allclose(torch.sort(s, -1).values, torch.sort(a, -1).values, atol=1e-7)
    assert not torch.allclose(s, a)
    assert int((w > 0).sum(-1).max()) == 2  # the window cut to the last two positions


def test_where_it_looks_sums_to_one_per_position_and_counts_bars():
    m = _model()
    bar = 2
    seqs = [np.array([1] + [bar, 5, 6, 7] * 6, dtype=np.int64), np.array([1, bar, 9, 9, bar, 8, 8, 8], dtype=np.int64)]
    w = where_it_looks(m, seqs, bar_token=bar)
    assert w["positions"] == sum(len(s) - 1 for s in seqs)
    assert abs(sum(w["by_tokens"]) - 1) < 1e-5 and abs(sum(w["by_bars"]) - 1) < 1e-5
    assert abs(sum(w["by_bars_if_even"]) - 1) < 1e-5
    assert w["tokens_per_bar_median"] == 4
    assert w["by_bars"][2] > 0 and all(b == 0 for b in w["by_bars"][3:])  # a window of 6 reaches at most 2 bars back


def test_bar_map_rows_sum_to_one_and_reach_no_further_than_the_window():
    from musicrnn.tasks.attention_probe import bar_map

    m, bar = _model(), 2
    seq = np.array([1] + [bar, 5, 6, 7] * 6, dtype=np.int64)
    b = bar_map(m, seq, bar_token=bar)
    assert b.shape == (7, 7)  # what precedes the first bar line, then 6 bars
    assert np.allclose(b.sum(1), 1, atol=1e-5)  # every query's weight lands in the tune
    assert np.allclose(np.triu(b, 1), 0)  # nothing from the future
    assert np.allclose(np.tril(b, -3), 0)  # a window of 6 tokens reaches at most 2 bars of 4 back
    assert (np.diagonal(b, -2)[1:] > 0).all()
