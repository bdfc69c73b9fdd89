#!/usr/bin/env bash
# Fetch the wheels the GPU machine's notebook smoke run needs (lab/campaign/notebook_wheels.txt) for the GPU image's Python
# (CPython 3.12, x86_64 Linux) into .campaign_data/wheels/, which travels with .campaign_data.  Needs PyPI (run it
# here, not on the GPU machine).  Without these wheels device_run.sh still trains and says why it skips the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEST:-.campaign_data/wheels}
PYVER=${PYVER:-3.12}     # the GPU image's Python; PYVER=3.11 DEST=... for a local try of notebook_smoke.sh
rm -rf "$DEST" && mkdir -p "$DEST"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 --platform any \
  -d "$DEST" -r lab/campaign/notebook_wheels.txt
echo "wrote $DEST: $(ls "$DEST" | wc -l) wheels, $(du -sh "$DEST" | cut -f1)"
