"""char-rnn's training, as Karpathy's train.lua sets it, for the research study (issue 23):
RMSprop, the step learning-rate decay, element-wise gradient clamping, uniform
initialisation with forget-gate biases at 1, and stateless training (state reset every
window, Keras's default) against the stateful default."""

import pytest
import torch

from conftest import folk_folder, run_cli
from musicrnn.core import train as T
from musicrnn.core.errors import SettingsError
from musicrnn.core.rnn import CharRNN, RNNConfig
from musicrnn.core.train import TrainConfig, init_uniform_, lr_at, make_optimizer, shape_gradients_


def test_the_step_schedule_decays_by_0_97_per_epoch_from_the_end_of_epoch_10():
    cfg = TrainConfig(lr=2e-3, schedule="step", lr_decay=0.97, lr_decay_after=10)
    assert [lr_at(123, 1000, cfg, e) for e in (0, 9)] == [2e-3, 2e-3]
    assert lr_at(0, 1000, cfg, 10) == pytest.approx(2e-3 * 0.97)
    assert lr_at(0, 1000, cfg, 12) == pytest.approx(2e-3 * 0.97 ** 3)
    assert lr_at(500, 1000, TrainConfig(lr=2e-3, warmup=0.0), 12) < 2e-3  # the cosine default ignores epochs


def test_rmsprop_is_char_rnns_update():
    m = torch.nn.Linear(3, 2)
    opt = make_optimizer(m, TrainConfig(optimizer="rmsprop", lr=2e-3, rmsprop_alpha=0.95, weight_decay=0.0))
    assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["alpha"] == 0.95 and opt.defaults["eps"] == 1e-8
    w0 = m.weight.detach().clone()
    m.weight.grad, m.bias.grad = torch.full_like(m.weight, 0.5), torch.zeros_like(m.bias)
    opt.step()
    v = 0.05 * 0.25  # (1 - alpha) g^2
    assert torch.allclose(m.weight, w0 - 2e-3 * 0.5 / (v ** 0.5 + 1e-8))
    with pytest.raises(SettingsError):
        TrainConfig(optimizer="sgd")


def test_clamping_limits_each_element_not_the_norm():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([10.0, -10.0, 1.0, 0.0])
    assert shape_gradients_([p], clip=0.0, clamp=5.0)
    assert torch.equal(p.grad, torch.tensor([5.0, -5.0, 1.0, 0.0]))  # a norm clip to 5 would give 3.53, -3.53, 0.35


def test_uniform_initialisation_is_bounded_seeded_and_opens_the_forget_gates():
    def make():
        torch.manual_seed(123)
        return CharRNN(RNNConfig(vocab_size=20, embed=8, hidden=16, layers=2, cell="lstm", dropout=0.0))

    a, b, c = make(), make(), make()
    init_uniform_(a, 0.08, seed=0), init_uniform_(b, 0.08, seed=0), init_uniform_(c, 0.08, seed=1)
    pa, pb, pc = (torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    lstms = [m for m in a.modules() if isinstance(m, torch.nn.LSTM)]
    assert lstms, "the fused cell is an nn.LSTM"
    for lstm in lstms:
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                h = p.shape[0] // 4
                assert torch.all(p[h:2 * h] == 1.0)
                p = torch.cat([p[:h], p[2 * h:]])
            assert p.abs().max() <= 0.08


@pytest.fixture(scope="module")
def folk_dir(tmp_path_factory):
    return folk_folder(tmp_path_factory, 30)


def test_stateless_training_starts_every_window_from_a_fresh_state(folk_dir, tmp_path, monkeypatch):
    """The char-rnn baseline from the command line, stateful and stateless: the stateless run
    hands every step a fresh state; the stateful one carries it from the second step on."""
    seen = []
    real = T.train_step

    def spy(net, objective, opt, batch, state, cfg, params=None):
        seen.append(state is None)
        return real(net, objective, opt, batch, state, cfg, params)

    monkeypatch.setattr(T, "train_step", spy)
    base = ["train", "--data", str(folk_dir), "--hidden", "16", "--embed", "8", "--layers", "2", "--dropout", "0",
            "--optimizer", "rmsprop", "--lr", "2e-3", "--rmsprop-alpha", "0.95", "--schedule", "step",
            "--grad-clamp", "5", "--grad-clip", "0", "--init-uniform", "0.08", "--weight-decay", "0",
            "--batch", "4", "--bptt", "16", "--steps", "6", "--transpose", "0", "-q"]
    run_cli(*base, "--out", str(tmp_path / "stateful"))
    stateful, seen[:] = list(seen), []
    run_cli(*base, "--stateless", "--out", str(tmp_path / "stateless"))
    assert stateful[0] and not any(stateful[1:6])
    assert all(seen[:6])
    import json

    cfg = json.loads((tmp_path / "stateless" / "config.json").read_text())["train"]
    assert cfg["stateless"] is True and cfg["optimizer"] == "rmsprop" and cfg["grad_clamp"] == 5.0
