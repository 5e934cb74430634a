"""Count F1 on the validation photos under the corruption suite of `chocolib.robustness`: ten
corruptions (resolution loss, Gaussian, defocus and motion blur, sensor noise, JPEG, brightness,
contrast, colour cast, hue shift) at three severities each, for any checkpoint.

    python benchmarks/robustness.py                       # the committed run's model and validation photos
    python benchmarks/robustness.py --weights runs/cpu/models/faster_rcnn/best.pt --val runs/cpu/data/processed/augmented/val
    python benchmarks/robustness.py --tta none hflip flips  # with and without test-time augmentation

Prints, per test-time augmentation, one row per corruption (F1 at severities 1–3 and their mean),
then one row per test-time augmentation: its threshold, the clean F1, the corruption F1 (the mean
over every corruption and severity) and images/s. The threshold is chosen on the clean and the
corrupted validation photos with that test-time augmentation, as notebook 05 chooses a threshold
for a test-time augmentation it runs no shift suite with (or given with --threshold).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=REPO / "models" / "faster_rcnn" / "best.pt")
    parser.add_argument(
        "--val",
        type=Path,
        default=REPO / "data" / "processed" / "augmented" / "val",
        help="a split folder written by augment (images/ and labels/)",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="default: chosen on the clean and corrupted photos, per test-time augmentation"
    )
    parser.add_argument("--tta", nargs="+", default=["none"], help="test-time augmentations to compare (chocolib.tta.MODES)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", default=None, help="some corruptions only")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", type=Path, default=None, help="also write the long table (corruption, severity, level, f1) here")
    args = parser.parse_args()

    import pandas as pd

    from chocolib import annotations, dataset, predict, robustness
    from chocolib import tta as tta_module
    from chocolib.errors import ChocoError

    try:
        for tta in args.tta:
            tta_module.views(tta)  # an unknown name fails before any work
        model, side = predict.load_for_inference(args.weights, args.device)
        ids = [dataset.photo_id(stem) for stem in dataset.list_photos(args.val / "images")]
        truth = predict.true_counts(annotations.read_labels(args.val / "labels"), ids)
        tables = []
        for tta in args.tta:
            tables.append(
                robustness.corruption_table(model, args.val / "images", truth, side, args.threshold, args.seed, args.only, tta=tta)
            )
            print(f"\nTTA {tta}:")
            print(robustness.wide(tables[-1]).round(4).to_string())
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    table = pd.concat(tables, ignore_index=True)
    rows = pd.DataFrame([robustness.summary(t) for t in tables]).set_index("tta")
    rows["views"] = [len(tta_module.views(t)) for t in rows.index]
    print()
    print(rows[["views", "threshold", "clean_f1", "corruption_f1", "images_per_s"]].round(4).to_string())
    settings = len(tables[0]) - 1
    best = rows["corruption_f1"].idxmax()
    print(
        f"{len(ids)} validation photos, {settings} corrupted settings each; best corruption F1 {rows.loc[best, 'corruption_f1']:.4f} "
        f"with TTA {best} (clean {rows.loc[best, 'clean_f1']:.4f}); worst setting with TTA {rows.index[0]}: "
        f"{rows.iloc[0]['worst'][0]} at severity {rows.iloc[0]['worst'][1]}"
    )
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
