"""How far a checkpoint's counting holds beyond its validation photos: clean validation, the
corruption suite, the shift suite (camera farther and closer, things lying across chocolates, hard
shadows) and the public hard set, at the threshold notebook 05 chooses (on clean validation and its
two suites, never on the hard set), and their mean — the criterion `chocolib.judge` ranks by.

    python benchmarks/generalisation.py --dev-hard ../shared/data/iapr2025-dev-hard     # the committed run's model
    python benchmarks/generalisation.py --weights runs/a/models/faster_rcnn/best.pt runs/b/models/faster_rcnn/best.pt \\
        --names before after --val runs/a/data/processed/augmented/val --dev-hard ../shared/data/iapr2025-dev-hard \\
        --csv benchmarks/results/generalisation_cpu.csv
    python benchmarks/generalisation.py --input-size 512/768 640/960 --dev-hard ...  # one Faster R-CNN at two input sizes
    python benchmarks/generalisation.py --tta none sizes --dev-hard ...  # without and with test-time augmentation
    python benchmarks/generalisation.py --thresholds one per-class --dev-hard ...  # one threshold, or one per class
    python benchmarks/generalisation.py --thresholds one clean 0.6 0.7 --dev-hard ...  # against clean validation's choice, fixed ones
    python benchmarks/generalisation.py --cross-class off suppress merge chosen --dev-hard ...  # each rule for two classes on one chocolate
    python benchmarks/generalisation.py --cross-class suppress classify --crop-weight 0.5 0.3 0.2 --dev-hard ...  # the crop classifier's second look, at three weights

Prints, per checkpoint, the shift suite's table (F1 per shift and severity), then one row per
checkpoint: its threshold, the four F1s and the criterion. `--csv` writes that summary with the
F1 of every shift and severity beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def input_size(text: str) -> tuple[int, int]:
    """``640/960`` → (640, 960): the shorter and the longer side of the Faster R-CNN's input."""
    from chocolib.errors import ChocoError

    parts = text.split("/")
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts) or int(parts[0]) > int(parts[1]):
        raise ChocoError(f"--input-size {text!r}: expected MIN/MAX in pixels, MIN ≤ MAX (e.g. 640/960)")
    return int(parts[0]), int(parts[1])


