"""The transformer family: causal, windowed and document-masked attention, an exact
key/value cache, the NumPy stepper, seeding, tied weights through safetensors."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from musicrnn.core.errors import SettingsError
from musicrnn.core.transformer import Transformer, TransformerConfig
from musicrnn.core.transformer_np import TransformerStepper

V, C = 37, 8  # vocabulary, attention window


def tiny(layers: int = 2, seed: int = 0, **kw) -> Transformer:
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=V, dim=16, layers=layers, heads=2, context=C, dropout=0.0, **kw)
    return Transformer(cfg).eval()


def tokens(B: int, T: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def chunked(model, x, size, reset=None):
    """Logits of x fed in chunks of ``size``, carrying the cache."""
    state, out = None, []
    for a in range(0, x.shape[1], size):
        r = None if reset is None else reset[:, a:a + size]
        y, state = model(x[:, a:a + size], state, r)
        assert state[2].shape[2] <= model.cfg.context - 1
        out.append(y)
    return torch.cat(out, 1)


@torch.no_grad()
def test_causal():
    model, x = tiny(), tokens(2, 3 * C)
    base, _ = model(x)
    for t in (0, 5, C, 2 * C + 3, 3 * C - 1):
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % V
        out, _ = model(y)
        assert torch.equal(out[:, :t], base[:, :t])
        assert not torch.allclose(out[:, t], base[:, t])


@torch.no_grad()
@pytest.mark.parametrize("size", [1, 5, C])
def test_chunks_with_cache_equal_one_call(size):
    model, x = tiny(), tokens(3, 3 * C)
    full, _ = model(x)
    torch.testing.assert_close(chunked(model, x, size), full, atol=1e-5, rtol=0)


@torch.no_grad()
@pytest.mark.parametrize("size", [1, 5, C])
def test_resets_mask_documents(size):
    model, x = tiny(), tokens(3, 3 * C)
    reset = torch.zeros_like(x, dtype=torch.bool)
    reset[1, 10] = True  # on a chunk boundary for size 5
    reset[2, 3] = reset[2, C + 6] = True  # a short piece, then one longer than the window
    full, _ = model(x, reset=reset)
    torch.testing.assert_close(chunked(model, x, size, reset), full, atol=1e-5, rtol=0)
    # after a reset, a row reads exactly as that piece alone, from a fresh state
    for row, a, b in [(1, 10, 3 * C), (2, 3, C + 6), (2, C + 6, 3 * C), (0, 0, 3 * C)]:
        alone, _ = model(x[row:row + 1, a:b])
        torch.testing.assert_close(full[row:row + 1, a:b], alone, atol=1e-5, rtol=0)
    free, _ = model(x)
    torch.testing.assert_close(full[0], free[0], atol=1e-6, rtol=0)  # a row without resets is unaffected


@torch.no_grad()
@pytest.mark.parametrize("layers", [1, 3])
def test_sliding_window(layers):
    """Each layer attends over the last ``context`` positions, so a stack of L layers
    reads the last L*(context-1)+1 tokens: nothing further back changes its logits."""
    model = tiny(layers)
    field = layers * (C - 1) + 1
    T = field + 2 * C
    x = tokens(2, T)
    base, _ = model(x)
    for t in (field, field + 3, T - 1):
        y = x.clone()
        y[:, : t - field + 1] = (y[:, : t - field + 1] + 1) % V  # everything outside the field of t
        out, _ = model(y)
        assert torch.equal(out[:, t], base[:, t])  # masked keys weigh exactly nothing
        y = x.clone()
        y[:, t - field + 1] = (y[:, t - field + 1] + 1) % V  # the oldest token in the field
        out, _ = model(y)
        assert not torch.equal(out[:, t], base[:, t])  # tiny through 3 layers, but not zero


@torch.no_grad()
def test_cache_keeps_the_window():
    model = tiny()
    _, state = model(tokens(2, 3))
    assert state[2].shape == (2, 2, 3, 8) and state[0].tolist() == [3, 3]
    _, state = model(tokens(2, 3 * C), state)
    assert len(state) == 2 + 2 * 2 and state[2].shape == (2, 2, C - 1, 8) and state[0].tolist() == [3 * C + 3] * 2


@torch.no_grad()
@pytest.mark.parametrize("prompt", [1, 3, C + 3])
def test_numpy_stepper_matches_torch(prompt):
    model, n, T = tiny(layers=3), 3, 3 * C + 4
    x = tokens(n, T)
    x[:, :prompt] = x[0, :prompt]  # the prompt is shared; the rows differ afterwards
    full, _ = model(x)
    stepper = TransformerStepper.from_model(model, output="softmax")
    assert stepper.output == "softmax"
    logits, state = stepper.start(x[0, :prompt].tolist(), n)
    assert logits.shape == (n, V) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, full[:, prompt - 1].numpy(), atol=1e-4, rtol=0)
    for t in range(prompt, T):
        logits, state = stepper.step(x[:, t].numpy(), state)
        np.testing.assert_allclose(logits, full[:, t].numpy(), atol=1e-4, rtol=0)


def test_same_seed_same_weights():
    a, b, c = tiny(seed=3), tiny(seed=3), tiny(seed=4)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(sa[k].numpy().tobytes() == sb[k].numpy().tobytes() for k in sa)
    assert not torch.equal(sa["embed.weight"], c.state_dict()["embed.weight"])


def test_init_scale():
    model = tiny(layers=4)
    assert abs(model.embed.weight.std().item() - 0.02) < 0.003
    assert abs(model.blocks[0].attn.proj.weight.std().item() - 0.02 / math.sqrt(8)) < 0.002
    assert torch.count_nonzero(model.blocks[0].mlp.fc.bias) == 0


@torch.no_grad()
def test_tied_head_through_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file

    model, x = tiny(seed=5), tokens(2, 12)
    sd = model.state_dict()
    assert not any(k.startswith("head") for k in sd)  # the head is the embedding: stored once
    save_file(sd, str(tmp_path / "m.safetensors"))
    fresh = tiny(seed=6)
    fresh.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    assert torch.equal(fresh(x)[0], model(x)[0])


@pytest.mark.parametrize("change, word", [
    (dict(dim=30, heads=4), "multiple"), (dict(dim=12, heads=4), "even"), (dict(layers=0), "--layers"),
    (dict(heads=0), "--heads"), (dict(vocab_size=0), "--vocab-size"), (dict(context=1), "--context"),
    (dict(dropout=1.0), "--dropout"), (dict(dropout=-0.1), "--dropout"), (dict(mlp=0), "--mlp"),
])
def test_validate(change, word):
    cfg = TransformerConfig(**{"vocab_size": 10, **change})
    with pytest.raises(SettingsError, match=word) as e:
        cfg.validate()
    assert "\n" not in str(e.value)


def test_config_dict_round_trip():
    cfg = TransformerConfig(vocab_size=10, dim=32, context=64)
    assert TransformerConfig.from_dict({**cfg.to_dict(), "cell": "lstm"}) == cfg
    assert cfg.validate() is cfg
    assert Transformer.family == "transformer" and Transformer.carries_state is False


def test_stepper_imports_without_torch():
    code = ("import sys; from musicrnn.core.transformer_np import TransformerStepper, TransformerConfig; "
            "TransformerConfig(vocab_size=5).validate(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_learns_a_pattern():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=32, dim=32, layers=2, heads=2, context=16, dropout=0.0)
    model = Transformer(cfg)
    pattern = torch.tensor([3, 17, 5, 5, 9, 30, 1, 17, 22, 5, 12])  # next token is not fixed by the current one
    seq = pattern.repeat(40)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        at = torch.randint(0, len(seq) - 33, (8,), generator=g)
        w = torch.stack([seq[a:a + 33] for a in at.tolist()])
        logits, _ = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 32), w[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.15 < math.log(32)  # about 0.03 here; log(32) = 3.47
