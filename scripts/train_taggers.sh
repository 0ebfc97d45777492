#!/usr/bin/env bash
# Retrain the shipped taggers from ../shared/data (CPU: ~1 h with both in parallel; resumable).
# Usage: scripts/train_taggers.sh [sentiment|ner|both]
set -euo pipefail
cd "$(dirname "$0")/.."
D=${LOOPDESK_DATA:-../shared/data}
task=${1:-both}
if [[ $task == sentiment || $task == both ]]; then
  OMP_NUM_THREADS=1 .venv/bin/loopdesk finetune taggers --task sentiment --train "$D/sst2/train.tsv" \
    --dev "$D/sst2/dev.tsv" --neutral "$D/bitext/customer_support_3997.csv" \
    --calibrate "$D/airline_sentiment/dev_1000.csv" --epochs 2 --max-length 96 \
    --out models/taggers/sentiment &
fi
if [[ $task == ner || $task == both ]]; then
  OMP_NUM_THREADS=1 .venv/bin/loopdesk finetune taggers --task ner --train "$D/conll2003/train.txt" \
    --dev "$D/conll2003/valid.txt" --epochs 5 --max-length 160 --out models/taggers/ner &
fi
wait
