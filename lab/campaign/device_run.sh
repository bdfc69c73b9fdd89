#!/usr/bin/env bash
# The GPU campaign in one call (lab/campaign/README.md): run from the repository root of a CUDA machine's copy of
# the working tree, with .campaign_data beside it.  Writes into $OUT: log.txt, campaign.tar (weights, sidecars,
# checkpoints, campaign.json) and, when WALL_S leaves time after the campaign, notebook_smoke.txt.
#   bash lab/campaign/device_run.sh check     # 3 steps per run, 60 s budget: does every family run on this GPU?
#   bash lab/campaign/device_run.sh           # the campaign: BUDGET seconds (default 420), then the notebook smoke
set -u -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-runs}
mkdir -p "$OUT"
MODE=${1:-full}
BUDGET=${BUDGET:-420}
WALL_S=${WALL_S:-$(( BUDGET + 140 ))}   # the whole call: the campaign, its archive, then the notebook smoke
START=$(date +%s)
LOG="$OUT/log.txt"
PY=${PYTHON:-python3}
{
  echo "mode $MODE, budget $BUDGET s, $(date -u)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
} 2>&1 | tee "$LOG"
[ -f .campaign_data/train.tar ] || { echo "no .campaign_data/train.tar: run python -m lab.campaign.pack_data first" | tee -a "$LOG"; exit 2; }
if [ "$MODE" = check ]; then
  ARGS=(--budget-s 60 --max-steps 3 --out runs/campaign-check)
  DIR=campaign-check
else
  ARGS=(--budget-s "$BUDGET" --out runs/campaign)
  DIR=campaign
fi
$PY -m lab campaign --device cuda --data .campaign_data/train.tar "${ARGS[@]}" 2>&1 | tee -a "$LOG"
RC=$?
tar -cf "$OUT/$DIR.tar" -C runs "$DIR" && echo "wrote $OUT/$DIR.tar ($(du -h "$OUT/$DIR.tar" | cut -f1))" | tee -a "$LOG"
# The notebooks' full mode on the GPU, one notebook, in what is left of WALL_S.
LEFT=$(( WALL_S - ($(date +%s) - START) ))
if [ "$MODE" != check ] && [ "$LEFT" -gt 60 ]; then
  OUT=$OUT PYTHON=$PY SECONDS_LEFT=$LEFT bash lab/campaign/notebook_smoke.sh 2>&1 | tee -a "$LOG"
fi
echo "done in $(( $(date +%s) - START )) s, campaign exit code $RC" | tee -a "$LOG"
exit $RC
