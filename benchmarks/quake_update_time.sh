#!/bin/bash
# Wall time of `musicrnn task quake update` (start-up included) for 1 and 30 missed days and a
# no-op rerun, 3 runs each on a fresh copy of the model. First: python benchmarks/quake_update_prep.py DIR
#   bash benchmarks/quake_update_time.sh DIR
D=${1:-/tmp/qu}
M=${MUSICRNN:-.venv/bin/musicrnn}
for lag in 1 30; do
  for i in 1 2 3; do
    rm -rf "$D/c"; cp -r "$D/m$lag" "$D/c"
    s=$(date +%s.%N); $M task quake update --model "$D/c" --catalog "$D/catalog.csv" > /dev/null 2>&1; e=$(date +%s.%N)
    echo "lag $lag run $i: $(echo "$e - $s" | bc)"
  done
  s=$(date +%s.%N); $M task quake update --model "$D/c" --catalog "$D/catalog.csv" > /dev/null 2>&1; e=$(date +%s.%N)
  echo "lag $lag again (nothing new): $(echo "$e - $s" | bc)"
done
