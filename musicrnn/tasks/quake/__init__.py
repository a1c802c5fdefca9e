"""Earthquakes as a daily grid: read USGS ComCat catalogs, grid them, simulate ETAS catalogs, score forecasts.

This package is the data and the scoring of the quake task, and its model: :func:`train` (an online
RNN trained with the core's ``fit``), :func:`evaluate` (the test days against the baselines),
:func:`forecast` and :func:`update` (the daily, idempotent, kill-safe backfill and next-day forecast);
the folder layout is described in ``online.py``. Any other model only has to produce a
``(days, cells)`` array of predicted magnitudes for the next day to be scored with :func:`score`.

Data: the USGS ComCat CSV format (what ``https://earthquake.usgs.gov/fdsnws/event/1/query?format=csv``
returns): a header row, then one event per row with at least ``time, latitude, longitude, depth, mag``;
``time`` is ISO 8601 in UTC ending in ``Z`` (``2018-02-07T01:26:13.840Z``), latitude/longitude in
degrees (WGS84), depth in km (negative above sea level), ``mag`` a magnitude of type ``magType``.
:func:`read_comcat` keeps the good rows and counts and names the bad ones (``Catalog.bad_rows``).
Real catalogs ship in ``corpora/quake/`` (see its README.md).

Grid (as the original predictor): 2-degree latitude x 2-degree longitude cells (90 x 180), one step
per UTC day. A cell-day's value is the magnitude of the summed energy of its quakes,
``(2/3) * log10(sum 10**(1.5 * M))``, and :data:`NO_QUAKE` (-1.0) when it had none. (A single quake of
magnitude -1.0 would read as "no quake"; pass ``min_mag`` to cut such tiny events.)

Synthetic data: :func:`etas_catalog` simulates the ETAS model (Ogata 1988, 1998) and returns a
:class:`Catalog` that :func:`write_comcat` writes in the same ComCat columns.

Scoring: :func:`score` (the original +/-1.0 magnitude hit rule, precision/recall, ROC AUC of
"M >= t in this cell tomorrow"), and the baselines :func:`historical_rate` and :func:`yesterday`.
The data and scoring parts are NumPy only; the model parts import torch when called.

Modules, each one job (each imports only the ones listed above it):

* ``catalog``: the :class:`Catalog`, reading and writing ComCat CSVs, the shipped catalogs;
* ``cells``: the 2-degree cells and the daily grid (:func:`grid`, :func:`active_cells`, ...);
* ``etas``: the ETAS simulator (:class:`ETASParams`, :func:`etas_catalog`), G-R magnitudes, b-value;
* ``metrics``: the hit rule, ROC AUC and points, :func:`score`, the baselines;
* ``model``: what the network reads (layouts, :func:`model_inputs`), loading it, running it;
* ``online``: the online state, its kill-safe commit, :func:`forecast` and the daily :func:`update`;
* ``training``: the task's settings (:class:`Settings`, :func:`check_settings`) and :func:`train`;
* ``evaluation``: :func:`evaluate` against the baselines, :data:`METRICS`;
* ``reporting``: the Markdown / PNG :func:`report`;
* ``experiments``: the experiment runner's task (:func:`experiment_runs`, :func:`recorded`).
"""

from __future__ import annotations

from ...core.checkpoint import sha256 as file_sha256
from .catalog import COMCAT_COLUMNS, REQUIRED, SHIPPED, Catalog, load_shipped, read_comcat, write_comcat
from .cells import (CELL_DEG, LAT_CELLS, LON_CELLS, N_CELLS, NO_QUAKE, _day, active_cells, cell_center, cell_of,
                    cell_series, grid, neighbour_max, summed_magnitude)
from .etas import DEFAULT_HOTSPOTS, KM_PER_DEG, ETASParams, b_value, etas_catalog, gr_magnitudes
from .metrics import (format_baselines, historical_rate, fp_at_recall, hit_table, roc_auc, roc_points, score, score_baselines,
                      yesterday)
from .model import CELL_FEATURES, DEFAULT_MODEL, LAYOUTS, TASK, load_model, model_inputs, predict_series
from .online import CURRENT, MAX_UPDATE_DAYS, ONLINE, STATE_FILE, forecast, last_complete_day, update
from .training import DEFAULT_STEPS, SPLIT, Settings, check_settings, resume_options, split_days, train
from .evaluation import METRICS, evaluate, format_evaluation
from .reporting import report
from .experiments import experiment_runs, recorded

__all__ = ["resume_options", "Catalog", "ETASParams", "read_comcat", "load_shipped", "write_comcat", "grid", "cell_of", "cell_center",
           "summed_magnitude", "active_cells", "cell_series", "etas_catalog", "gr_magnitudes", "b_value",
           "roc_auc", "fp_at_recall", "hit_table", "score", "yesterday", "historical_rate", "score_baselines", "format_baselines",
           "NO_QUAKE", "COMCAT_COLUMNS", "REQUIRED", "train", "evaluate", "forecast", "update",
           "format_evaluation", "load_model", "predict_series", "last_complete_day", "split_days", "report",
           "roc_points", "experiment_runs", "recorded", "Settings", "METRICS"]
