#!/bin/bash
# One GPU session, as run on an NVIDIA H200 for issue 6 (see docs/yolo12.md):
#   1. import the annotations and augment the twin at the full profile's side (1333 px), 16 workers;
#   2. train YOLO12s with the full profile's settings (640 × 640, batch 16, 50 × 16 draws an epoch)
#      for YOLO_EPOCHS epochs, stopped after YOLO_SECONDS (the lease's limit);
#   3. time the Faster R-CNN at the seed's sizes (benchmarks/train_speed.py --profile full --device cuda).
# Usage: DATA=path/to/iapr2025-twin ANNOTATIONS=path/to/roboflow_yolo OUT=results/ bash benchmarks/gpu_session.sh
# Outputs in $OUT: gpu.txt, yolo12_full.log, yolo12_full_history.csv, yolo12_full_config.json, frcnn_full_speed.txt.
source "$(dirname "$0")/gpu_prepare.sh"
timeout "${YOLO_SECONDS:-420}" python3 -m chocolib train --model yolo12 --profile full --epochs "${YOLO_EPOCHS:-50}" \
    --data "$R/aug" --out "$R/yolo12" --workers 12 2>&1 | tr "\r" "\n" | grep -v "batch/s\|s/batch" | tee "$OUT/yolo12_full.log"
cp "$R/yolo12/history.csv" "$OUT/yolo12_full_history.csv"; cp "$R/yolo12/config.json" "$OUT/yolo12_full_config.json"
timeout 120 python3 benchmarks/train_speed.py --data "$R/aug" --profile full --device cuda --steps 20 2>&1 | tr "\r" "\n" | grep -v "batch/s\|^ *$" | tail -5 | tee "$OUT/frcnn_full_speed.txt"
