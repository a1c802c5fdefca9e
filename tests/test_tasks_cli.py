"""`musicrnn task stock|lotto train|eval|report` on the command line: thin over the task
modules, last line JSON, one line for bad input."""

import json

from conftest import ROOT, run_cli

ROOT_QUAKE = ROOT / "corpora" / "quake"


def _last_json(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_stock_train_eval_report_and_bad_input(tmp_path):
    s = _last_json(run_cli("task", "stock", "train", "--out", tmp_path / "st", "--steps", 20, "-q"))
    assert s["steps"] == 20
    e = _last_json(run_cli("task", "stock", "eval", "--model", tmp_path / "st", "--cost", 0.001))
    for k in ("annualised_long_cash", "annualised_long_short", "annualised_buy_hold"):
        assert isinstance(e[k], float)
    rep = _last_json(run_cli("task", "stock", "report", tmp_path / "st", "--out", tmp_path / "rep"))
    assert (tmp_path / "rep" / "report.md").is_file()
    assert rep["report"].endswith("report.md")
    (tmp_path / "bad.csv").write_text("when,price\n2020-01-01,1\n")
    r = run_cli("task", "stock", "train", "--out", tmp_path / "x", "--data", tmp_path / "bad.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_lotto_train_eval_and_a_model_of_another_task(tmp_path):
    s = _last_json(run_cli("task", "lotto", "train", "--out", tmp_path / "lt", "--generator", "mt", "--draws", 400,
                           "--steps", 10, "-q"))
    assert s["steps"] == 10
    e = _last_json(run_cli("task", "lotto", "eval", "--model", tmp_path / "lt"))
    assert e["chance"] == 0.98 and e["draws_scored"] > 0 and 0 <= e["p_value"] <= 1
    _last_json(run_cli("task", "stock", "train", "--out", tmp_path / "st", "--steps", 5, "-q"))
    r = run_cli("task", "lotto", "eval", "--model", tmp_path / "st")
    assert r.returncode == 2 and "not a lotto model" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_quake_train_eval_update_on_the_command_line(tmp_path):
    """A small synthetic catalog: train, eval (JSON last), and the daily update twice (the
    second finds nothing new); a catalog that starts too late gets one line."""
    from musicrnn.tasks import quake

    cat = quake.etas_catalog(240, seed=3)
    quake.write_comcat(cat, tmp_path / "all.csv")
    import numpy as np

    keep = cat.time < cat.time.min() + np.timedelta64(200, "D")
    early = quake.Catalog(**{k: v[keep] if isinstance(v, np.ndarray) and v.shape == keep.shape else v
                             for k, v in vars(cat).items()})
    quake.write_comcat(early, tmp_path / "early.csv")
    s = _last_json(run_cli("task", "quake", "train", "--out", tmp_path / "q", "--data", tmp_path / "early.csv",
                           "--steps", 10, "-q"))
    assert s["steps"] == 10
    e = _last_json(run_cli("task", "quake", "eval", "--model", tmp_path / "q"))
    assert e["test_days"] > 0
    u = _last_json(run_cli("task", "quake", "update", "--model", tmp_path / "q", "--catalog", tmp_path / "all.csv"))
    assert u["new_days"] > 0
    again = _last_json(run_cli("task", "quake", "update", "--model", tmp_path / "q", "--catalog", tmp_path / "all.csv"))
    assert again["new_days"] == 0
    r = run_cli("task", "quake", "update", "--model", tmp_path / "q", "--catalog", ROOT_QUAKE / "usgs_week_2018-02.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
