"""The S&P 500 task: predict the next day's price change from the previous ones, and trade on it.

Data: daily closes in a CSV with a ``Date`` and a ``Close`` column (:func:`load_closes`);
the shipped series is ``corpora/stock/sp500_1950_2018.csv`` (openintro's ``sp500_1950_2018``
through Rdatasets; provenance and licence in ``corpora/stock/README.md``).

What is predicted. The day-``t`` delta is the change of the log price,
``r[t] = log(close[t] / close[t-1])`` (a relative change: an absolute point delta grows with
the index level, 16 in 1950 and 2,600 in 2018, so no scale fitted on the early decades would
fit the later ones). The model reads normalised deltas ``z[t] = clip((r[t] - mean) / std, +-6)``
where ``mean`` and ``std`` come from the **training period only** (stored in the checkpoint),
and predicts the next normalised delta. The prediction for day ``t`` uses the deltas of days
``..t-1``, i.e. closes up to day ``t-1`` only (:func:`predictions`; tests/test_stock.py proves
it by perturbing the closes from day t on).

Two models, both the core's RNN (``features=1, outputs=1``), trained by the one loop
(``core.train.fit``) with Smooth L1 or an asymmetric loss (``core.losses``):

* **stateful** (online): one pass over the whole history; training is stateful truncated BPTT
  (``core.data.FeatureStreams``, the state carried across windows); at prediction time the
  state is carried from 1950 to the day predicted.
* **stateless** (comparison): the same RNN reset every window: it sees only the last
  ``history`` (32) deltas, read from a zero state (``core.data.Clips``: the training period
  cut into non-overlapping ``history``-day windows, shuffled every epoch, every position of
  a window trained to predict its next delta; a prediction takes the last output of the
  window of the ``history`` days before the day predicted).

The two are trained alike: the same days once per epoch, 256 positions a step (stateful: 4
streams x 64-day windows; stateless: 8 windows of 32 days), so the same steps per epoch
and the same validation schedule (once per epoch), early stopping after 10 epochs without
a better validation loss, 600 steps unless told otherwise.

Splits by date: train (days before ``valid_from``, 2000-01-01), validation (model selection:
the best checkpoint and early stopping), test (from ``test_from``, 2010-01-01; scored once
when the run ends, and by :func:`evaluate`).

Strategy (:func:`backtest`): at the close of day ``t-1`` take a position for day ``t``: long
when the predicted delta is positive, else cash (``long/cash``) or short (``long/short``);
the day's return is ``position * (close[t]/close[t-1] - 1)``. A cost per trade, a fraction
of wealth, is paid on every change of position (``|new - old|``: long to short costs 2).
The position before the first test day is cash, so the first buy pays the cost too, as
does buy-and-hold (bought at the close before the first test day). Annualised yield:
``wealth ** (1 / years) - 1`` with ``years`` the calendar days from the close before the
first test day to the last one over 365.25. No dividends, no interest on cash (the
index, not a total-return series).

Library functions, for the command line: :func:`train`, :func:`evaluate`,
:func:`experiment`, :func:`report`.

Modules, each one job (each imports only the ones listed above it):

* ``data``: the closes CSV, log-price deltas, date splits, the training-period normalisation;
* ``strategy``: :func:`backtest` (long/cash, long/short, costs), buy-and-hold, directional accuracy;
* ``model``: the models' predictions (:func:`predict_z`, :func:`predictions`), loading a checkpoint;
* ``training``: the task's settings (:class:`Settings`, :func:`check_settings`) and :func:`train`;
* ``evaluation``: :func:`evaluate` over the test period, :data:`METRICS`;
* ``stats``: the best seed against the rest (:func:`distinguishable`), :func:`summarise_runs`;
* ``reporting``: the Markdown / equity-curve :func:`report`;
* ``experiments``: the experiment runner's task (:func:`experiment_runs`, :func:`recorded`), :func:`experiment`.
"""

from __future__ import annotations

from ...core.checkpoint import sha256 as file_sha256
from .data import (CLIP, CLOSE_COLUMNS, DATE_COLUMNS, DEFAULT_CSV, HISTORY, MAX_SKIPPED, TEST_FROM, VALID_FROM,
                   load_closes, log_returns, normalise, normaliser, split_days)
from .strategy import YEAR_DAYS, backtest, buy_and_hold, directional_accuracy
from .model import DEFAULT_MODEL, TASK, load_model, predict_z, predictions
from .training import DEFAULT_STEPS, Settings, check_settings, resume_options, train
from .evaluation import METRICS, evaluate
from .stats import distinguishable, summarise_runs
from .reporting import report
from .experiments import experiment, experiment_runs, recorded

__all__ = ["resume_options", "DEFAULT_CSV", "backtest", "buy_and_hold", "directional_accuracy", "distinguishable", "evaluate",
           "experiment", "load_closes", "load_model", "log_returns", "normalise", "normaliser", "predict_z",
           "predictions", "report", "split_days", "summarise_runs", "train"]
