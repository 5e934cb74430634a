"""Which chocolates the shift suite's occlusion settings miss, by how much of each one's box is hidden.

    python benchmarks/occlusion_cover.py --threshold 0.78 --cross-class suppress      # the committed run's model
    python benchmarks/occlusion_cover.py --weights runs/cpu/models/faster_rcnn/best.pt \\
        --val runs/cpu/data/processed/augmented/val --threshold 0.72 --csv benchmarks/results/occlusion_cover_cpu.csv

Why: the occlusion settings are named by the share of a box a pen hides (10, 20, 35 %), but a pen
is long and crosses the chocolates beside the one it was laid over. Each true chocolate's hidden
share is measured from the pixels the pens changed (any channel by more than 25 of 255, the pen's
soft edge included) and the chocolate is *found* when the kept detection that takes its box
(`shifts.match`: best score first, IoU ≥ 0.5, as notebook 05 counts errors under the shifts) is of
its class — notebook 05's counting rule and threshold, the TTA of the profile. Prints the
found share per bin of hidden share, and per severity; ``--csv`` writes one row per chocolate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: a pixel counts as hidden when a pen changed one of its channels by more than this
CHANGED = 25
BINS = (-0.01, 0.05, 0.2, 0.35, 0.5, 0.7, 1.0)


def chocolate_rows(run, threshold: float, rule: str) -> list[dict]:
    """One row per true chocolate of every occlusion setting of `run` (`shifts.detect_shifted`):
    its setting, class, hidden share and whether a detection of its class took it (`shifts.match`,
    as notebook 05's errors under the shifts are counted)."""
    import numpy as np

    from chocolib import classes, shifts

    clean_scenes = run.settings[0][2]
    rows = []
    for name, severity, scenes, found in run.settings[1:]:
        kept = found.one_per_chocolate(rule).kept(threshold)
        for photo_id, clean, scene in zip(run.ids, clean_scenes, scenes):
            changed = np.abs(scene.pixels.astype(np.int16) - clean.pixels.astype(np.int16)).max(2) > CHANGED
            given, _ = shifts.match(kept[kept["id"] == photo_id], scene)
            for t, (x0, y0, x1, y1) in enumerate(scene.boxes):
                hidden = changed[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))].mean()
                rows.append(
                    {
                        "shift": name,
                        "severity": severity,
                        "id": photo_id,
                        "class": classes.KAGGLE_NAMES[scene.cls[t]],
                        "hidden": hidden,
                        "found": bool(given[t] == scene.cls[t]),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=REPO / "models" / "faster_rcnn" / "best.pt")
    parser.add_argument(
        "--val", type=Path, default=REPO / "data" / "processed" / "augmented" / "val", help="the split's val/ (images/, labels/)"
    )
    parser.add_argument("--threshold", type=float, default=None, help="default: notebook 05's, from threshold.json beside the checkpoint")
    parser.add_argument("--cross-class", default=None, help="boxes of two classes on one chocolate (default: notebook 05's rule)")
    parser.add_argument("--tta", default=None, help="test-time augmentation (default: notebook 05's)")
    parser.add_argument("--seed", type=int, default=0, help="the suite's seed (notebook 05's: 0)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()

    import pandas as pd

    from chocolib import annotations, fileio, predict, shifts
    from chocolib.errors import ChocoError

    try:
        folder = args.weights.parent
        threshold = args.threshold if args.threshold is not None else predict.read_threshold(folder)
        if threshold is None:
            raise ChocoError("no threshold.json beside the checkpoint: give --threshold", args.weights)
        rule = args.cross_class or predict.read_cross_class(folder)
        mode = args.tta or predict.read_tta(folder)
        model, side = predict.load_for_inference(args.weights, args.device)
        labels = annotations.read_labels(args.val / "labels")
        run = shifts.detect_shifted(model, args.val / "images", labels, side, args.seed, names=["occlusion"], tta=mode)
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    table = pd.DataFrame(chocolate_rows(run, threshold, rule))
    table["hidden share"] = pd.cut(table["hidden"], list(BINS))
    print(f"{args.weights}: occlusion settings at threshold {threshold:.2f}, cross-class {rule}, TTA {mode}")
    print(
        table.groupby("hidden share", observed=True)["found"].agg(chocolates="size", found="sum", found_share="mean").round(3).to_string()
    )
    by_severity = table.groupby("severity").agg(
        chocolates=("found", "size"), found=("found", "sum"), hidden_over_half=("hidden", lambda h: int((h > 0.5).sum()))
    )
    print(by_severity.to_string())
    missed = table[~table["found"]]
    print(f"{len(missed)} of {len(table)} chocolates missed; {int((missed['hidden'] > 0.5).sum())} of them more than half hidden")
    if args.csv:
        fileio.write_text(args.csv, table.drop(columns="hidden share").to_csv(index=False, float_format="%.4f"))


if __name__ == "__main__":
    main()
