import numpy as np, sys
from musicrnn.tasks import quake as q
cat = "/work/main/runs/quake-etas10/catalog.csv"
last = q.last_complete_day(q.read_comcat(cat), today="2100-01-01")
for lag in (1, 30):
    q.train(f"/tmp/qu/m{lag}", catalog=cat, through=last - np.timedelta64(lag, "D"), force=True, progress=False, log=lambda m: None)
print(last)
