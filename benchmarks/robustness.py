"""Count F1 on the validation photos under the corruption suite of `chocolib.robustness`: ten
corruptions (resolution loss, Gaussian, defocus and motion blur, sensor noise, JPEG, brightness,
contrast, colour cast, hue shift) at three severities each, for any checkpoint.

    python benchmarks/robustness.py                       # the committed run's model and validation photos
    python benchmarks/robustness.py --weights runs/cpu/models/faster_rcnn/best.pt --val runs/cpu/data/processed/augmented/val

Prints one row per corruption (F1 at severities 1–3 and their mean), the clean F1, and the
corruption F1: the mean over every corruption and severity. The threshold is the model's own (its
threshold.json, chosen on the clean validation photos), as in a submission.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=REPO / "models" / "faster_rcnn" / "best.pt")
    parser.add_argument("--val", type=Path, default=REPO / "data" / "processed" / "augmented" / "val",
                        help="a split folder written by augment (images/ and labels/)")
    parser.add_argument("--threshold", type=float, default=None, help="default: threshold.json beside the checkpoint, else 0.6")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", default=None, help="some corruptions only")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", type=Path, default=None, help="also write the long table (corruption, severity, level, f1) here")
    args = parser.parse_args()

    from chocolib import annotations, dataset, predict, robustness
    from chocolib.errors import ChocoError

    try:
        threshold = predict.threshold_for(args.weights, args.threshold)
        model, side = predict.load_for_inference(args.weights, args.device)
        ids = [dataset.photo_id(stem) for stem in dataset.list_photos(args.val / "images")]
        truth = predict.true_counts(annotations.read_labels(args.val / "labels"), ids)
        table = robustness.corruption_table(model, args.val / "images", truth, side, threshold, args.seed, args.only)
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    found = robustness.summary(table)
    print(robustness.wide(table).round(4).to_string())
    print(f"{len(ids)} validation photos at threshold {threshold:.2f}: clean F1 {found['clean_f1']:.4f}, "
          f"corruption F1 {found['corruption_f1']:.4f} (mean of {len(table) - 1} settings; worst: {found['worst'][0]} "
          f"at severity {found['worst'][1]})")
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
