"""Topcat, Iris and the regression losses: the formulas hold, gradients are finite."""

import math

import pytest
import torch

import numpy as np

from musicrnn.core.activations import IRIS_SCALE, hidden_activation, iris, metallic_mean, phi_tanh, sampling_logits
from musicrnn.core.topcat import log_probs, topcat_bce, topcat_log_probs, topcat_probs
from musicrnn.core.losses import exp_or_log, regression_loss, smooth_l1, smooth_l1_or_l2


def test_metallic_means():
    assert metallic_mean(1) == pytest.approx((1 + math.sqrt(5)) / 2)
    assert metallic_mean(2) == pytest.approx(1 + math.sqrt(2))
    x = torch.linspace(-3, 3, 7, dtype=torch.double)
    assert torch.allclose(phi_tanh(x), metallic_mean(1) * torch.tanh(x))
    assert hidden_activation("iris1") is phi_tanh and hidden_activation("iris-mm") is iris
    # iris is tanh with the metallic mean m(x) = (x + sqrt(x^2 + 4)) / 2 in place of e^x, scaled
    m = (x + torch.sqrt(x * x + 4)) / 2
    assert torch.allclose(iris(x), IRIS_SCALE * (m - 1 / m) / (m + 1 / m))
    assert not torch.allclose(iris(x) / iris(x).abs().max(), torch.tanh(x) / torch.tanh(x).abs().max(), atol=0.05)
    y = iris(torch.randn(200_000, generator=torch.Generator().manual_seed(0)))
    assert y.var().item() == pytest.approx(1.0, abs=0.02) and IRIS_SCALE > 2
    # one definition serves torch and NumPy (the sampler) alike
    for name in ("tanh", "iris", "phi-tanh", "iris2"):
        f = hidden_activation(name)
        assert np.allclose(f(x.numpy()), f(x).numpy(), atol=1e-12), name
    with pytest.raises(ValueError):
        hidden_activation("relu6")


def test_old_checkpoints_keep_their_activation(tmp_path):
    """Checkpoint format 1 called phi*tanh 'iris' and the metallic form 'iris-mm'."""
    import json

    from musicrnn.core.checkpoint import read_config

    for old, new in (("iris", "phi-tanh"), ("iris1", "phi-tanh"), ("iris-mm", "iris"), ("tanh", "tanh")):
        d = tmp_path / old
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"format": "musicrnn-checkpoint", "format_version": 1,
                                                   "model": {"activation": old}}))
        assert read_config(d)["model"]["activation"] == new
    (d / "config.json").write_text(json.dumps({"format": "musicrnn-checkpoint", "format_version": 2,
                                               "model": {"activation": "iris"}}))
    assert read_config(d)["model"]["activation"] == "iris"


@pytest.mark.parametrize("output", ["softmax", "topcat", "topcat-sigmoid"])
def test_sampling_and_scoring_use_the_distribution_each_output_defines(output):
    z = torch.randn(4, 9, generator=torch.Generator().manual_seed(3), dtype=torch.double) * 3
    if output == "softmax":
        p = torch.softmax(z, -1)
    else:
        p = topcat_probs(z, output)
        p = p / p.sum(-1, keepdim=True)  # renormalised: the distribution the model defines
    assert torch.allclose(log_probs(z, output).exp(), p, atol=1e-10)
    assert np.allclose(torch.softmax(torch.from_numpy(sampling_logits(z.numpy(), output)), -1).numpy(), p.numpy(), atol=1e-10)
    if output == "topcat-sigmoid":  # the case where the renormalised output is not softmax(z)
        assert not torch.allclose(p, torch.softmax(z, -1), atol=1e-3)


def test_topcat_is_softmax_with_a_null_class():
    z = torch.randn(6, 11, generator=torch.Generator().manual_seed(1)) * 4
    p = topcat_probs(z)
    full = torch.softmax(torch.cat([z, torch.zeros(6, 1)], -1), -1)[:, :-1]
    assert torch.allclose(p, full, atol=1e-6)
    assert torch.allclose(p.sum(-1), torch.sigmoid(torch.logsumexp(z, -1)), atol=1e-6)
    assert torch.allclose(p / p.sum(-1, keepdim=True), torch.softmax(z, -1), atol=1e-6)


@pytest.mark.parametrize("variant", ["topcat", "topcat-sigmoid"])
def test_topcat_bce_matches_direct_formula_and_is_stable(variant):
    z = torch.randn(5, 9, generator=torch.Generator().manual_seed(2)) * 3
    y = torch.tensor([0, 3, 8, 2, 2])
    p = topcat_probs(z, variant)
    assert (p.sum(-1) <= 1 + 1e-6).all()
    onehot = torch.nn.functional.one_hot(y, 9).float()
    direct = torch.nn.functional.binary_cross_entropy(p, onehot, reduction="sum") / 5
    assert topcat_bce(z, y, variant).item() == pytest.approx(direct.item(), rel=1e-5)
    big = (torch.randn(3, 9) * 80).requires_grad_()  # extreme logits: no inf/nan
    loss = topcat_bce(big, torch.tensor([1, 2, 3]), variant)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()
    logp, log1mp = topcat_log_probs(big.detach(), variant)
    assert torch.isfinite(log1mp).all()


