#!/bin/bash
# Issue 17 on a lent GPU: YOLO12s's two trainers at the full profile's settings (640 × 640, batch 16,
# the twin augmented at 1333 px), on the same wall-clock: chocolib's loop with the recipe that learns
# (YOLO_EPOCHS epochs), then Ultralytics' own trainer for ANCHOR_MINUTES, both scored by
# chocolib (benchmarks/yolo_anchor.py). Nothing is downloaded: both start from random weights.
# Usage: DATA=path/to/iapr2025-twin ANNOTATIONS=path/to/roboflow_yolo OUT=results/ YOLO_EPOCHS=8 ANCHOR_MINUTES=3 bash benchmarks/gpu_yolo_anchor.sh
# Outputs in $OUT: gpu.txt, yolo_anchor.log, yolo_anchor_gpu.csv, chocolib_history.csv, ultralytics_results.csv.
source "$(dirname "$0")/gpu_prepare.sh"
python3 -c "import ultralytics; print('ultralytics', ultralytics.__version__)" | tee -a "$OUT/gpu.txt"
timeout "${ANCHOR_SECONDS:-480}" python3 benchmarks/yolo_anchor.py --data "$R/aug" --profile full --device cuda \
    --epochs "${YOLO_EPOCHS:-8}" --minutes "${ANCHOR_MINUTES:-3}" --workers 15 --work "$R/anchor" --csv "$OUT/yolo_anchor_gpu.csv" 2>&1 \
    | tr "\r" "\n" | grep -v "it/s\|s/it\|batch/s\|photo/s" | tee "$OUT/yolo_anchor.log"
cp "$R/anchor/chocolib_ultralytics/history.csv" "$OUT/chocolib_history.csv"
cp "$R/anchor/ultralytics/results.csv" "$OUT/ultralytics_results.csv"
