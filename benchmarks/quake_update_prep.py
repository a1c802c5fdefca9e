"""Models for benchmarks/quake_update_time.sh: the default 10-year synthetic ETAS catalog
(seed 2024, as `musicrnn task quake train` simulates it) in OUT/catalog.csv, and two
per-cell models trained on it up to 1 and 30 days before its end (OUT/m1, OUT/m30).

    python benchmarks/quake_update_prep.py /tmp/qu
"""

import sys
from pathlib import Path

import numpy as np

from musicrnn.tasks import quake as q

out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/qu")
out.mkdir(parents=True, exist_ok=True)
cat = q.write_comcat(q.etas_catalog(10 * 365, 2024), out / "catalog.csv")
last = q.last_complete_day(q.read_comcat(cat), today="2100-01-01")
for lag in (1, 30):
    q.train(out / f"m{lag}", catalog=cat, through=last - np.timedelta64(lag, "D"), force=True, progress=False,
            log=lambda m: None)
print(f"{cat}: last day {last}; models {out}/m1, {out}/m30")