def test_losses_shape_and_asymmetry():
    e = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert torch.allclose(smooth_l1(e), torch.tensor([1.5, 0.125, 0.0, 0.125, 1.5]))
    for fn in (exp_or_log, smooth_l1_or_l2):
        steep = fn(e, under="steep")
        assert steep[2] == 0 and steep[0] > steep[4] and steep[1] >= steep[3]
        gentle = fn(e, under="gentle")
        assert gentle[4] > gentle[0]
    # Exp Or Log is smooth at 0: both branches ~ e^2 / 2 near zero
    small = torch.tensor([-1e-3, 1e-3])
    assert torch.allclose(exp_or_log(small), small ** 2 / 2, rtol=1e-2)
    pred = torch.tensor([1.0, 2.0], requires_grad=True)
    regression_loss("exp-or-log", pred, torch.tensor([2.0, 2.0])).backward()
    assert pred.grad[0] < 0 and pred.grad[1] == 0


def test_research_lstm_equals_nn_lstm_and_lite_has_a_quarter_of_the_weights():
    from musicrnn.core.cells import ResearchLSTM

    torch.manual_seed(0)
    ref = torch.nn.LSTM(8, 16, 2, batch_first=True)
    mine = ResearchLSTM(8, 16, 2)
    with torch.no_grad():
        for k in range(2):
            mine.w_ih[k].copy_(getattr(ref, f"weight_ih_l{k}"))
            mine.w_hh[k].copy_(getattr(ref, f"weight_hh_l{k}"))
            mine.bias[k].copy_(getattr(ref, f"bias_ih_l{k}") + getattr(ref, f"bias_hh_l{k}"))
    x, s = torch.randn(3, 5, 8), (torch.randn(2, 3, 16), torch.randn(2, 3, 16))
    (y1, (h1, c1)), (y2, (h2, c2)) = ref(x, s), mine(x, s)
    assert torch.allclose(y1, y2, atol=1e-5) and torch.allclose(h1, h2, atol=1e-5) and torch.allclose(c1, c2, atol=1e-5)
    lite = ResearchLSTM(8, 16, 2, lite=True, activation="iris")
    weights = lambda m: sum(p.numel() for n, p in m.named_parameters() if not n.startswith("bias"))
    assert weights(lite) * 4 == weights(mine)
    y, _ = lite(x, s)
    y.pow(2).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in lite.parameters())


def test_grad_norm_scaling_sets_the_global_norm():
    from musicrnn.core.train import parse_grad_scale, scale_grad_norm_

    lin = torch.nn.Linear(4, 3)
    lin(torch.randn(8, 4)).pow(2).sum().backward()
    before = scale_grad_norm_(lin.parameters(), parse_grad_scale("phi"))
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in lin.parameters()]))
    assert before > 0 and after.item() == pytest.approx((1 + math.sqrt(5)) / 2, rel=1e-5)
    assert parse_grad_scale("phi-conjugate") == pytest.approx((math.sqrt(5) - 1) / 2)
    with pytest.raises(ValueError):
        parse_grad_scale("-1")


@pytest.mark.parametrize("mcfg", [
    {"cell": "lstm-lite", "activation": "iris"},
    {"cell": "lstm", "activation": "iris", "output": "topcat"},
    {"cell": "lstm", "activation": "phi-tanh"},
    {"cell": "lstm", "fused": False, "output": "topcat-sigmoid"},
])
def test_research_options_train_save_and_sample(mcfg, tmp_path):
    from conftest import CORPORA
    from musicrnn.codec import iter_midi_files
    from musicrnn.core.train import TrainConfig
    from musicrnn.tasks.music import generate, load_model, train_music

    d = tmp_path / "d"
    d.mkdir()
    for f in iter_midi_files([CORPORA / "folk" / "airdsAirs"])[:20]:
        (d / f.name).write_bytes(f.read_bytes())
    cfg = TrainConfig(seed=1, batch=4, bptt=32, epochs=1, warmup=5, grad_scale=1.0)
    mcfg = dict(mcfg)
    output = mcfg.pop("output", "softmax")  # the output activation belongs to the objective
    out = train_music(d, tmp_path / "o", {"embed": 8, "hidden": 16, "layers": 2, **mcfg}, cfg, output=output,
                      log=lambda m: None)
    hist = out["loss_history"]
    assert sum(hist[-5:]) < sum(hist[:5])
    model, vocab, meta = load_model(tmp_path / "o")
    assert not model.fused and all(meta["model"][k] == v for k, v in mcfg.items())
    assert meta["objective"] == {"kind": "next-token", "output": output} and meta["family"] == "rnn"
    assert meta["train"]["grad_scale"] == 1.0
    a = generate(model, vocab, n=1, seconds=4, seed=2, output=output)[0]
    assert (a == generate(model, vocab, n=1, seconds=4, seed=2, output=output)[0]).all() and len(a) > 3


