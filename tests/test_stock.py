"""The S&P 500 task (musicrnn.tasks.stock): the loader's refusals, no look-ahead, the same
seed giving the same bytes, the strategy's arithmetic on a hand-made series, evaluate's
keys, the report, and refusing another task's checkpoint. Tiny models, few steps."""

import json
import math
import shutil

import numpy as np
import pytest

from musicrnn.core.errors import CheckpointError, DataError, SettingsError
from musicrnn.tasks import stock

TINY = dict(hidden=4, history=8, steps=12, progress=False, log=lambda m: None)


def _csv(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _rows(n, start="2001-01-01"):
    d = np.datetime64(start) + np.arange(n)
    return "".join(f"{x},{100 + i}\n" for i, x in enumerate(d))


# --- the loader ---------------------------------------------------------------------------------
def test_loader_reads_the_shipped_series():
    dates, closes = stock.load_closes(stock.DEFAULT_CSV)
    assert len(dates) == len(closes) == 17346
    assert str(dates[0]) == "1950-01-03" and str(dates[-1]) == "2018-12-07"
    assert closes[0] == 16.66 and np.all(closes > 0) and np.all(np.diff(dates) > np.timedelta64(0, "D"))


def test_loader_accepts_other_spellings_and_skips_a_little_garbage(tmp_path):
    d, c = stock.load_closes(_csv(tmp_path, "date,Open,Adj Close\n2001-01-02,1,10.5\n2001-01-03 00:00:00,1,11\n"))
    assert [str(x) for x in d] == ["2001-01-02", "2001-01-03"] and c.tolist() == [10.5, 11.0]
    body = _rows(300).splitlines(True)
    body[100] = body[100].split(",")[0] + ",null\n"  # Yahoo's holiday rows: 1 of 300 (< 1%)
    said = []
    d, c = stock.load_closes(_csv(tmp_path, "Date,Close\n" + "".join(body)), log=said.append)
    assert len(d) == 299 and len(said) == 1 and "skipped 1 garbage row of 300" in said[0] and "line 102" in said[0]


@pytest.mark.parametrize("text, words", [
    ("", ["empty file"]),
    ("\n\n", ["empty file"]),
    ("Date,Close\n", ["no data rows"]),
    ("Day,Close\n2001-01-02,3\n", ["no Date column", "Day, Close"]),
    ("Date,Open\n2001-01-02,3\n", ["no Close column", "Date, Open"]),
    ("Time,Price\n2001-01-02,3\n", ["no Date or Close column"]),
    ("Date,Close\n" + _rows(50) + "2001-03-01,abc\n", ["1 of 51 rows", "line 52: close 'abc'", "at most 1%"]),
    ("Date,Close\n" + "".join(f"2001-01-{d:02d},{v}\n" for d, v in [(1, 1), (2, "-5"), (3, "nan"), (4, 2)])
     + "yesterday,3\n", ["3 of 5 rows", "line 3: close '-5'", "line 4: close 'nan'", "line 6: date 'yesterday'"]),
    ("Date,Close\n2001-01-03,1\n2001-01-02,2\n", ["out of order at line 3: 2001-01-02 after 2001-01-03"]),
    ("Date,Close\n2001-01-02,1\n2001-01-02,2\n", ["repeated at line 3"]),
])
def test_loader_refuses_bad_files_in_one_line(tmp_path, text, words):
    with pytest.raises(DataError) as e:
        stock.load_closes(_csv(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path) in msg
    for w in words:
        assert w in msg


def test_loader_refuses_missing_and_binary_files(tmp_path):
    for path, word in ((tmp_path / "nope.csv", "no such file"), (tmp_path / "b.csv", "not UTF-8")):
        if word == "not UTF-8":
            path.write_bytes(b"\xff\xfe\x00\x9c" * 10)
        with pytest.raises(DataError, match=word):
            stock.load_closes(path)


# --- the strategy arithmetic ----------------------------------------------------------------------
def test_strategy_arithmetic_on_a_hand_made_series():
    # closes one year apart: 2000-01-01 .. 2004-01-01 is 1461 days = exactly 4 years of 365.25
    dates = np.array(["2000-01-01", "2001-01-01", "2002-01-01", "2003-01-01", "2004-01-01"], "datetime64[D]")
    closes = np.array([100.0, 110.0, 99.0, 99.0, 108.9])  # day returns +10%, -10%, 0, +10%
    signal = np.array([np.nan, 0.02, -0.01, 0.005, 0.03])  # predicted deltas: up, down, up, up
    lc = stock.backtest(closes, signal, dates, 1)
    assert lc["positions"].tolist() == [1, 0, 1, 1] and lc["years"] == 4.0
    assert lc["total"] == pytest.approx(0.21) and lc["annualised"] == pytest.approx(1.21 ** 0.25 - 1)
    ls = stock.backtest(closes, signal, dates, 1, short=True)
    assert ls["positions"].tolist() == [1, -1, 1, 1]
    assert ls["annualised"] == pytest.approx(1.331 ** 0.25 - 1)  # 1.1 * 1.1 (short a -10% day) * 1.0 * 1.1
    bh = stock.buy_and_hold(closes, dates, 1)
    assert bh["annualised"] == pytest.approx(1.089 ** 0.25 - 1) and bh["trades"] == 1
    # a cost of 1% per unit of position change: long/cash trades 1,1,1,0; long/short 1,2,2,0
    c = 0.01
    assert stock.backtest(closes, signal, dates, 1, cost=c)["total"] == pytest.approx(0.99 ** 3 * 1.21 - 1)
    assert stock.backtest(closes, signal, dates, 1, cost=c, short=True)["total"] == pytest.approx(
        0.99 * 0.98 * 0.98 * 1.331 - 1)
    assert stock.buy_and_hold(closes, dates, 1, cost=c)["total"] == pytest.approx(0.99 * 1.089 - 1)
    # trading from day 2 on: the position before it is cash, so day 2's "down" costs nothing
    late = stock.backtest(closes, signal, dates, 2, cost=c)
    assert late["trades"] == 1 and late["total"] == pytest.approx(0.99 * 1.1 - 1)
    # directional accuracy over days that moved (day 3 did not): 3 of 3
    daily = np.concatenate([[np.nan], closes[1:] / closes[:-1] - 1])
    assert stock.directional_accuracy(signal[1:], daily[1:]) == 1.0
    assert stock.directional_accuracy(-signal[1:], daily[1:]) == 0.0
    with pytest.raises(SettingsError):
        stock.backtest(closes, signal, dates, 1, cost=1.5)


def test_distinguishable_best_run():
    vals = [0.05, 0.051, 0.049, 0.052, 0.048, 0.05, 0.0505, 0.0495, 0.051, 0.049]
    d = stock.distinguishable(vals)
    assert d["value"] == 0.052 and not d["outside"] and d["level"] == 0.005
    assert stock.distinguishable(vals[:-1] + [0.2])["outside"]
    # z = 2.5 is outside a plain 95% interval, but not remarkable for the best of 10
    rest = np.array(vals[:-1])
    z25 = float(rest.mean() + 2.5 * rest.std(ddof=1))
    assert not stock.distinguishable(vals[:-1] + [z25])["outside"]


# --- trained models --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("stock")
    for name, stateful in (("stateful", True), ("stateless", False)):
        stock.train(d / name, stateful=stateful, seed=3, **TINY)
    return d


def test_train_records_the_task_and_its_settings(runs):
    meta = json.loads((runs / "stateful" / "config.json").read_text())
    assert meta["task"] == "stock" and meta["objective"] == {"kind": "regression", "loss": "smooth-l1"}
    s = meta["stock"]
    assert s["stateful"] and s["splits"]["train"][1] < "2000-01-01" <= s["splits"]["valid"][0]
    assert s["splits"]["test"] == ["2010-01-04", "2018-12-07"]
    assert "test_loss" in meta["metrics"]  # the test period scored once, by fit
    dates, closes = stock.load_closes(stock.DEFAULT_CSV)
    assert s["norm"] == stock.normaliser(dates, closes)


@pytest.mark.parametrize("arm", ["stateful", "stateless"])
def test_no_look_ahead(runs, arm):
    """The prediction for day t uses closes up to day t-1 only: change every close from day
    t on, and the predictions for days ..t stay bit-identical (those after t change)."""
    dates, closes = stock.load_closes(stock.DEFAULT_CSV)
    base = stock.predictions(runs / arm, closes)
    rng = np.random.default_rng(0)
    for t in (500, 13000, len(closes) - 40):  # training, validation and test periods
        changed = closes.copy()
        changed[t:] *= rng.uniform(0.5, 2.0, len(closes) - t)
        p = stock.predictions(runs / arm, changed)
        assert np.array_equal(p[:t + 1], base[:t + 1], equal_nan=True)
        assert not np.allclose(p[t + 1:], base[t + 1:])
    # the normalisation is fitted on the training period alone
    later = closes.copy()
    later[np.searchsorted(dates, np.datetime64("2000-01-01")):] *= 3.0
    assert stock.normaliser(dates, later) == stock.normaliser(dates, closes)


def test_same_seed_same_bytes_and_exact_resume(runs, tmp_path):
    stock.train(tmp_path / "again", stateful=True, seed=3, **TINY)
    same = (runs / "stateful" / "model.safetensors").read_bytes()
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == same
    stock.train(tmp_path / "other", stateful=True, seed=4, **TINY)
    assert (tmp_path / "other" / "model.safetensors").read_bytes() != same
    stock.train(tmp_path / "part", stateful=True, seed=3, max_steps=5, **TINY)
    stock.train(tmp_path / "part", stateful=True, seed=3, resume=True, **TINY)
    assert (tmp_path / "part" / "last" / "model.safetensors").read_bytes() == \
        (runs / "stateful" / "last" / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a model"):
        stock.train(tmp_path / "again", stateful=True, seed=3, **TINY)
    with pytest.raises(SettingsError, match="these differ: stateful"):
        stock.train(tmp_path / "part", stateful=False, seed=3, resume=True, **TINY)


def test_evaluate_returns_the_headline_metrics(runs):
    m = stock.evaluate(runs / "stateless")
    json.dumps(m)  # flat and JSON-serialisable
    for k in ("annualised_long_cash", "annualised_long_short", "annualised_buy_hold", "excess_long_cash",
              "directional_accuracy", "test_loss", "test_loss_zero_predictor", "valid_loss", "trades_long_cash"):
        assert isinstance(m[k], float) and math.isfinite(m[k]), k
    assert m["test_from"] == "2010-01-04" and m["test_days"] == 2249 and m["same_data"] and not m["stateful"]
    # buy-and-hold over 2010-01-04..2018-12-07 from the close of 2009-12-31 (1115.10 -> 2633.08)
    assert m["annualised_buy_hold"] == pytest.approx((2633.080078 / 1115.099976) ** (1 / m["years"]) - 1)
    costly = stock.evaluate(runs / "stateless", cost=0.001)
    assert costly["annualised_long_short"] < m["annualised_long_short"] and costly["cost"] == 0.001
    assert costly["annualised_buy_hold"] < m["annualised_buy_hold"]
    assert costly["annualised_long_cash"] <= m["annualised_long_cash"]


def test_report_for_a_model_and_an_experiment(runs, tmp_path):
    md = stock.report(runs / "stateful", tmp_path / "rep")
    assert md.name == "report.md" and "buy-and-hold" in md.read_text() and (tmp_path / "rep" / "equity.png").stat().st_size
    r = stock.experiment(tmp_path / "exp", seeds=2, steps=6, hidden=4, history=8, log=lambda m: None)
    s = r["stock"]["stateful"]
    assert set(r["runs"]) == {"stateful", "stateless"} and s["long_cash"]["n"] == 2
    assert s["best_by_valid"]["seed"] in (0, 1) and "outside" in s["best_by_test"]["vs_rest"]
    assert json.loads((tmp_path / "exp" / "stock.json").read_text())["stock"]["stateless"]["long_cash"]["n"] == 2
    again = stock.experiment(tmp_path / "exp", seeds=2, steps=6, hidden=4, history=8, log=lambda m: None)
    assert again["runs"] == r["runs"]  # finished runs are read back, not retrained
    md = stock.report(tmp_path / "exp", tmp_path / "exprep")
    text = md.read_text()
    assert "| stateful |" in text and "| stateless |" in text and (tmp_path / "exprep" / "equity.png").is_file()


def test_another_tasks_checkpoint_is_refused(runs, tmp_path):
    from musicrnn.core.checkpoint import update_config

    shutil.copytree(runs / "stateful", tmp_path / "m", ignore=shutil.ignore_patterns("last"))
    update_config(tmp_path / "m", lambda meta: meta.update(task="music"))
    for call in (lambda: stock.evaluate(tmp_path / "m"), lambda: stock.report(tmp_path / "m", tmp_path / "r")):
        with pytest.raises(CheckpointError) as e:
            call()
        assert "\n" not in str(e.value) and "'music' model, not a stock model" in str(e.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        stock.evaluate(tmp_path / "missing")


def test_default_length_and_bad_settings(tmp_path):
    quiet = dict(progress=False, log=lambda m: None)
    s = stock.train(tmp_path / "d", hidden=4, max_steps=1, **quiet)
    assert s["planned_steps"] == stock.DEFAULT_STEPS and s["steps"] == 1 and not s["finished"]
    with pytest.raises(SettingsError, match="--steps must be > 0"):
        stock.train(tmp_path / "z", steps=0, **quiet)
    with pytest.raises(SettingsError, match="unknown loss"):
        stock.train(tmp_path / "a", loss="mse", **TINY)
    with pytest.raises(DataError, match="only 0 test days"):
        stock.train(tmp_path / "b", test_from="2030-01-01", valid_from="2010-01-01", **TINY)
