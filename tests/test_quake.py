"""The quake task's data and scoring: ComCat reader, daily 2-degree grid, ETAS simulator, metrics, baselines."""

import json
import math

import numpy as np
import pytest

from musicrnn.core.errors import DataError
from musicrnn.tasks import quake as q

HEADER = ",".join(q.COMCAT_COLUMNS)


def _row(time="2020-01-01T12:00:00.000Z", lat="10.5", lon="20.5", depth="10", mag="5.0", eid="x1", kind="earthquake"):
    """One ComCat CSV line with the given values and the other columns empty."""
    cells = dict.fromkeys(q.COMCAT_COLUMNS, "")
    cells.update(time=time, latitude=lat, longitude=lon, depth=depth, mag=mag, magType="mw", id=eid, type=kind)
    return ",".join(cells[c] for c in q.COMCAT_COLUMNS)


def _write(tmp_path, *rows, header=HEADER, name="cat.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n" if header is not None else "\n".join(rows))
    return path


# --- reader ---------------------------------------------------------------------------------------


def test_shipped_real_catalogs_read_completely():
    week = q.load_shipped("usgs_week")
    assert len(week) == 1707 and week.bad_rows == [] and week.skipped_types == 0
    assert str(week.time[0]) == "2018-01-31T01:49:59.650" and str(week.time[-1]) == "2018-02-07T01:26:13.840"
    assert np.all(np.diff(week.time.astype(np.int64)) >= 0)
    quakes = q.load_shipped("usgs_week", types=("earthquake",))
    assert len(quakes) == 1679 and quakes.skipped_types == 28  # 15 explosions, 13 quarry blasts
    ridge = q.load_shipped("ridgecrest")
    assert len(ridge) == 829 and ridge.mag.min() >= 2.5 and ridge.mag.max() == pytest.approx(5.5)


def test_bad_rows_are_counted_and_named(tmp_path):
    path = _write(tmp_path, _row(), _row(mag="big"), _row(time="2020-01-01T12:00:00"), _row(lat="95"),
                  "2020-01-02T00:00:00Z,1,2", _row(time="yesterday Z"), _row(eid="x7"))
    cat = q.read_comcat(path)
    assert len(cat) == 2
    lines = [n for n, _ in cat.bad_rows]
    assert lines == [3, 4, 5, 6, 7]  # file line numbers; the header is line 1
    text = cat.problems()
    assert text.startswith("5 bad rows skipped: line 3: mag 'big' is not a number; line 4: ")
    assert "no time zone" in text and "latitude '95' is out of range" in text and "3 fields" in text
    assert "\n" not in text


def test_unusable_files_give_one_line(tmp_path):
    cases = {
        "empty": (_write(tmp_path, header=None, name="empty.csv"), "empty file"),
        "no mag": (_write(tmp_path, "2020-01-01T00:00:00Z,1,2,3", header="time,latitude,longitude,depth",
                          name="nomag.csv"), "missing column mag"),
        "only bad": (_write(tmp_path, _row(mag="?"), _row(lat=""), name="bad.csv"), "no usable rows: 2 bad rows"),
        "header only": (_write(tmp_path, name="header.csv"), "no events"),
        "absent": (tmp_path / "absent.csv", "no such file"),
    }
    for path, expected in cases.values():
        with pytest.raises(DataError) as err:
            q.read_comcat(path)
        assert expected in str(err.value) and "\n" not in str(err.value)


def test_write_then_read_round_trip(tmp_path):
    cat = q.etas_catalog(20, seed=3)
    back = q.read_comcat(q.write_comcat(cat, tmp_path / "etas.csv"))
    assert len(back) == len(cat) and back.bad_rows == []
    assert np.array_equal(back.time, cat.time)
    assert np.allclose(back.latitude, cat.latitude, atol=1e-6) and np.allclose(back.mag, cat.mag, atol=1e-3)
    assert list(back.event_id) == list(cat.event_id)


# --- grid -----------------------------------------------------------------------------------------