def test_temporal_attention_is_causal_windowed_stateful_and_respects_resets():
    from musicrnn.core.attention import TemporalAttention

    torch.manual_seed(0)
    att = TemporalAttention(8, window=4)
    torch.nn.init.normal_(att.o.weight)  # a trained layer, not the identity it starts as
    y = torch.randn(2, 10, 8)
    mem, ok = att.init_memory(2)
    full, m_full, ok_full = att(y, mem, ok)
    # causal: changing the future does not change the past
    y2 = y.clone()
    y2[:, 7:] += 5
    assert torch.allclose(att(y2, mem, ok)[0][:, :7], full[:, :7])
    # windowed: position 9 ignores position 5 (window 4 covers 6..9)
    y3 = y.clone()
    y3[:, 5] += 5
    assert torch.allclose(att(y3, mem, ok)[0][:, 9], full[:, 9], atol=1e-6)
    # stateful: two halves with the memory carried equal one pass
    a, m, v = att(y[:, :6], mem, ok)
    b, m2, v2 = att(y[:, 6:], m, v)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-6) and torch.allclose(m2, m_full)
    # a reset at t cuts everything before it off
    reset = torch.zeros(2, 4, dtype=torch.bool)
    reset[0, 2] = True
    r, _, v3 = att(y[:, 6:], m, v, reset)
    fresh, _, _ = att(y[:1, 8:], *att.init_memory(1))
    assert torch.allclose(r[0, 2:], fresh[0], atol=1e-6)
    assert v3[0].sum() == 2 and v3[1].all()


def test_attention_model_trains_resumes_and_samples(tmp_path):
    from conftest import CORPORA
    from musicrnn.codec import iter_midi_files
    from musicrnn.core.train import TrainConfig
    from musicrnn.tasks.music import generate, load_model, train_music

    d = tmp_path / "d"
    d.mkdir()
    for f in iter_midi_files([CORPORA / "folk" / "airdsAirs"])[:20]:
        (d / f.name).write_bytes(f.read_bytes())
    mcfg = {"embed": 8, "hidden": 16, "layers": 1, "attention": 8}
    cfg = TrainConfig(seed=3, batch=4, bptt=32, epochs=1, warmup=5)
    full = train_music(d, tmp_path / "full", mcfg, cfg, log=lambda m: None)
    k = full["steps"] // 2
    train_music(d, tmp_path / "part", mcfg, TrainConfig(**{**cfg.__dict__, "max_steps": k}), log=lambda m: None)
    rest = train_music(d, tmp_path / "part", mcfg, cfg, resume=True, log=lambda m: None)
    assert rest["loss_history"] == full["loss_history"]
    model, vocab, _ = load_model(tmp_path / "full")
    assert model.att is not None
    out = generate(model, vocab, n=2, seconds=4, seed=1)
    assert all(len(o) > 3 for o in out)


def test_reliability_and_ece():
    import numpy as np

    from musicrnn.core.calibration import plot_reliability, reliability

    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 20_000)
    calibrated = reliability(conf, rng.uniform(0, 1, conf.size) < conf)
    overconfident = reliability(conf, rng.uniform(0, 1, conf.size) < conf * 0.5)
    assert calibrated["ece"] < 0.02 and overconfident["ece"] == pytest.approx(0.25, abs=0.02)
    assert sum(calibrated["count"]) == conf.size