def threshold_kind(text: str) -> str | float:
    """``one``, ``clean``, ``per-class`` or a fixed threshold in (0, 1)."""
    if text in ("one", "clean", "per-class"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected one, clean, per-class or a threshold between 0 and 1")
    return value


def main() -> None:
    from chocolib.predict import CROSS_CLASS_RULES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=[REPO / "models" / "faster_rcnn" / "best.pt"])
    parser.add_argument("--names", nargs="+", default=None, help="one name per checkpoint (default: its folder)")
    parser.add_argument(
        "--val",
        type=Path,
        default=REPO / "data" / "processed" / "augmented" / "val",
        help="a split folder written by augment (images/ and labels/)",
    )
    parser.add_argument("--dev-hard", type=Path, default=None, help="a counted set (photos/, counts.csv), never trained on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--input-size",
        nargs="+",
        default=None,
        metavar="MIN/MAX",
        help="judge each checkpoint of a Faster R-CNN at these input sizes (its shorter/longer side at inference) instead of its own",
    )
    parser.add_argument(
        "--tta", nargs="+", default=["none"], help="judge each checkpoint with each of these test-time augmentations (chocolib.tta.MODES)"
    )
    parser.add_argument(
        "--thresholds",
        nargs="+",
        type=threshold_kind,
        default=["one"],
        help="judge at the one threshold notebook 05 chooses on clean validation and its suites (one), at the one clean "
        "validation alone chooses (clean), at one per class chosen as notebook 05 chooses (per-class), and/or at fixed "
        "thresholds (numbers: what another choice would have given)",
    )
    parser.add_argument(
        "--cross-class",
        nargs="+",
        default=["chosen"],
        choices=["chosen", *CROSS_CLASS_RULES],
        help="count boxes of different classes on one chocolate by each of these rules (chocolib.predict.CROSS_CLASS_RULES), "
        "the threshold chosen under each; chosen: the rule chosen with the threshold, as notebook 05 does",
    )
    parser.add_argument(
        "--crop-classifier",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give every detection the second look of the crop classifier beside the checkpoint, if any (chocolib.models.crop_classifier)",
    )
    parser.add_argument(
        "--crop-weight",
        nargs="+",
        type=float,
        default=None,
        help="judge the rule classify at each of these weights of the crop classifier's probability (default: "
        "chocolib.predict.CROP_WEIGHT); the detections are made once for all of them",
    )
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()

    import pandas as pd

    from chocolib import fileio, judge, predict, shifts, tta
    from chocolib.errors import ChocoError

    names = args.names or [w.parent.parent.parent.name if w.parent.name == "faster_rcnn" else w.parent.name for w in args.weights]
    if len(names) != len(args.weights):
        sys.exit("error: --names needs one name per --weights")
    rows = []
    try:
        sizes = [input_size(size) for size in args.input_size] if args.input_size else [None]
        for mode in args.tta:
            tta.views(mode)
        for (label, weights), size in [(pair, size) for pair in zip(names, args.weights) for size in sizes]:
            model, side = predict.load_for_inference(weights, args.device, second_look=args.crop_classifier)
            if size is not None:
                if not hasattr(model, "transform"):
                    raise ChocoError("--input-size is the Faster R-CNN's input (YOLO12s counts at its square side)", weights)
                # torchvision's GeneralizedRCNNTransform resizes every image to these sides
                model.transform.min_size, model.transform.max_size = (size[0],), size[1]
                label = f"{label} at {size[0]}/{size[1]}"
            # the thresholds change no detection: each suite runs once for all of them
            with predict.remembering_detections():
                combinations = [
                    (mode, kind, rule, weight)
                    for mode in args.tta
                    for kind in args.thresholds
                    for rule in args.cross_class
                    for weight in ((args.crop_weight or [predict.CROP_WEIGHT]) if rule in ("classify", "chosen") else [None])
                ]
                for mode, kind, rule, weight in combinations:
                    name = label if mode == "none" else f"{label}, TTA {mode}"
                    if rule != "chosen":
                        name = f"{name}, cross-class {rule}"
                    if args.crop_weight and weight is not None:
                        name = f"{name}, crop weight {weight:g}"
                    if kind == "per-class":
                        name = f"{name}, per-class thresholds"
                    if kind == "clean":
                        name = f"{name}, threshold chosen on clean validation"
                    fixed = kind if isinstance(kind, float) else None
                    if fixed is not None:
                        name = f"{name}, threshold fixed at {fixed:.2f}"
                    with predict.crop_weight(predict.CROP_WEIGHT if weight is None else weight):
                        found = judge.judge(
                            model,
                            args.val,
                            side,
                            args.dev_hard,
                            threshold=fixed,
                            seed=args.seed,
                            tta=mode,
                            per_class=kind == "per-class",
                            choose_on="clean" if kind == "clean" else "suites",
                            cross_class=None if rule == "chosen" else rule,
                        )
                    print(f"\n{name}: shift suite at threshold {judge.describe(found.threshold)}")
                    if isinstance(found.threshold, dict):
                        print("  " + ", ".join(f"{cls} {value:.2f}" for cls, value in found.threshold.items()))
                    print(shifts.wide(found.shifts).round(4).to_string())
                    per_setting = {
                        f"{r['shift']} {r['severity']}": r["f1"] for _, r in found.shifts[found.shifts["severity"] > 0].iterrows()
                    }
                    crop = {"crop_weight": weight} if args.crop_weight else {}
                    rows.append({"model": name, **found.row(), **crop, **per_setting})
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    table = pd.DataFrame(rows)
    parts = [p for p in judge.PARTS if p in table.columns]
    print(f"\n{len(rows)} checkpoint(s); the criterion is the mean of {', '.join(parts)}:")
    print(table[["model", "threshold", "cross_class", *parts, "criterion"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        fileio.write_text(args.csv, table.to_csv(index=False, float_format="%.4f"))


if __name__ == "__main__":
    main()