def test_two_m5_in_one_cell_sum_their_energy(tmp_path):
    cat = q.read_comcat(_write(tmp_path, _row(mag="5.0"), _row(time="2020-01-01T23:59:59.999Z", lat="11.9",
                                                                   lon="21.9", mag="5.0")))
    days, values = q.grid(cat, "2020-01-01", "2020-01-02")
    assert values.shape == (1, 90, 180) and values.dtype == np.float32
    row, col = divmod(int(q.cell_of(10.5, 20.5)), 180)
    assert (row, col) == (50, 100)
    assert values[0, row, col] == pytest.approx((2 / 3) * math.log10(2 * 10 ** 7.5), abs=1e-5)
    assert values[0, row, col] == pytest.approx(5.2007, abs=1e-4)
    assert q.summed_magnitude([5.0, 5.0]) == pytest.approx(5.2007, abs=1e-4)
    assert q.summed_magnitude([6.0]) == pytest.approx(6.0)
    empty = np.ones(values.shape, bool)
    empty[0, row, col] = False
    assert np.all(values[empty] == -1.0)


def test_day_boundaries_are_utc(tmp_path):
    rows = [_row(time="2020-01-01T23:59:59.999Z", mag="4"),  # day 0
            _row(time="2020-01-02T00:00:00.000Z", mag="3"),  # day 1
            _row(time="2020-01-02T01:30:00.000+02:00", mag="2"),  # 2020-01-01T23:30Z: day 0
            _row(time="2020-01-03T00:00:00Z", mag="6")]  # day 2: outside [start, end)
    days, values = q.grid(q.read_comcat(_write(tmp_path, *rows)), "2020-01-01", "2020-01-03")
    assert [str(d) for d in days] == ["2020-01-01", "2020-01-02"]
    cell = values.reshape(2, -1)[:, q.cell_of(10.5, 20.5)]
    assert cell[0] == pytest.approx(q.summed_magnitude([4, 2])) and cell[1] == pytest.approx(3.0)
    assert (values > -1).sum() == 2


def test_cell_edges_min_mag_and_active_cells(tmp_path):
    assert list(q.cell_of([-90, 90, 0, 0, -0.001], [-180, 180, 179.999, 0, 0])) == [0, 89 * 180, 45 * 180 + 179,
                                                                                      45 * 180 + 90, 44 * 180 + 90]
    rows = [_row(mag="2.0"), _row(time="2020-01-02T00:00:00Z", mag="4.0"),
            _row(time="2020-01-02T00:00:00Z", lat="-40", lon="-70", mag="3.0")]
    cat = q.read_comcat(_write(tmp_path, *rows))
    _, values = q.grid(cat, "2020-01-01", "2020-01-03", min_mag=2.5)
    cell = int(q.cell_of(10.5, 20.5))
    assert values.reshape(2, -1)[0, cell] == -1.0 and values.reshape(2, -1)[1, cell] == 4.0
    assert list(q.active_cells(values, 1)) == sorted([cell, int(q.cell_of(-40, -70))])
    assert list(q.active_cells(values, 2)) == []
    assert q.cell_series(values, np.array([cell])).shape == (2, 1)


# --- ETAS -----------------------------------------------------------------------------------------


def test_etas_is_deterministic_by_seed():
    a, b, c = q.etas_catalog(60, seed=7), q.etas_catalog(60, seed=7), q.etas_catalog(60, seed=8)
    assert len(a) == len(b) and np.array_equal(a.time, b.time) and np.array_equal(a.mag, b.mag)
    assert np.array_equal(a.latitude, b.latitude) and np.array_equal(a.parent, b.parent)
    assert len(a) != len(c) or not np.array_equal(a.mag, c.mag)
    assert str(a.time.min()) >= "2000-01-01" and str(a.time.max()) < "2000-03-01"
    kids = a.parent >= 0
    assert np.all(a.time[kids] >= a.time[a.parent[kids]])  # aftershocks follow their parents


