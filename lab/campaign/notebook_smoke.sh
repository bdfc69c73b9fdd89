#!/usr/bin/env bash
# Notebook 04's full mode (DERAIN_FULL=1 DERAIN_SMOKE=1) on the GPU machine, as tests/docs/test_notebook_smoke.py runs it,
# within SECONDS_LEFT (default 300).  Called by device_run.sh after the campaign; runnable anywhere with a Python
# that holds torch:  PYTHON=... OUT=... bash lab/campaign/notebook_smoke.sh
# The GPU image has no Jupyter kernel: the wheels of lab/campaign/pack_wheels.sh (.campaign_data/wheels) are
# installed into a scratch folder first.  The data: the training archive plus smoke.tar (outdoor_rain_sample),
# both written by lab/campaign/pack_data.py.  Writes $OUT/notebook_smoke.txt.
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/campaign_out}
LEFT=${SECONDS_LEFT:-300}
SITE=${NB_SITE:-/tmp/nb_site}
DATA=${SMOKE_DATA:-/tmp/derain_smoke_data}
WHEELS=${WHEELS:-.campaign_data/wheels}
mkdir -p "$OUT"
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$WHEELS"/*.whl 2>&1 | grep -v -i "warning" | tail -2
  export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
fi
if ! $PY -c "import nbclient, ipykernel, ipywidgets" 2>/dev/null; then
  echo "notebook smoke skipped: no nbclient/ipykernel/ipywidgets for $PY (run lab/campaign/pack_wheels.sh, carry .campaign_data)"
  exit 0
fi
# the kernel runs in notebooks/ and derain_lib is not installed there: the checkout goes on its path
export PYTHONPATH=$(pwd)${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$DATA"
for a in train smoke; do
  [ -f ".campaign_data/$a.tar" ] && tar -xf ".campaign_data/$a.tar" -C "$DATA"
done
echo "notebook smoke (04, DERAIN_FULL=1 DERAIN_SMOKE=1), at most $LEFT s, data $DATA"
DERAIN_DATA=$DATA timeout "$LEFT" $PY -m pytest tests/docs/test_notebook_smoke.py -k 04 -q -rs -p no:cacheprovider \
  -o addopts="" 2>&1 | tee "$OUT/notebook_smoke.txt" | tail -5
