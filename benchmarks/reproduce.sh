#!/usr/bin/env bash
# Issue 20's "no change in results": run every command whose output must stay byte for byte
# the same across a refactor, and print one line per artefact: its name and SHA-256 (or the
# number it reports). Run it on the commit before and after, and diff the two outputs:
#
#   bash benchmarks/reproduce.sh > before.txt      # on the old commit (a git worktree)
#   bash benchmarks/reproduce.sh > after.txt       # on the new one
#   diff before.txt after.txt
#
# Uses the musicrnn of the folder it is run from (python -m musicrnn); about 4 minutes on
# two cores. PYTHON overrides the interpreter (default .venv/bin/python, or python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
m() { "$PY" -m musicrnn "$@"; }
h() { sha256sum "$1" | cut -c1-16; }
export PYTHONWARNINGS=ignore OMP_NUM_THREADS=1 MUSICRNN_THREADS=1

m sample --seed 0 --out "$W/s0.mid" >/dev/null 2>&1
echo "sample --seed 0                    $(h "$W/s0.mid")"
m sample --seed 3 --num 2 --seconds 20 --checkpoint checkpoints/chorales --out "$W/c.mid" >/dev/null 2>&1
echo "sample chorales --num 2            $(h "$W/c_1.mid") $(h "$W/c_2.mid")"
m sample --seed 1 --primer corpora/voice/demo-hum.wav --seconds 10 --out "$W/hum.mid" >/dev/null 2>&1
echo "sample --primer hum.wav            $(h "$W/hum.mid")"
echo "bench polymusic jsb                $(m bench polymusic --dataset jsb --checkpoint checkpoints/polymusic-jsb 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["nll"])')"
mkdir -p "$W/few" && cp corpora/chorales/riemenschneider00*.mid "$W/few/"
echo "evaluate chorales                  $(m evaluate --checkpoint checkpoints/chorales --data "$W/few" --split all --samples 3 --seconds 10 --seed 0 2>/dev/null | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["bits_per_token"], d["generated"])')"
m train --data "$W/few" --out "$W/rnn" --hidden 32 --embed 16 --layers 1 --steps 15 --batch 4 --bptt 32 --seed 0 --quiet >/dev/null 2>&1
echo "train rnn weights                  $(h "$W/rnn/model.safetensors") $(h "$W/rnn/last/train_state.safetensors")"
m train --data "$W/few" --out "$W/tf" --model transformer --dim 32 --heads 2 --layers 1 --context 64 --steps 10 --batch 4 --bptt 32 --primer 16 --seed 0 --quiet >/dev/null 2>&1
echo "train transformer weights          $(h "$W/tf/model.safetensors")"
# an experiment's results.json without paths and timings, canonical, hashed
rj() { "$PY" - "$1" "$W" "$PWD" <<'PYEOF'
import hashlib, json, sys
def clean(x):
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items() if "second" not in k and "time" not in k}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x.replace(sys.argv[2], "W").replace(sys.argv[3], "ROOT") if isinstance(x, str) else x
d = clean(json.load(open(sys.argv[1])))
print(hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16])
PYEOF
}
m experiment --task stock --vary stateful=true,false --seeds 2 --steps 20 --out "$W/stock" >/dev/null 2>&1
echo "experiment stock                   $(rj "$W/stock/results.json")"
m experiment --task lotto --vary generator=mt,lcg --seeds 2 --steps 3 --out "$W/lotto" >/dev/null 2>&1
echo "experiment lotto                   $(rj "$W/lotto/results.json")"
m experiment --task quake --variant 'loss=smooth-l1 years=1' --variant 'loss=exp-or-log years=1' --seeds 2 --steps 10 --out "$W/quake" >/dev/null 2>&1
echo "experiment quake                   $(rj "$W/quake/results.json")"
m transfer --input corpora/voice/demo-source-male.wav --target corpora/voice/demo-target-female.wav --out "$W/t.wav" >/dev/null 2>&1
echo "transfer demo (instant)            $(h "$W/t.wav")"
m transfer --input corpora/voice/demo-source-male.wav --target checkpoints/voice-espeak-f3 --out "$W/v.wav" >/dev/null 2>&1
echo "transfer demo (voice model)        $(h "$W/v.wav")"