def test_etas_magnitudes_follow_gutenberg_richter():
    for b in (1.0, 0.8):
        cat = q.etas_catalog(365, seed=11, params=q.ETASParams(b=b, alpha=0.6))
        assert len(cat) > 2000 and cat.mag.min() >= 2.5
        assert abs(q.b_value(cat.mag, 2.5) - b) < 0.1


def test_etas_aftershocks_decay_like_omori():
    days = 2000
    params = q.ETASParams()
    cat = q.etas_catalog(days, seed=5, params=params)
    kids = cat.parent >= 0
    delay = (cat.time[kids] - cat.time[cat.parent[kids]]).astype(np.float64) / 86_400_000.0
    early = cat.time[cat.parent[kids]] < cat.time[0] + np.timedelta64(days // 2, "D")  # no truncation below days/2
    edges = np.logspace(-1, 2.5, 8)  # 0.1 to 316 days
    counts, _ = np.histogram(delay[early], edges)
    assert counts.min() > 20
    rate = counts / np.diff(edges)
    mid = np.sqrt(edges[:-1] * edges[1:])
    slope = np.polyfit(np.log10(mid + params.c), np.log10(rate), 1)[0]
    assert slope == pytest.approx(-params.p, abs=0.15)


def test_etas_rejects_explosive_settings():
    with pytest.raises(DataError, match="branching ratio"):
        q.etas_catalog(10, seed=0, params=q.ETASParams(K=0.05))


# --- metrics and baselines ------------------------------------------------------------------------


def test_hit_rule_precision_recall_by_hand():
    pred = np.array([[5.5, -1.0, 0.5, 2.0, -1.0]])
    actual = np.array([[5.0, 0.0, -1.0, 3.5, -1.0]])
    # considered at t=0: all but the last; hits |diff| <= 1: cells 0 and 1 (-1.0 vs 0.0 is within 1.0)
    r = q.score(pred, actual)["M>=0"]
    assert (r["considered"], r["tp"], r["fp"], r["fn"]) == (4, 2, 2, 1)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(2 / 3)
    assert (r["positives"], r["predicted"]) == (3, 3)
    assert r["detect_precision"] == pytest.approx(2 / 3) and r["detect_recall"] == pytest.approx(2 / 3)
    r5 = q.score(pred, actual)["M>=5"]
    assert (r5["considered"], r5["tp"], r5["fp"], r5["fn"], r5["precision"], r5["recall"]) == (1, 1, 0, 0, 1.0, 1.0)
    assert math.isnan(r5["auc"]) is False and r5["auc"] == 1.0


def test_auc_of_perfect_constant_and_reversed_scores():
    y = np.array([0, 0, 1, 0, 1, 1, 0], bool)
    assert q.roc_auc(y, y.astype(float) * 3) == 1.0
    assert q.roc_auc(y, np.zeros(7)) == 0.5
    assert q.roc_auc(y, -y.astype(float)) == 0.0
    assert q.roc_auc([1, 0, 1, 0], [0.9, 0.9, 0.8, 0.1]) == pytest.approx(0.625)  # ties count half
    assert math.isnan(q.roc_auc(np.zeros(4, bool), np.arange(4)))


def test_false_positives_at_a_matched_recall_by_hand():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 1], bool)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])
    # half the 4 positives: the 2nd highest positive score (0.7) is the cut; 0.9, 0.8, 0.7 are alarms
    assert q.fp_at_recall(y, s, 0.5) == (1, pytest.approx(1 / 4))
    assert q.fp_at_recall(y, s, 1.0) == (4, 1.0)  # catching all four costs every negative above 0.1
    assert q.fp_at_recall(y, y.astype(float), 1.0) == (0, 0.0)  # a perfect score: no false alarm
    r = q.score(s[None, :] * 9, np.where(y, 6.0, -1.0)[None, :])["M>=5"]
    assert (r["fp_at_recall50"], r["fpr_at_recall50"]) == (1, pytest.approx(0.25))
    assert all(math.isnan(v) for v in q.fp_at_recall(np.zeros(4, bool), np.arange(4.0)))


