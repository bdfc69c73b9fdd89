#!/usr/bin/env bash
# The one device call of the GPU campaign (lab/campaign/README.md): run from the repository root of the device's
# copy of the working tree, with .campaign_data carried.  Writes into $OUT: log.txt, campaign.tar (weights,
# sidecars, checkpoints, campaign.json) and, when time remains, notebook_smoke.txt.
#   bash lab/campaign/device_run.sh check     # 3 steps per run, 60 s budget: does every family run on this GPU?
#   bash lab/campaign/device_run.sh           # the campaign: BUDGET seconds (default 420), then the notebook smoke
set -u -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/campaign_out}
mkdir -p "$OUT"
MODE=${1:-full}
BUDGET=${BUDGET:-420}
START=$(date +%s)
LOG="$OUT/log.txt"
PY=${PYTHON:-python3}
{
  echo "mode $MODE, budget $BUDGET s, $(date -u)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
} 2>&1 | tee "$LOG"
[ -f .campaign_data/train.tar ] || { echo "no .campaign_data/train.tar: run lab/campaign/pack_data.py and carry .campaign_data" | tee -a "$LOG"; exit 2; }
if [ "$MODE" = check ]; then
  ARGS=(--budget-s 60 --max-steps 3 --out runs/campaign-check)
  DIR=campaign-check
else
  ARGS=(--budget-s "$BUDGET" --out runs/campaign)
  DIR=campaign
fi
$PY -m lab.campaign --device cuda --data .campaign_data/train.tar "${ARGS[@]}" 2>&1 | tee -a "$LOG"
RC=$?
tar -cf "$OUT/$DIR.tar" -C runs "$DIR" && echo "wrote $OUT/$DIR.tar ($(du -h "$OUT/$DIR.tar" | cut -f1))" | tee -a "$LOG"
# The notebooks' full mode on the GPU, one notebook, while the call's 600 s last (start-up and copies aside).
LEFT=$(( 560 - ($(date +%s) - START) ))
if [ "$MODE" != check ] && [ "$LEFT" -gt 60 ]; then
  OUT=$OUT PYTHON=$PY SECONDS_LEFT=$LEFT bash lab/campaign/notebook_smoke.sh 2>&1 | tee -a "$LOG"
fi
echo "done in $(( $(date +%s) - START )) s, campaign exit code $RC" | tee -a "$LOG"
exit $RC
