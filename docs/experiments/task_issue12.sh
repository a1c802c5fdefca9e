#!/bin/bash
# issue 12 measurements, run one after another (bash runs/issue12.sh > runs/issue12.log 2>&1)
M=".venv/bin/musicrnn"
t() { local s=$(date +%s.%N); "$@" > /dev/null; echo "== $(echo "$(date +%s.%N) - $s" | bc) s: $*"; }
t $M experiment --task quake --vary layout=grid,cells --vary loss=smooth-l1,exp-or-log,smooth-l1-or-l2 --seeds 5 --out runs/quake-layout
t $M experiment --task stock --vary stateful=true,false --seeds 10 --out runs/stock-state
t $M experiment --task stock --vary loss=smooth-l1,exp-or-log,smooth-l1-or-l2 --seeds 10 --out runs/stock-loss
t $M experiment --task stock --variant "activation=tanh" --variant "activation=iris" --variant "cell=lstm-lite" --variant "grad_scale=1" --seeds 10 --out runs/stock-core
t $M experiment --task lotto --vary generator=mt,lcg,os --seeds 5 --out runs/lotto-gen
t $M experiment --task lotto --variant "generator=lcg" --variant "generator=lcg activation=iris" --variant "generator=lcg cell=lstm-lite" --variant "generator=lcg grad_scale=1" --seeds 5 --out runs/lotto-core
t $M experiment --task quake --variant "layout=cells loss=exp-or-log" --variant "layout=cells loss=exp-or-log activation=iris" --variant "layout=cells loss=exp-or-log cell=lstm-lite" --variant "layout=cells loss=exp-or-log grad_scale=1" --seeds 5 --out runs/quake-core
