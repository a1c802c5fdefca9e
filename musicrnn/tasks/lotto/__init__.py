"""Lotto Max: can a small RNN predict the next draw? A research task on the shared core
that is meant to give a *negative* result on a good random source and a positive one
only where the source is deliberately weak.

Format. A Lotto Max draw is 7 distinct numbers from 1..50 plus a bonus number drawn from
the 43 that remain. A history is an int array of shape (N, 8), oldest draw first: columns
0..6 the main numbers in ascending order, column 7 the bonus.

Sources of histories
--------------------
* ``import_csv(path)`` -- a real draw history. Accepted CSV (comma separated, a header
  row, UTF-8 with or without BOM; blank lines are skipped, extra columns are ignored):

  - ``n1`` .. ``n7`` (required): the main numbers, in any order within the row
    (also spelled ``number1``.., ``num1``.., ``ball1``..);
  - ``bonus`` (required; also ``bonus number``): the bonus number;
  - ``date`` (optional; also ``draw date``): ``YYYY-MM-DD``. With dates, the rows must be
    strictly in date order, oldest first; a file whose dates all run newest first (as
    many lottery sites export) is read and reversed. Without dates the row order is
    taken as the draw order, oldest first.

  Header names are matched ignoring case, spaces, ``_`` and ``-``. Refused, each with one
  line (:class:`DataError`): a missing file, an empty file, a header without draws,
  missing columns, garbage rows (wrong number of cells, not whole numbers, bad dates:
  counted and named by line), numbers outside 1..50, a number repeated within a draw
  (the bonus included), and dates out of order.
* ``generate(kind, n_draws, seed)``:

  - ``"mt"`` -- Python's Mersenne Twister: ``random.Random(seed).sample(range(1, 51), 8)``
    per draw (7 main numbers, then the bonus from the 43 left). Reproducible by seed.
  - ``"lcg"`` -- a deliberately weak linear congruential generator,
    ``x <- (5 x + 12345) mod 2**16``, a number being ``1 + floor(50 x / 2**16)`` (the high
    bits, the "right" way to scale); a number already in the draw is skipped and the next
    output taken. Weak on purpose, in three ways: (1) the multiplier 5 is tiny, so each
    output is 5x the previous one modulo the range: knowing a number pins the next one to
    ~5 of the 50 (successive pairs lie on 5 lines -- the spectral test's worst case);
    the bonus is the last number drawn, so it tells the next draw's first number to
    within ~5 candidates; (2) the modulus 2**16 is small: the whole stream repeats after
    65,536 outputs (~7,600 draws), and there are only 65,536 different histories
    (``seed`` is taken modulo 2**16); (3) the generator's state *is* its last output.
    It satisfies Hull-Dobell (c odd, a - 1 divisible by 4), so it has the full period.
  - ``"os"`` -- the operating system's entropy (``secrets.SystemRandom``): ``seed`` is
    ignored and the history is **not reproducible**; :func:`train` saves the history it
    used with the model (``history.csv``), so evaluation and ``resume`` still work.

Model. An RNN (``core.models``, ``features=100, outputs=50, vocab_size=1``) reads the
history draw by draw, carrying its state (stateful truncated BPTT, ``FeatureStreams``).
Input at draw t: the 7 main numbers as a multi-hot 50-vector, then the bonus as a one-hot
50-vector. Target: the next draw's 7 main numbers as a multi-hot 50-vector, trained with
``FrameBCE`` (one sigmoid per number, binary cross-entropy summed over the 50). The
prediction is the model's top 7 (ties broken by the lower number).

Splits. Chronological: the model trains on predicting draws 1..0.8N, validation (best
checkpoint, early stopping) is the next 10%, the test is the last 10%. The model always
reads the history from the first draw (its state carried), and only the split's positions
are scored: the model never sees a scored draw before predicting it.

Metric and test. ``matches`` = how many of the 7 predicted numbers are among the next
draw's 7 main numbers. If draws are uniformly random and independent of the past, then
for any prediction made from the past alone, the matches of each draw follow the
hypergeometric distribution Hyp(50 numbers, 7 drawn, 7 chosen) *whatever the
prediction*: mean 7*7/50 = 0.98, variance 0.98 * (43/50) * (43/49) = 0.7396. Since
that conditional law never depends on the past, the per-draw matches are i.i.d.
hypergeometric under the null, and the total over n scored draws has exactly the
n-fold convolution of that law. ``p_value`` is the exact one-sided P(total >= observed)
under it (computed by convolution for n <= 10,000, else from the normal approximation
with the exact mean and variance; ``p_value_normal`` is always given too). The exact
discrete test is slightly conservative (P(p <= a) <= a). ``ci95_*`` is the 95%
interval of the mean matches from the observed spread (Student t).

Modules, each one job (each imports only the ones listed above it):

* ``data``: the draw format, the generators (mt, lcg, os), the CSV import and export;
* ``stats``: the hypergeometric chance level and the exact one-sided test (:func:`match_test`);
* ``model``: the network's inputs, targets and splits, running it, its top 7, loading it;
* ``evaluation``: :func:`evaluate` (mean matches against chance), :data:`METRICS`;
* ``training``: the task's settings (:class:`Settings`, :func:`check_settings`) and :func:`train`;
* ``reporting``: the Markdown / PNG :func:`report`;
* ``experiments``: the experiment runner's task (:func:`experiment_runs`, :func:`recorded`).
"""

from __future__ import annotations

from .data import (GENERATORS, LCG_A, LCG_C, LCG_M, MAIN_COLS, NUMBERS, PICK, generate, import_csv,
                   write_csv)
from .stats import (CHANCE, CHANCE_VAR, EXACT_MAX_DRAWS, _tail_exact, chance_mean, hypergeom_pmf, match_test,
                    matches_of)
from .model import (FEATURES, HISTORY, MODEL_DEFAULTS, TASK, TEST_FRACTION, TRAIN_DEFAULTS, VALID_FRACTION,
                    features, load, splits, targets, top7)
from .evaluation import METRICS, evaluate
from .training import MIN_DRAWS, Settings, check_settings, train
from .reporting import report
from .experiments import experiment_runs, recorded

__all__ = ["CHANCE", "CHANCE_VAR", "GENERATORS", "chance_mean", "evaluate", "features", "generate",
           "hypergeom_pmf", "import_csv", "match_test", "matches_of", "report", "splits", "targets", "top7",
           "train", "write_csv"]
