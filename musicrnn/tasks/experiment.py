"""The music task's experiments: each arm is a ``train_music`` run (read back when it
already finished with exactly these settings), scored by the exact scorer (validation
bits/token picks the best checkpoint; test bits/token is measured once) and for
calibration (accuracy, mean confidence, expected calibration error; cached in
calibration.json). The experiment also draws one reliability diagram per arm with the
bins pooled over seeds. The runner itself is ``core.experiment``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..codec import Vocab
from ..core.calibration import calibration_report, plot_runs_reliability
from ..core.checkpoint import read_config
from ..core.errors import DataError, SettingsError
from ..core.experiment import run_experiment  # noqa: F401  (the runner, re-exported for callers)
from .music import load_corpus, load_model, output_of, train_music
from .musicsettings import DEFAULT_FRACTIONS, changed_settings, settings_of, split_settings

# metric -> which direction is better
METRICS = {"valid_bits_per_token": "lower", "test_bits_per_token": "lower", "train_bits_per_token_last50": "lower",
           "valid_ece": "lower", "valid_accuracy": "higher", "valid_mean_confidence": "(compare with accuracy)"}


class MusicRuns:
    metrics = METRICS

    def __init__(self, data, valid_fraction: float = 0.1, test_fraction: float = 0.1):
        self.data, self.valid_fraction, self.test_fraction = data, valid_fraction, test_fraction
        self._corpus = None

    @property
    def corpus(self):
        if self._corpus is None:  # encoded once, for every run
            self._corpus = load_corpus(self.data, Vocab(), self.valid_fraction, self.test_fraction)
        return self._corpus

    def run(self, out: Path, settings: dict, log) -> dict:
        family, mcfg, output, tcfg, transpose = split_settings(settings)
        data = {"valid_fraction": self.valid_fraction, "test_fraction": self.test_fraction, "max_transpose": transpose}
        done = out / "metrics.json"
        if done.is_file() and json.loads(done.read_text()).get("finished"):
            diffs = [k for k, _, _ in changed_settings(settings_of(read_config(out)), family, mcfg, output, tcfg, data,
                                                       ("device", "compile"))]
            if diffs:
                raise DataError(f"{out}: a finished run with other settings ({', '.join(diffs)}); use a new --out")
            summary = json.loads(done.read_text())
        else:
            (out / "calibration.json").unlink(missing_ok=True)  # of an unfinished model: measured again below
            summary = train_music(self.data, out, mcfg, tcfg, family=family, output=output,
                                  valid_fraction=self.valid_fraction, test_fraction=self.test_fraction,
                                  max_transpose=transpose, resume=(out / "last" / "train_state.json").is_file(),
                                  force=True, log=lambda m: None, corpus=self.corpus)
            if not summary["finished"]:  # Ctrl-C: stop the whole experiment; re-running picks this run up
                raise KeyboardInterrupt
        hist = summary["loss_history"]
        cal = _calibration(out, self.corpus.valid)
        return {"valid_bits_per_token": summary["best_valid_bits_per_token"],
                "test_bits_per_token": summary.get("test_bits_per_token", float("nan")),
                "train_bits_per_token_last50": float(np.mean(hist[-50:]) / math.log(2)),
                "valid_ece": cal["ece"], "valid_accuracy": cal["accuracy"],
                "valid_mean_confidence": cal["mean_confidence"],
                "train_seconds": summary["train_seconds"], "steps": summary["steps"]}

    def finish(self, out: Path, runs: dict[str, list[Path]]) -> None:
        plot_runs_reliability(runs, out / "reliability.png")


def _calibration(out: Path, valid_seqs) -> dict:
    path = out / "calibration.json"
    if path.is_file():
        return json.loads(path.read_text())
    model, _, meta = load_model(out)
    rep = calibration_report(model, valid_seqs, output=output_of(meta))
    path.write_text(json.dumps(rep) + "\n")
    return rep


def experiment(task: str, out, given: dict, *, vary: list[str], variant: list[str], seeds: int, resume: bool = False,
               log=print, check_only: bool = False) -> dict:
    """``musicrnn experiment``: every arm (``vary`` grid or ``variant`` list) of ``task``
    trained with seeds 0..seeds-1 into ``out``, and the results table. ``given``: the flags
    typed (``tasks.musicsettings.FLAGS``, None: not given), every arm's base. For music they
    are the model family's and training's settings; for a registered research task, its
    own (``Settings``) and the core's (``core.runs.CORE_MODEL`` / ``CORE_TRAIN``). Every arm
    is checked before any is trained (``check_only``: checked, nothing trained). Returns what
    the command prints."""
    from ..core.experiment import arms as arms_of
    from ..core.runs import core_fields
    from ..core.settings import fields_of
    from ..core.tasks import task as task_named
    from .musicsettings import DATA_FLAGS, MODEL_FLAGS, TRAIN_FLAGS, experiment_arms, flag, grad_scale, setting_fields

    if seeds < 2:
        raise SettingsError("--seeds must be at least 2 (a claim needs several seeds)")
    if bool(vary) == bool(variant):
        raise SettingsError("give either --vary (a grid) or --variant (explicit arms), not both or neither")
    if given.get("max_steps") is not None:
        raise SettingsError("--max-steps stops a run before it finishes; an experiment compares finished runs: "
                            "use --steps (the run's length) instead")
    if given.get("init") or resume:
        raise SettingsError("an experiment trains every arm from scratch (and picks up unfinished runs by itself): "
                            "--init and --resume do not apply")
    parse = {"grad_scale": grad_scale}
    if task in ("music", "polymusic"):
        if not given.get("data"):
            raise SettingsError("--data: give the folder of MIDI files to train on (required for --task music)"
                                if task == "music" else "--data: give the benchmark (jsb, nottingham, musedata or "
                                "piano; required for --task polymusic)")
        if task == "music":
            given = {**given, **{k: v for k, v in DEFAULT_FRACTIONS.items() if given.get(k) is None}}
        fields = {**setting_fields("rnn"), **setting_fields("transformer")}
        arms = experiment_arms(given, arms_of(vary, variant, fields, parse))
        if task == "polymusic":
            from .polymusic import PolyRuns

            runs = PolyRuns(str(given["data"]))  # an unknown benchmark is refused before anything trains
        if check_only:
            return {"out": str(out), "variants": list(arms), "seeds": seeds}
        if task == "music":
            runs = MusicRuns(given["data"], valid_fraction=given["valid_fraction"],
                             test_fraction=given["test_fraction"])
        run_experiment(runs, out, arms, seeds=list(range(seeds)), log=log)
        return {"out": str(out), "variants": list(arms), "seeds": seeds, "table": str(Path(out) / "results.md")}
    mod = task_named(task).load()
    own, core = fields_of(mod.Settings), core_fields()
    if given.get("seed") is not None:
        raise SettingsError("--seed: an experiment runs seeds 0..N-1 (--seeds N)")
    typed = [d for d in dict.fromkeys(("model", *MODEL_FLAGS, *TRAIN_FLAGS, "output", *DATA_FLAGS, *own))
             if given.get(d) is not None and d not in ("steps", "minutes", "max_steps")]  # own: the task's settings
    refused = [flag(d) for d in typed if d not in core and d not in own] + ["--compile"] * bool(given.get("compile"))
    if refused:
        raise SettingsError(f"{', '.join(refused)}: not a setting of the {task} task; it takes "
                            f"{', '.join(own)} and the core's {', '.join(core)} (as flags or in --vary / --variant)")
    base = {d: (grad_scale(given[d]) if d == "grad_scale" else given[d]) for d in typed}
    if given.get("unfused"):
        base["fused"] = False
    arms = {}
    for name, change in arms_of(vary, variant, {**own, **core}, parse).items():  # all checked before any trains
        arm = arms[name] = {**base, **change}
        try:
            mod.check_settings(**arm)
        except ValueError as e:
            raise SettingsError(f"{name}: {e}") from None
    if check_only:
        return {"out": str(out), "task": task, "variants": list(arms), "seeds": seeds}
    runs = mod.experiment_runs(given.get("data"), steps=given.get("steps"), minutes=given.get("minutes"))
    run_experiment(runs, out, arms, seeds=list(range(seeds)), log=log)
    return {"out": str(out), "task": task, "variants": list(arms), "seeds": seeds,
            "table": str(Path(out) / "results.md"), "report": str(Path(out) / "report" / "report.md")}
