"""YOLO12s two ways on the same budget: Ultralytics' own trainer (the anchor) against chocolib's loop.

Both start from random weights of the same ``yolo12s.yaml`` (13 classes), on notebook 02's split of
the same photos (its ``split.json``: the training originals, and ``val/``), at the profile's input
side, for the same wall-clock time: chocolib's loop runs the profile's schedule first, and
Ultralytics' trainer then gets the seconds it took (``train(time=...)``), or both get ``--minutes``.
Each trainer keeps its own recipe (Ultralytics: its defaults — batch 16 accumulated to 64, AdamW
for short runs, mosaic, HSV, EMA …); each one's ``best.pt`` is then scored by chocolib, the same way
for both: detections on the validation photos, the count-F1 threshold swept as notebook 05 sweeps
it, COCO mAP@.5.

    python benchmarks/yolo_anchor.py --data runs/cpu/data/processed/augmented            # the cpu profile's budget
    python benchmarks/yolo_anchor.py --data ... --recipe seed ultralytics                 # chocolib's recipes side by side
    python benchmarks/yolo_anchor.py --data ... --profile full --device cuda --minutes 4  # on a GPU
    python benchmarks/yolo_anchor.py --data ... --skip-anchor --set image_size=640 crop=320 \
        --score runs/cpu/models/yolo12/best.pt  # crops at the counting scale, beside a finished run
    python benchmarks/yolo_anchor.py --data ... --skip-anchor --epochs 40 --curve curve.csv  # F1 against minutes

A measurement, never part of the pipeline. Prints one row per trainer: epochs, minutes, images seen in
training, validation mAP@.5, count F1 at 0.6 and at the best threshold of the sweep.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_yolo_dataset(augmented: Path, out: Path) -> Path:
    """Notebook 02's split as an Ultralytics dataset (links to its files): the split's training
    originals and the validation photos; the label files are already YOLO lines in Kaggle order."""
    from chocolib import classes, dataset, fileio

    split = json.loads((augmented / "split.json").read_text())
    train_set = dataset.DetectionDataset(augmented / "train")
    by_stem = {train_set.stem(i): train_set.items[i] for i in range(len(train_set))}
    val_set = dataset.DetectionDataset(augmented / "val")
    parts = {"train": [by_stem[stem] for stem in split["train"]], "val": val_set.items}
    for part, items in parts.items():
        for kind in ("images", "labels"):
            (out / kind / part).mkdir(parents=True, exist_ok=True)
        for photo, label in items:
            for link, target in ((out / "images" / part / photo.name, photo), (out / "labels" / part / label.name, label)):
                if not link.exists():
                    link.symlink_to(target.resolve())
    data_yaml = out / "data.yaml"
    fileio.write_text(
        data_yaml,
        json.dumps(
            {"path": str(out.resolve()), "train": "images/train", "val": "images/val", "names": dict(enumerate(classes.KAGGLE_NAMES))},
            indent=1,
        ),
    )
    return data_yaml


def train_anchor(data_yaml: Path, out: Path, image_size: int, seconds: float, device: str, seed: int) -> dict:
    """Ultralytics' trainer, random weights, for `seconds` of wall-clock time; what it did."""
    from chocolib.models import yolo12

    yolo12.ultralytics()
    from ultralytics import YOLO

    if device.startswith("cuda"):
        # its AMP check downloads yolo26n.pt; offline, AMP is trusted as chocolib's loop trusts it on CUDA
        import ultralytics.engine.trainer as trainer

        trainer.check_amp = lambda model: True
    started = time.perf_counter()
    model = YOLO("yolo12s.yaml", task="detect")
    model.train(
        data=str(data_yaml),
        imgsz=image_size,
        epochs=1000,
        time=seconds / 3600,
        device=device,
        seed=seed,
        pretrained=False,
        plots=False,
        amp=device.startswith("cuda"),
        project=str(out),
        name="ultralytics",
        exist_ok=True,
        verbose=False,
    )
    run = out / "ultralytics"
    import pandas as pd

    results = pd.read_csv(run / "results.csv")
    photos = len(list((data_yaml.parent / "images" / "train").iterdir()))
    return {"best": run / "weights" / "best.pt", "epochs": len(results), "seconds": time.perf_counter() - started, "train_photos": photos}


def score(checkpoint: Path, augmented: Path, work_side: int, device: str, ultralytics: bool = False) -> dict:
    """The validation count F1 (swept threshold, and at the seed's 0.6) and mAP@.5 of a YOLO12s
    checkpoint of chocolib's loop (or, `ultralytics`, of Ultralytics' trainer), as notebook 05 scores it."""
    from chocolib import annotations, metric, models, predict
    from chocolib.models import yolo12

    device = models.select_device(device)
    load = yolo12.from_ultralytics_checkpoint if ultralytics else yolo12.load_yolo
    model, _ = load(checkpoint, device)
    val = predict.detect(model, augmented / "val" / "images", work_side)
    labels = annotations.read_labels(augmented / "val" / "labels")
    choice = predict.choose_threshold(val, predict.true_counts(labels, val.ids))
    mean_ap, _ = metric.detection_map(val.table, labels, val.ids)
    return {"val mAP@.5": mean_ap["map_50"], "val F1 at 0.6": choice.seed_f1, "best val F1": choice.f1, "its threshold": choice.threshold}


