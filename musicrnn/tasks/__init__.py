"""Sequence tasks: each hands the core its sequences, its loss and its metric.

The research tasks register here (``core.tasks``): each entry names its module (which
implements the task interface described in ``core.tasks``) and its command-line options,
and ``musicrnn task ...`` / ``musicrnn experiment --task ...`` are built from them.
Listing them imports nothing heavy: a task's module loads only when it runs.
"""

from ..core.tasks import UNTAGGED, Action, Option, Task, load_plugins, register

UNTAGGED["task"] = "music"  # checkpoints written before tasks had names are music models

register(Task(
    "music", "musicrnn.tasks.music", "learn a folder of MIDI files; sample, continue and evaluate songs",
    data_help="a folder of MIDI files", command="musicrnn train",
    interface={"Settings": "musicrnn.tasks.musicsettings:MusicSettings",
               "check_settings": "musicrnn.tasks.musicsettings:train_configs",
               "train": "musicrnn.tasks.music:train_music", "evaluate": "musicrnn.tasks.music:evaluation_report",
               "report": "musicrnn.core.calibration:plot_pooled_reliability",
               "experiment_runs": "musicrnn.tasks.experiment:MusicRuns"}))

register(Task(
    "polymusic", "musicrnn.tasks.polymusic", "the classic piano-roll benchmarks (JSB, Nottingham, MuseData, "
    "Piano-midi.de): negative log-likelihood per frame", data_help="jsb, nottingham, musedata or piano",
    command="musicrnn bench polymusic",
    interface={"Settings": "musicrnn.tasks.musicsettings:MusicSettings",
               "check_settings": "musicrnn.tasks.musicsettings:train_configs",
               "train": "musicrnn.tasks.polymusic:train_benchmark",
               "evaluate": "musicrnn.tasks.polymusic:evaluate_checkpoint",
               "experiment_runs": "musicrnn.tasks.polymusic:PolyRuns"}))

register(Task(
    "voice", "musicrnn.style.voice", "a voice model (a recurrent decoder and a harmonic-plus-noise synthesizer) of "
    "1-5 minutes of one voice, for musicrnn transfer", data_help="audio files and/or folders of the target voice",
    command="musicrnn voice train", experiment=False,
    interface={"Settings": "musicrnn.style.voice:VoiceConfig", "train": "musicrnn.style.voice:train_voice",
               "evaluate": "musicrnn.style.transfer:evaluate"}))


LOSS = Option("--loss", "Smooth L1, or an asymmetric loss for under- vs over-prediction", default="smooth-l1",
              choices=("smooth-l1", "exp-or-log", "smooth-l1-or-l2"))

register(Task(
    "quake", "musicrnn.tasks.quake", "forecast tomorrow's largest quake per 2-degree cell from a USGS ComCat catalog",
    data_help="a USGS ComCat CSV catalog (default: a synthetic ETAS catalog, written to OUT/catalog.csv)",
    data_arg="catalog",
    train_options=(
        Option("--years", "years of synthetic catalog when no --data (default 10)", "int", 10),
        Option("--data-seed", "seed of the synthetic catalog", "int", 2024),
        Option("--layout", "cells: one small RNN shared by all cells reads each cell's own stream (its value, its "
                           "neighbours' largest, its past quake rate); grid: one stream, every cell an input and an "
                           "output (as the original predictor)", default="cells", choices=("grid", "cells")),
        LOSS),
    actions=(Action("update", "musicrnn.tasks.quake:update",
                    "append the days since the model's last day from a newer catalog, train on them in order, "
                    "write tomorrow's forecast, exit",
                    (Option("--catalog", "the newer ComCat CSV", "path", required=True, dest="catalog_path"),
                     Option("--model", "a model folder from `train`", "path", required=True, dest="model_dir"),
                     Option("--through", "read days up to this one (default: the catalog's last complete day before "
                                         "today, UTC)", metavar="YYYY-MM-DD"),
                     Option("--max-days", "refuse an update that would add more than N days at once (default 366)",
                            "int", metavar="N")),
                    existing=("model_dir", "catalog_path")),),
    extra={"eval_format": "format_evaluation"}))

register(Task(
    "stock", "musicrnn.tasks.stock", "predict the S&P 500's next daily change; trade on it against buy-and-hold",
    data_help="a CSV of daily closes, Date and Close columns (default: the shipped S&P 500, 1950-2018)",
    train_options=(
        Option("--stateless", "a model reading a fixed window of past days (default: the stateful online model)",
               "flag", dest="stateful", invert=True),
        LOSS),
    eval_options=(Option("--cost", "cost per trade, a fraction of wealth (0.001: 0.1 percent)", "float", 0.0),),
    report_options=(Option("--cost", "cost per trade (default: the run's own)", "float", None),),
    report_many=False,
    actions=(Action("experiment", "musicrnn.tasks.stock:experiment",
                    "stateful vs stateless over 10 seeds: mean, 95% CI, the best run",
                    (Option("--out", "experiment folder (finished runs are read back)", "path", required=True),
                     Option("--seeds", "initialisations per model (default 10)", "int", 10),
                     Option("--data", "a CSV of daily closes (default: the shipped S&P 500)"),
                     Option("--steps", "training steps per run (default 600)", "int"),
                     Option("--minutes", "time budget per run", "float"),
                     Option("--cost", "cost per trade", "float", 0.0)),
                    after_report=True, scalars_only=True),)))

register(Task(
    "lotto", "musicrnn.tasks.lotto", "predict the next lottery draw (7 of 50 + bonus); is a generator predictable?",
    data_help="a CSV of real draws (date, n1..n7, bonus); default: a generated history",
    train_options=(
        Option("--generator", "history from Python's Mersenne Twister, a weak LCG, or the OS's entropy (default mt)",
               choices=("mt", "lcg", "os")),
        Option("--draws", "draws to generate (default 3000)", "int"),
        Option("--output", "how the network states each number's chance: one sigmoid each (binary cross-entropy), "
                           "or the draw's 7 numbers read as a distribution by softmax or Topcat (default sigmoid)",
               choices=("sigmoid", "softmax", "topcat", "topcat-sigmoid"))),
    steps_help="40 epochs, stopping early"))


def registry() -> dict:
    """Every task: the built-in ones above, then those named in ``MUSICRNN_TASKS``."""
    return load_plugins()


__all__ = ["registry"]
