"""`musicrnn experiment --task quake|stock|lotto` and the task reports: one runner, one
`fit`; the core's model and training settings reach every task; finished runs are read
back (never mixed with other settings); the quake report says when its data are synthetic."""

import json

import numpy as np
import pytest

from conftest import run_cli
from musicrnn.core.errors import CheckpointError, SettingsError
from musicrnn.core.runs import split_core
from musicrnn.tasks import lotto, quake, stock


def _last_json(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _one_line_error(r, *words, progress_first=False):
    """Exit 2 with one error line (after the runner's progress lines when ``progress_first``)."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr and (progress_first or len(lines) == 1), r.stderr
    assert lines[-1].startswith("musicrnn: error: ")
    for w in words:
        assert w in lines[-1], r.stderr


def test_split_core_names_what_it_does_not_know():
    assert split_core({"cell": "gru", "grad_scale": 1.0}) == ({"cell": "gru"}, {"grad_scale": 1.0})
    with pytest.raises(SettingsError, match="unknown setting colour"):
        split_core({"colour": "red"})


def test_core_settings_reach_a_task_run_and_its_resume_check(tmp_path):
    from musicrnn.core.checkpoint import read_config

    tiny = dict(hidden=4, history=8, progress=False, log=lambda m: None)
    stock.train(tmp_path / "s", steps=6, seed=1, cell="lstm-lite", activation="iris", grad_scale=1.0, **tiny)
    meta = read_config(tmp_path / "s")
    assert meta["model"]["cell"] == "lstm-lite" and meta["model"]["activation"] == "iris"
    assert meta["train"]["grad_scale"] == 1.0
    assert stock.recorded(tmp_path / "s")["activation"] == "iris"
    stock.train(tmp_path / "p", steps=6, max_steps=3, seed=1, activation="iris", **tiny)
    with pytest.raises(SettingsError, match="core"):  # resuming with another core setting is refused
        stock.train(tmp_path / "p", steps=6, seed=1, activation="tanh", resume=True, **tiny)
    with pytest.raises(SettingsError, match="unknown activation"):
        quake.train(tmp_path / "q", activation="nope", steps=2, progress=False, log=lambda m: None)
    assert not (tmp_path / "q").exists()  # refused before any work


def test_lotto_experiment_compares_generators_and_reads_finished_runs_back(tmp_path):
    args = ("experiment", "--task", "lotto", "--vary", "generator=mt,lcg", "--seeds", 2, "--steps", 8, "--hidden", 8,
            "--out", tmp_path / "x")
    out = _last_json(run_cli(*args))
    assert out["variants"] == ["generator=mt", "generator=lcg"]
    r = json.loads((tmp_path / "x" / "results.json").read_text())
    assert set(r["summary"]["generator=lcg"]) >= {"mean_matches", "z", "nll_per_draw"}
    assert r["runs"]["generator=lcg"]["1"]["trained_on"] == "lcg"
    report = (tmp_path / "x" / "report" / "report.md").read_text()
    assert "| generator=lcg/seed1 | lcg |" in report and "| generator=lcg | 2 |" in report  # per run, per variant
    assert (tmp_path / "x" / "report" / "report.png").is_file()
    again = _last_json(run_cli(*args))  # finished runs are read back: the same numbers
    assert again == out
    assert json.loads((tmp_path / "x" / "results.json").read_text())["runs"] == r["runs"]
    other = list(args)
    other[other.index("--hidden") + 1] = 16
    _one_line_error(run_cli(*other), "other settings", "hidden (8, not 16)", progress_first=True)


def test_experiment_flags_that_do_not_belong_to_the_task_are_refused(tmp_path):
    base = ("experiment", "--seeds", 2, "--out", tmp_path / "x")
    _one_line_error(run_cli(*base, "--task", "stock", "--vary", "loss=smooth-l1,nope"), "loss 'nope'")
    _one_line_error(run_cli(*base, "--task", "stock", "--vary", "stateful=true,false", "--dim", 8),
                    "--dim", "not a setting of the stock task")
    _one_line_error(run_cli(*base, "--task", "quake", "--vary", "colour=1,2"), "'colour'")
    _one_line_error(run_cli(*base, "--task", "lotto", "--vary", "generator=mt,lcg", "--seed", 3), "--seeds")
    _one_line_error(run_cli(*base, "--vary", "hidden=8,16"), "--data")  # music needs its MIDI folder
    assert not (tmp_path / "x").exists()


def test_quake_experiment_and_report_say_the_data_are_synthetic(tmp_path):
    """A loss comparison on a small ETAS catalog through the command line, then the report of a
    model trained on the simulated default catalog (synthetic) and of one on a real file."""
    quake.write_comcat(quake.etas_catalog(200, seed=7), tmp_path / "cat.csv")
    out = _last_json(run_cli("experiment", "--task", "quake", "--vary", "loss=smooth-l1,exp-or-log", "--seeds", 2,
                             "--steps", 6, "--hidden", 8, "--embed", 8, "--bptt", 16, "--data", tmp_path / "cat.csv",
                             "--out", tmp_path / "x"))
    r = json.loads((tmp_path / "x" / "results.json").read_text())
    assert out["variants"] == ["loss=smooth-l1", "loss=exp-or-log"]
    for arm in out["variants"]:
        assert 0 <= r["summary"][arm]["model_M>=0_auc"]["mean"] <= 1
        assert r["runs"][arm]["0"]["loss"] == arm.split("=")[1]
    same = ("experiment", "--task", "quake", "--vary", "loss=smooth-l1,exp-or-log", "--seeds", 2, "--steps", 6,
            "--hidden", 8, "--embed", 8, "--bptt", 16, "--out", tmp_path / "x")
    _one_line_error(run_cli(*same), "another catalog", progress_first=True)  # the default data: a synthetic one
    rep = (tmp_path / "x" / "report" / "report.md").read_text()
    assert "real catalog" in rep and "synthetic" not in rep and "## M>=5 (the rare large quakes)" in rep
    assert "## Over seeds" in rep and (tmp_path / "x" / "report" / "report.png").is_file()

    quake.train(tmp_path / "syn", years=0.5, data_seed=7, steps=4, hidden=8, embed=8, bptt=16, progress=False,
                log=lambda m: None)
    md = quake.report([tmp_path / "syn"], tmp_path / "rep")
    text = md.read_text()
    assert "**synthetic**" in text and "0.5 years" in text and "not real earthquakes" in text
    got = json.loads((tmp_path / "rep" / "report.json").read_text())["runs"][0]
    assert got["synthetic"] is True and got == json.loads(json.dumps(quake.evaluate(tmp_path / "syn")))
    r = run_cli("task", "quake", "report", tmp_path / "syn", tmp_path / "x", "--out", tmp_path / "rep2")
    assert _last_json(r)["report"].endswith("report.md")
    both = (tmp_path / "rep2" / "report.md").read_text()
    assert "**synthetic**" in both and "real catalog" in both  # one line per source


def test_roc_points_trace_the_auc():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.2
    s = np.round(y * 0.8 + rng.random(500), 1)  # ties on purpose
    fpr, tpr = quake.roc_points(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(quake.roc_auc(y, s), abs=1e-12)


def test_stock_experiment_through_the_generic_runner_writes_the_best_run_summary(tmp_path):
    from musicrnn.core.experiment import run_experiment

    runs = stock.experiment_runs(None, steps=5, hidden=4, history=8, report=True)
    run_experiment(runs, tmp_path / "x", {"stateful": {"stateful": True}, "stateless": {"stateful": False}},
                   [0, 1], log=lambda m: None)
    s = json.loads((tmp_path / "x" / "stock.json").read_text())["stock"]
    assert set(s) == {"stateful", "stateless"} and "vs_rest" in s["stateful"]["best_by_test"]
    assert (tmp_path / "x" / "report" / "equity.png").is_file()
    assert "stateless" in (tmp_path / "x" / "report" / "report.md").read_text()
    with pytest.raises(CheckpointError, match="not a lotto model"):  # a run of another task, named as such
        lotto.recorded(tmp_path / "x" / "stateful" / "seed0")


def test_read_back_compares_every_recorded_setting_and_checks_resumed_runs(tmp_path):
    """A finished run is reused only with the same settings, defaults included (a default the
    task never named, like patience, counts); a half-done run resumed with its own settings is
    refused when they are not the arm's."""
    from musicrnn.core.errors import DataError
    from musicrnn.core.experiment import run_experiment

    runs = stock.experiment_runs(None, steps=4, hidden=4, history=8, report=False)
    run_experiment(runs, tmp_path / "s", {"a": {}}, [0], log=lambda m: None)
    with pytest.raises(DataError, match=r"patience \(10, not 3\)"):
        run_experiment(runs, tmp_path / "s", {"a": {"patience": 3}}, [0], log=lambda m: None)
    lotto.train(tmp_path / "l" / "a" / "seed0", generator="mt", draws=300, steps=10, max_steps=3, hidden=8,
                progress=False, log=lambda m: None)
    runs = lotto.experiment_runs(None, steps=10, report=False)
    with pytest.raises(DataError, match=r"hidden \(8, not 16\)"):
        run_experiment(runs, tmp_path / "l", {"a": {"generator": "mt", "draws": 300, "hidden": 16}}, [0],
                       log=lambda m: None)


def test_quake_report_without_large_quakes_and_with_other_cells(tmp_path):
    """No M >= 5 in the test days (the rate baselines have no AUC there) and runs over different
    cell sets: the report is written, with n/a where nothing can be scored."""
    cat = quake.etas_catalog(200, seed=7)
    cat.mag[:] = np.minimum(cat.mag, 4.5)
    quake.write_comcat(cat, tmp_path / "small.csv")
    tiny = dict(catalog=tmp_path / "small.csv", steps=4, hidden=8, embed=8, bptt=16, progress=False, log=lambda m: None)
    quake.train(tmp_path / "a", min_events=1, **tiny)
    quake.train(tmp_path / "b", min_events=3, seed=1, **tiny)
    md = quake.report([tmp_path / "a", tmp_path / "b"], tmp_path / "rep").read_text()
    [row] = [line for line in md.split("## Over seeds")[1].splitlines() if line.startswith("| smooth-l1 | 2 |")]
    assert "| n/a |" in row and "/ n/a |" in row  # no AUC at M >= 5, for the model or the baselines
    assert (tmp_path / "rep" / "report.png").stat().st_size > 1000


def test_a_task_setting_given_to_the_library_is_every_arms_base(tmp_path):
    """The study hands a task's own settings (here the lottery's generator and the loss of
    nothing) as the base of every arm: they reach the runs, not the task's defaults."""
    from musicrnn.tasks.experiment import experiment
    from musicrnn.tasks.musicsettings import FLAGS

    given = {**{k: None for k in FLAGS}, "generator": "lcg", "draws": 300, "steps": 6, "hidden": 8}
    experiment("lotto", tmp_path / "x", given, vary=[], variant=["output=softmax", "output=topcat"], seeds=2,
               log=lambda m: None)
    r = json.loads((tmp_path / "x" / "results.json").read_text())
    assert all(run["trained_on"] == "lcg" and run["history_draws"] == 300
               for arm in r["runs"].values() for run in arm.values())
    assert r["runs"]["output=topcat"]["0"]["output"] == "topcat"