def summary_steps(out: Path) -> int:
    from chocolib import engine

    return int(engine.read_config(out)["steps_per_epoch"])


def learning_curve(history, steps_per_epoch: int, batch_size: int):
    """Count F1 against training minutes, one row per epoch of a run of chocolib's loop: the minutes
    and draws so far, and the validation count F1 its epoch logged (at 0.6, and at the best threshold
    of the loop's sweep)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "epoch": history["epoch"].astype(int),
            "minutes": history["seconds"].cumsum() / 60,
            "draws": history["epoch"].astype(int) * steps_per_epoch * batch_size,
            "val F1 at 0.6": history["val_f1"],
            "best val F1": history["val_f1_best"],
            "its threshold": history["val_best_threshold"],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="notebook 02's folder (split.json, train/, val/, manifest.json)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--recipe", nargs="+", default=None, help="chocolib's YOLO recipes to run (default: the profile's)")
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="Ultralytics' budget (default: the minutes chocolib's schedule took; size that with --epochs)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="chocolib's epochs (default: the profile's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None, help="chocolib's DataLoader processes (default: 0 on the CPU, 8 on a GPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="where both trainers write (default: a temporary folder)")
    parser.add_argument("--skip-anchor", action="store_true", help="chocolib's loop only")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="chocolib's settings to change (train_yolo.YoloTrainConfig or yolo12.YoloConfig fields), e.g. image_size=320 warmup_epochs=1",
    )
    parser.add_argument(
        "--score",
        nargs="+",
        type=Path,
        default=[],
        metavar="CHECKPOINT",
        help="also score these chocolib YOLO12s checkpoints (e.g. notebook 03's models/yolo12/best.pt) as rows of the table",
    )
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument(
        "--curve", type=Path, default=None, help="also write (and print) the count F1 against minutes of chocolib's run, epoch by epoch"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TQDM_MININTERVAL", "30")

    import pandas as pd

    from chocolib import profiles, train_yolo
    from chocolib.errors import ChocoError

    work = args.work or Path(tempfile.mkdtemp(prefix="yolo_anchor_"))
    changes = {"epochs": args.epochs, **{name: json.loads(value) for name, value in (item.split("=", 1) for item in args.set)}}
    profile = profiles.get(args.profile)
    rows = []
    try:
        for checkpoint in args.score:
            from chocolib import engine

            history = engine.read_history(checkpoint.parent)
            saved = engine.read_config(checkpoint.parent)
            rows.append(
                {
                    "trainer": f"chocolib loop, {checkpoint}",
                    "epochs": int(history["epoch"].max()),
                    "minutes": float(history["seconds"].sum()) / 60,
                    "images seen": int(history["epoch"].max()) * saved["steps_per_epoch"] * saved["train"]["batch_size"],
                    **score(checkpoint, args.data, profile.work_side, args.device),
                }
            )
        budget = args.minutes * 60 if args.minutes else None  # else what chocolib's schedule takes
        for recipe in args.recipe or [profile.yolo_recipe]:
            model_config, config = train_yolo.configs_for(
                profile, args.seed, recipe=recipe, device=args.device, workers=args.workers, pretrained="none", **changes
            )
            summary = train_yolo.train_yolo(args.data, work / f"chocolib_{recipe}", model_config, config)
            seconds = float(summary.history["seconds"].sum())  # the run's own epochs, also when it was already done
            budget = budget or seconds  # the first recipe's time is the anchor's budget
            epochs = int(summary.history["epoch"].max())
            label = f"chocolib loop, recipe {recipe}" + "".join(f", {item}" for item in args.set)
            rows.append(
                {
                    "trainer": label,
                    "epochs": epochs,
                    "minutes": seconds / 60,
                    "images seen": epochs * summary_steps(work / f"chocolib_{recipe}") * config.batch_size,
                    **score(work / f"chocolib_{recipe}" / "best.pt", args.data, profile.work_side, args.device),
                }
            )
            print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False), flush=True)
            if args.curve:
                from chocolib import fileio

                curve = learning_curve(summary.history, summary_steps(work / f"chocolib_{recipe}"), config.batch_size)
                print(f"\n{label}: count F1 against minutes\n{curve.round(4).to_string(index=False)}", flush=True)
                fileio.write_text(args.curve, curve.to_csv(index=False, float_format="%.4f"))
        if not args.skip_anchor:
            data_yaml = write_yolo_dataset(args.data, work / "yolo_dataset")
            anchor = train_anchor(data_yaml, work, model_config.image_size, budget, args.device, args.seed)
            rows.append(
                {
                    "trainer": "Ultralytics trainer (defaults)",
                    "epochs": anchor["epochs"],
                    "minutes": anchor["seconds"] / 60,
                    "images seen": anchor["epochs"] * anchor["train_photos"],
                    **score(anchor["best"], args.data, profile.work_side, args.device, ultralytics=True),
                }
            )
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    table = pd.DataFrame(rows)
    print(
        f"\nYOLO12s from random weights, profile {profile.name} ({model_config.image_size}², {args.device}), "
        f"budget {budget / 60:.1f} min each; outputs in {work}"
    )
    print(table.round(4).to_string(index=False))
    if args.csv:
        from chocolib import fileio

        fileio.write_text(args.csv, table.to_csv(index=False, float_format="%.4f"))


if __name__ == "__main__":
    main()
