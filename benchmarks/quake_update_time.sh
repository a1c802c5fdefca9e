#!/bin/bash
# median of 3 wall times of `musicrnn task quake update` for 1 and 30 missed days, and a no-op rerun
M=/work/main/.venv/bin/musicrnn
CAT=/work/main/runs/quake-etas10/catalog.csv
for lag in 1 30; do
  for i in 1 2 3; do
    rm -rf /tmp/qu/c; cp -r /tmp/qu/m$lag /tmp/qu/c
    s=$(date +%s.%N); $M task quake update --model /tmp/qu/c --catalog $CAT > /dev/null 2>&1; e=$(date +%s.%N)
    echo "lag $lag run $i: $(echo "$e - $s" | bc)"
  done
  s=$(date +%s.%N); $M task quake update --model /tmp/qu/c --catalog $CAT > /dev/null 2>&1; e=$(date +%s.%N)
  echo "lag $lag again (nothing new): $(echo "$e - $s" | bc)"
done
