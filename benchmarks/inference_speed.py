"""Inference speed of a trained Faster R-CNN on real photos: the weights' memory layout, the
proposals its RoI head scores, and the test-time augmentation, with each one's count F1.

    python benchmarks/inference_speed.py                          # the committed run's model and validation photos
    python benchmarks/inference_speed.py --weights runs/cpu/models/faster_rcnn/best.pt \\
        --val runs/cpu/data/processed/augmented/val --csv benchmarks/results/inference_speed_cpu.csv

`benchmarks/precision_speed.py` times both models from random weights, whose RPN proposes next to
nothing; a trained detector's RoI head scores every proposal the RPN keeps, so its speed is
measured here, on the validation photos, from the checkpoint itself. Each variant sees every photo
once to warm up, then again timed (model only: the photos are decoded once, before); the count F1
is at the threshold chosen on that variant's own detections, as notebook 05 chooses it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: (name, channels_last, proposals kept at inference, test-time augmentation)
VARIANTS = (
    ("before: classic layout, 1 000 proposals", False, 1000, "none"),
    ("channels_last, 1 000 proposals", True, 1000, "none"),
    ("classic layout, 300 proposals", False, 300, "none"),
    ("channels_last, 300 proposals (the default)", True, 300, "none"),
    ("the default with TTA sizes", True, 300, "sizes"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=REPO / "models" / "faster_rcnn" / "best.pt")
    parser.add_argument(
        "--val", type=Path, default=REPO / "data" / "processed" / "augmented" / "val", help="a split folder (images/, labels/)"
    )
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()

    import pandas as pd
    import torch

    from chocolib import annotations, fileio, models, predict
    from chocolib.errors import ChocoError

    try:
        _, side = predict.load_for_inference(args.weights, "cpu")
        photos = predict.TestDataset(args.val / "images", side)
        decoded = [photos[i] for i in range(len(photos))]
        truth = predict.true_counts(annotations.read_labels(args.val / "labels"), photos.ids)
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    print(f"{args.weights}: {len(decoded)} photos of {args.val}, torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows = []
    for name, channels_last, proposals, tta in VARIANTS:
        model, _ = models.load_detector(args.weights, channels_last=channels_last, rpn_test_proposals=proposals)
        predict.detect_photos(model, decoded, photos.ids, tta=tta, desc=None)  # warm-up
        found = predict.detect_photos(model, decoded, photos.ids, tta=tta, desc=None)
        choice = predict.choose_threshold(found, truth)
        rows.append({"variant": name, "images/s": found.images_per_s, "threshold": choice.threshold, "val F1": choice.f1})
        print(f"{name:<45} {found.images_per_s:6.2f} images/s   val F1 {choice.f1:.4f} at {choice.threshold:.2f}", flush=True)
    table = pd.DataFrame(rows)
    table["× before"] = table["images/s"] / table["images/s"].iloc[0]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    default = table.iloc[3]
    print(
        f"summary: the default runs at {default['images/s']:.2f} images/s, {default['× before']:.2f}× before; with TTA sizes {table.iloc[4]['× before']:.2f}×"
    )
    if args.csv:
        fileio.write_text(args.csv, table.to_csv(index=False, float_format="%.4f"))


if __name__ == "__main__":
    main()