def test_baselines_use_no_future_days():
    rng = np.random.default_rng(0)
    values = np.where(rng.random((40, 6)) < 0.3, rng.uniform(0, 6, (40, 6)), -1.0).astype(np.float32)
    split = 30
    changed = values.copy()
    changed[split:] = rng.uniform(0, 9, (10, 6))  # the scored days, changed completely
    for t in (0.0, 5.0):
        rate = q.historical_rate(values, split, t)
        assert rate.shape == (10, 6)
        assert np.array_equal(rate, q.historical_rate(changed, split, t))
        assert np.allclose(rate[0], (values[:split] >= t).mean(axis=0))
    yest = q.yesterday(values, split)
    assert np.array_equal(yest, values[split - 1:-1])
    changed_later = values.copy()
    changed_later[split + 5:] = 9.0  # days after the 5th scored day cannot change forecasts up to it
    assert np.array_equal(q.yesterday(changed_later, split)[:6], yest[:6])
    res = q.score_baselines(values, split)
    assert set(res) == {"yesterday", "historical_rate", "any_quake_rate"} and set(res["yesterday"]) == {"M>=0", "M>=5"}
    # the any-quake rate scores every threshold with the cells' past share of quake days
    big = values.copy()
    big[split:, :3] = np.maximum(big[split:, :3], 5.5)  # large quakes in half the cells on the scored days
    want = q.roc_auc(big[split:] >= 5, q.historical_rate(big, split, 0.0))
    assert 0 < want < 1 and q.score_baselines(big, split)["any_quake_rate"]["M>=5"]["auc"] == want
    assert res["any_quake_rate"]["M>=0"]["auc"] == res["historical_rate"]["M>=0"]["auc"]
    assert "| yesterday | M>=5 |" in q.format_baselines(res)


# --- the model: train, evaluate, forecast, the daily update ------------------------------------------

import shutil
from pathlib import Path

from musicrnn.core.errors import CheckpointError, SettingsError

TINY = {"steps": 12, "hidden": 8, "embed": 8, "bptt": 16, "progress": False, "log": lambda m: None}


def _head(cat, days):
    """The events of ``cat`` in its first ``days`` days (a catalog fetched ``days`` days after the start)."""
    keep = cat.time < np.datetime64("2000-01-01", "ms") + np.timedelta64(days, "D")
    return q.Catalog(cat.time[keep], cat.latitude[keep], cat.longitude[keep], cat.depth[keep], cat.mag[keep],
                     cat.mag_type[keep], cat.event_id[keep])