def test_calibrate_cli_writes_a_png(tmp_path):
    from conftest import ROOT, run_cli

    png = tmp_path / "rel.png"
    r = run_cli("calibrate", "--checkpoint", ROOT / "checkpoints" / "chorales", "--data", ROOT / "corpora" / "chorales", "--png", png)
    assert r.returncode == 0, r.stderr
    import json

    rep = json.loads(r.stdout.strip().splitlines()[-1])
    (name, vals), = rep.items()
    assert 0 < vals["ece"] < 0.2 and 0 < vals["accuracy"] < 1 and vals["tokens"] > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cell_activations_and_their_derivatives_match_the_reference_functions():
    from musicrnn.core.activations import hidden_activation
    from musicrnn.core.cells import ACTIVATION_CODES, _act, _act_grad

    x = torch.linspace(-6, 6, 101, dtype=torch.double, requires_grad=True)
    for name, code in ACTIVATION_CODES.items():
        y = hidden_activation(name)(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        assert torch.allclose(_act(x.detach(), code), y, atol=1e-6), name
        assert torch.allclose(_act_grad(y.detach(), code), dy, atol=1e-6), name


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_hand_written_bptt_passes_gradcheck_with_and_without_resets(code):
    from musicrnn.core.cells import LSTMScan

    g = torch.Generator().manual_seed(code)
    T, B, H = 6, 3, 4
    args = [torch.randn(*s, generator=g, dtype=torch.double, requires_grad=True)
            for s in [(T, B, 4 * H), (B, H), (B, H), (4 * H, H)]]
    keep = torch.ones(T, B, dtype=torch.double)
    keep[0, 1] = keep[2, 0] = keep[4, 1] = keep[4, 2] = 0
    for k in (None, keep):
        assert torch.autograd.gradcheck(lambda *a: LSTMScan.apply(*a, code, k), args)


def test_research_cell_resets_inside_the_kernel_like_the_segmented_fused_path():
    from musicrnn.core.rnn import CharRNN, RNNConfig

    torch.manual_seed(1)
    fused = CharRNN(RNNConfig(30, embed=8, hidden=16, dropout=0.0))
    mine = CharRNN(RNNConfig(30, embed=8, hidden=16, dropout=0.0, fused=False))
    mine.embed.load_state_dict(fused.embed.state_dict())
    mine.head.load_state_dict(fused.head.state_dict())
    with torch.no_grad():
        for k in range(2):
            mine.rnn.w_ih[k].copy_(getattr(fused.rnn, f"weight_ih_l{k}"))
            mine.rnn.w_hh[k].copy_(getattr(fused.rnn, f"weight_hh_l{k}"))
            mine.rnn.bias[k].copy_(getattr(fused.rnn, f"bias_ih_l{k}") + getattr(fused.rnn, f"bias_hh_l{k}"))
    x = torch.randint(0, 30, (4, 20))
    reset = torch.zeros(4, 20, dtype=torch.bool)
    reset[0, 5] = reset[2, 11] = reset[3, 0] = reset[1, 19] = True
    s0 = tuple(torch.randn_like(t) for t in fused.init_state(4))
    (a, sa), (b, sb) = fused(x, s0, reset), mine(x, s0, reset)
    assert torch.allclose(a, b, atol=1e-5) and all(torch.allclose(p, q, atol=1e-5) for p, q in zip(sa, sb))
    a.pow(2).sum().backward()
    b.pow(2).sum().backward()
    assert torch.allclose(fused.embed.weight.grad, mine.embed.weight.grad, atol=1e-5)
    assert torch.allclose(fused.rnn.weight_hh_l1.grad, mine.rnn.w_hh[1].grad, atol=1e-5)


def test_a_non_finite_gradient_skips_the_step_and_no_gradient_does_not_crash():
    from musicrnn.core.data import Window
    from musicrnn.core.objectives import NextToken
    from musicrnn.core.rnn import CharRNN, RNNConfig
    from musicrnn.core.train import TrainConfig, make_optimizer, scale_grad_norm_, train_step

    obj = NextToken()

    torch.manual_seed(0)
    m = CharRNN(RNNConfig(vocab_size=20, embed=4, hidden=8, layers=1, dropout=0.0))
    x = torch.randint(0, 20, (2, 6))
    win = Window(x, torch.roll(x, -1, 1), torch.zeros(2, 6, dtype=torch.bool))
    for cfg in (TrainConfig(grad_scale=1.0), TrainConfig(grad_clip=1.0)):
        opt = make_optimizer(m, cfg)
        with torch.no_grad():
            m.head.bias[3] = float("inf")  # the loss, and so every gradient, is not finite
        before = {k: v.clone() for k, v in m.state_dict().items()}
        _, _, ok = train_step(m, obj, opt, win, None, cfg)
        assert not ok and all(torch.equal(before[k], v) for k, v in m.state_dict().items() if k != "head.bias")
        with torch.no_grad():
            m.head.bias[3] = 0.0
        _, _, ok = train_step(m, obj, opt, win, None, cfg)
        assert ok  # a finite step updates again
    for p in m.parameters():
        p.requires_grad_(False)
    _, _, ok = train_step(m, obj, make_optimizer(m, TrainConfig()), win, None, TrainConfig(grad_scale=1.0))
    assert not ok
    assert scale_grad_norm_(m.parameters(), 1.0) == 0.0  # no gradients at all: nothing to scale


def test_iris_scale_literal_is_the_quadrature():
    from musicrnn.core.activations import unit_variance_scale

    assert IRIS_SCALE == unit_variance_scale()