@pytest.fixture(scope="module")
def quake_run(tmp_path_factory):
    """A tiny model trained on the first 200 days of a 230-day ETAS catalog; the full one is the update's."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("quake")
    full = q.etas_catalog(230, seed=7)
    q.write_comcat(_head(full, 200), root / "train.csv")
    q.write_comcat(full, root / "full.csv")
    summary = q.train(root / "model", catalog=root / "train.csv", **TINY)
    return root, summary


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_training_is_deterministic_and_records_the_task(quake_run, tmp_path):
    root, summary = quake_run
    assert summary["finished"] and summary["steps"] == 12
    again = q.train(tmp_path / "again", catalog=root / "train.csv", **TINY)
    assert again["loss_history"] == summary["loss_history"]
    for name in ("model.safetensors", "last/model.safetensors"):
        assert (tmp_path / "again" / name).read_bytes() == (root / "model" / name).read_bytes()
    a, b = _files(root / "model" / "online"), _files(tmp_path / "again" / "online")
    assert a == b and a  # the online state and the first forecast too
    meta = json.loads((root / "model" / "config.json").read_text())
    qm = meta["quake"]
    assert meta["task"] == "quake" and meta["data"]["catalog_sha256"] == q.file_sha256(root / "train.csv")
    assert qm["last_day"] == "2000-07-18" and qm["splits"]["test"][1] == "2000-07-18"
    assert qm["splits"]["train"][0] == "2000-01-01" and qm["splits"]["valid"][0] == "2000-06-09"  # day 160 of 200
    assert qm["layout"] == "cells" and meta["model"]["outputs"] == 1 and len(qm["cells"]) > 0  # the default
    # cells come from the training days only
    days, values = q.grid(q.read_comcat(root / "train.csv"), "2000-01-01", "2000-07-19")
    assert qm["cells"] == q.active_cells(values[:160]).tolist()
    fc = q.forecast(root / "model")
    assert fc["forecast_day"] == "2000-07-19" and len(fc["cells"]) == len(qm["cells"])


def test_evaluate_scores_the_test_days_next_to_the_baselines(quake_run):
    root, _ = quake_run
    m = q.evaluate(root / "model")
    json.dumps(m, allow_nan=False)  # flat and strict JSON
    assert m["test_from"] == "2000-06-29" and m["test_to"] == "2000-07-18" and m["test_days"] == 20
    for name in ("model", "yesterday"):
        for t in ("M>=0", "M>=5"):
            for k in ("tp", "fp", "fn", "precision", "recall", "auc", "positives"):
                assert f"{name}_{t}_{k}" in m
    assert "historical_rate_M>=0_auc" in m and "historical_rate_M>=5_auc" in m
    assert m["model_M>=0_positives"] == m["yesterday_M>=0_positives"] > 0  # the same days and cells
    assert "### M>=5" in q.format_evaluation(m)


def test_update_backfills_is_idempotent_and_kill_safe(quake_run, tmp_path, monkeypatch):
    root, _ = quake_run
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    shutil.copytree(root / "model", clean)
    shutil.copytree(root / "model", killed)
    before = _files(clean)
    r = q.update(clean, root / "full.csv", log=lambda m: None)
    assert r["new_days"] == 30 and r["last_day"] == "2000-08-17" and r["forecast_day"] == "2000-08-18"
    assert (clean / "forecasts" / "forecast-2000-08-18.json").is_file()
    assert q.forecast(clean)["forecast_day"] == "2000-08-18"
    after = _files(clean)
    assert after != before and (clean / "online" / "CURRENT").read_text().strip() == "2000-08-17"
    assert not (clean / "online" / "2000-07-18").exists()  # the old state was replaced
    # a second run with the same data: nothing new, not one byte changes
    assert q.update(clean, root / "full.csv", log=lambda m: None)["new_days"] == 0
    assert _files(clean) == after

    class Killed(Exception):
        pass

    def kill_at(stage, k=None):
        def hook(what, i=None):
            if what == stage and (k is None or i == k):
                raise Killed
        return hook

    for hook in (kill_at("day", 11), kill_at("commit")):  # half-way through the days; before the commit
        monkeypatch.setattr("musicrnn.tasks.quake.online._HOOK", hook)
        with pytest.raises(Killed):
            q.update(killed, root / "full.csv", log=lambda m: None)
        assert (killed / "online" / "CURRENT").read_text().strip() == "2000-07-18"  # still the old state
    monkeypatch.setattr("musicrnn.tasks.quake.online._HOOK", None)
    assert q.update(killed, root / "full.csv", log=lambda m: None)["new_days"] == 30
    assert _files(killed) == after


@pytest.mark.parametrize("layout", ["cells", "grid"])
def test_each_layout_forecasts_what_it_reads_and_updates_reproducibly(quake_run, tmp_path, layout):
    """"cells" (the default): one RNN reads every cell's own stream (its value, its neighbours'
    largest, its training-day rate); "grid": one stream, every cell an input and an output. Either
    way the committed forecast is what the model predicts after reading every day, and the daily
    update backfills, is idempotent and reproducible."""
    root, _ = quake_run
    s = q.train(tmp_path / "m", catalog=root / "train.csv", layout=layout, seed=1, **TINY)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    qm = meta["quake"]
    C = len(qm["cells"])
    assert qm["layout"] == layout and q.recorded(tmp_path / "m")["layout"] == layout
    if layout == "cells":
        assert meta["model"]["features"] == 3 and meta["model"]["outputs"] == 1 and len(qm["rates"]) == C
        assert s["n_parameters"] < 5000  # not one input and one output per cell
    else:
        assert meta["model"]["features"] == meta["model"]["outputs"] == C and "rates" not in qm
    model, _ = q.load_model(tmp_path / "m")
    days, values = q.grid(q.read_comcat(root / "train.csv"), qm["first_day"], q._day(qm["last_day"]) + 1)
    inputs = q.model_inputs(values, np.asarray(qm["cells"]), layout, qm.get("rates"))
    assert inputs.shape == ((len(days), C, 3) if layout == "cells" else (len(days), C))
    padded = np.concatenate([inputs, inputs[-1:]])  # one more row: the prediction after the last day
    want = q.predict_series(model, padded)[0][-1]
    got = [c["magnitude"] for c in q.forecast(tmp_path / "m")["cells"]]
    assert np.allclose(got, want, atol=1e-4)
    for d in ("a", "b"):
        shutil.copytree(tmp_path / "m", tmp_path / d)
        assert q.update(tmp_path / d, root / "full.csv", log=lambda m: None)["new_days"] == 30
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert q.update(tmp_path / "a", root / "full.csv", log=lambda m: None)["new_days"] == 0
    assert q.evaluate(tmp_path / "m")["model_M>=0_auc"] is not None
    with pytest.raises(SettingsError, match="layout"):
        q.train(tmp_path / "x", catalog=root / "train.csv", layout="hex", **TINY)


def test_a_stopped_run_resumes_exactly(quake_run, tmp_path):
    """Stopped after 5 of 12 steps and resumed, the per-cell model (its cells' streams shuffled per
    epoch) ends with the same bytes as the uninterrupted run; resuming with another setting is refused."""
    root, _ = quake_run
    part = q.train(tmp_path / "p", catalog=root / "train.csv", max_steps=5, **TINY)
    assert not part["finished"] and part["steps"] == 5 and not (tmp_path / "p" / "online").exists()
    with pytest.raises(SettingsError, match="loss"):
        q.train(tmp_path / "p", catalog=root / "train.csv", loss="exp-or-log", resume=True, **TINY)
    rest = q.train(tmp_path / "p", catalog=root / "train.csv", resume=True, **TINY)
    assert rest["finished"] and rest["steps"] == 12
    for name in ("model.safetensors", "last/model.safetensors"):
        assert (tmp_path / "p" / name).read_bytes() == (root / "model" / name).read_bytes()
    assert _files(tmp_path / "p" / "online") == _files(root / "model" / "online")


def test_neighbour_max_wraps_in_longitude_and_stops_at_the_poles():
    values = np.full((1, q.LAT_CELLS, q.LON_CELLS), -1.0, np.float32)
    values[0, 45, 0] = 4.0  # next to the date line
    values[0, 0, 10] = 6.0  # the southernmost row
    cells = np.array([45 * q.LON_CELLS + q.LON_CELLS - 1, 44 * q.LON_CELLS + 1, 45 * q.LON_CELLS, 1 * q.LON_CELLS + 11,
                      89 * q.LON_CELLS + 10])
    assert q.neighbour_max(values, cells)[0].tolist() == [4.0, 4.0, -1.0, 6.0, -1.0]


def test_a_model_of_another_task_is_refused_in_one_line(quake_run, tmp_path):
    root, _ = quake_run
    folk = Path(__file__).resolve().parents[1] / "checkpoints" / "folk"
    for call in (lambda: q.evaluate(folk), lambda: q.update(folk, root / "full.csv"), lambda: q.forecast(folk)):
        with pytest.raises(CheckpointError) as err:
            call()
        assert "not a quake model" in str(err.value) and "\n" not in str(err.value)
