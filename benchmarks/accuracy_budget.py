"""Which detector counts best for a fixed wall-clock budget of training on this machine?

    python benchmarks/accuracy_budget.py --data runs/twin/data/processed/augmented --minutes 6
    python benchmarks/accuracy_budget.py --data DIR --minutes 6 --only lite0-512 seed-scratch
    python benchmarks/accuracy_budget.py --data DIR --minutes 12 --only lite0-512-online lite0-512-wide \
        --dev-hard ../shared/data/iapr2025-dev-hard --csv benchmarks/results/generalisation_budget_cpu.csv

Each candidate (backbone, starting weights, input size, batch, recipe) is first timed for a few
warm steps; the number of steps that fits `--minutes` of training at that speed is then trained with
`chocolib.train.train` as a whole schedule (4 epochs, OneCycle over all of them, validation after
each), so every candidate ends its learning-rate schedule inside the budget rather than being cut
off in the middle of it. Validation is timed apart and not charged to the budget. The table gives,
per candidate: steps, training images/s, minutes, the last epoch's validation loss, the count F1 at
the seed's threshold 0.6 and the best count F1 over notebook 05's threshold sweep (with that
threshold) of the best epoch's checkpoint — all on the split's validation photos, never on a test set.

The validation photos share the training photos' look and scale, so a candidate is ranked by
**one criterion** (`chocolib.judge`): the mean of four F1s, printed beside it, all at the threshold
notebook 05 chooses (on the first three) — clean validation, the corruption suite (`chocolib.robustness`), the
shift suite (`chocolib.shifts`: camera distance, occlusion, shadow) and, with ``--dev-hard``, the
public hard set (without it, the mean of the other three). A candidate that wins clean validation
but loses the rest does not win.

The `cpu` profile was chosen from this table (docs/cpu-profile.md). Runs are written to
``--work`` (default: a temporary folder) and can be looked at with `chocolib.engine.read_history`;
run again with the same ``--work`` and the finished trainings are reused (only the table is made
again, e.g. with ``--csv``).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Candidate:
    name: str
    backbone: str
    pretrained: str
    min_size: int
    max_size: int
    batch_size: int
    recipe: str
    #: further TrainConfig settings, e.g. where the training images' variation comes from
    extra: tuple = ()


#: the seed's offline versions (notebook 02's folder) with camera effects online: the finetune
#: recipe as it was first measured, before the online geometry replaced the offline crops
OFFLINE = (("train_versions", "all"), ("geometry_augment", False))
CANDIDATES = [
    # the committed cpu profile before this benchmark: the seed's model and recipe, random weights
    Candidate("seed-scratch", "mobilenet_v3_large", "none", 384, 576, 4, "seed"),
    Candidate("lite0-384", "efficientnet_lite0", "imagenet", 384, 576, 2, "finetune", OFFLINE),
    Candidate("lite0-512", "efficientnet_lite0", "imagenet", 512, 768, 2, "finetune", OFFLINE),
    Candidate("lite0-640", "efficientnet_lite0", "imagenet", 640, 960, 2, "finetune", OFFLINE),
    Candidate("lite1-512", "efficientnet_lite1", "imagenet", 512, 768, 2, "finetune", OFFLINE),
    # the resized originals only, varied online (flips, quarter turns, zoom 0.75–1.25, camera
    # effects) instead of the seed's offline crops, which zoom in up to 3.5×
    Candidate(
        "lite0-512-online",
        "efficientnet_lite0",
        "imagenet",
        512,
        768,
        2,
        "finetune",
        (("train_versions", "originals"), ("geometry_augment", True), ("scale_augment", "mild"), ("anchor_sizes", (32, 64, 128, 256, 512))),
    ),
    # the same, zoomed out and in over 0.45–2× (augment.ScaleJitter) with anchors from 16 px
    Candidate(
        "lite0-512-wide",
        "efficientnet_lite0",
        "imagenet",
        512,
        768,
        2,
        "finetune",
        (("train_versions", "originals"), ("geometry_augment", True), ("scale_augment", "wide")),
    ),
    # the same at twice the finetune recipe's peak learning rate: the wide draws are harder, and the
    # canonical run's validation loss was still falling when OneCycle's rate ran out
    Candidate(
        "lite0-512-wide-lr0.01",
        "efficientnet_lite0",
        "imagenet",
        512,
        768,
        2,
        "finetune",
        (("train_versions", "originals"), ("geometry_augment", True), ("scale_augment", "wide"), ("max_lr", 0.01)),
    ),
]
EPOCHS = 4
PROBE_STEPS = 6


def configs(candidate: Candidate, epochs: int, steps: int, seed: int):
    from chocolib import profiles, train

    return train.configs_for(
        profiles.get("cpu"),
        seed,
        recipe=candidate.recipe,
        backbone=candidate.backbone,
        pretrained=candidate.pretrained,
        min_size=candidate.min_size,
        max_size=candidate.max_size,
        batch_size=candidate.batch_size,
        epochs=epochs,
        steps_per_epoch=steps,
        patience=epochs,
        device="cpu",
        **dict(candidate.extra),
    )


def run(candidate: Candidate, split: Path, work: Path, minutes: float, seed: int) -> Path:
    """Train `candidate` for `minutes` of training (timed by a warm probe first); its folder."""
    from chocolib import train

    # the speed of a warm loop: the probe's second epoch (the first steps of a process are slower)
    detector, probe = configs(candidate, 2, PROBE_STEPS, seed)
    speed = train.train(split / "train", split / "val", work / f"{candidate.name}-probe", detector, probe).history["images_per_s"].iloc[-1]
    steps = max(EPOCHS, int(minutes * 60 * speed / candidate.batch_size))
    detector, config = configs(candidate, EPOCHS, steps // EPOCHS, seed)
    return train.train(split / "train", split / "val", work / candidate.name, detector, config).out


def score(candidate: Candidate, out: Path, split: Path, dev_hard: Path | None = None, seed: int = 0) -> dict:
    """The table's row for a finished run in `out`: its history, its best checkpoint on validation
    and, at the threshold chosen there, the criterion."""
    from chocolib import annotations, engine, judge, models, predict

    history = engine.read_history(out)
    saved = engine.read_config(out)
    last = history.iloc[-1]
    model, _ = models.load_detector(out / "best.pt")  # the epoch of lowest validation loss, as the pipeline keeps
    found = predict.detect(model, split / "val" / "images", None)
    truth = predict.true_counts(annotations.read_labels(split / "val" / "labels"), found.ids)
    sweep = predict.threshold_sweep(found, truth)
    best = sweep.loc[sweep["f1"].idxmax()]
    return {
        "candidate": candidate.name,
        "backbone": candidate.backbone,
        "weights": saved["weights_used"],
        "input": f"{candidate.min_size}/{candidate.max_size}",
        "batch": candidate.batch_size,
        "recipe": candidate.recipe,
        "data": dict(candidate.extra).get("train_versions", "all")
        + (" + online geometry" if dict(candidate.extra).get("geometry_augment") else ""),
        "steps": saved["steps_per_epoch"] * len(history),
        "images/s": float(history["images_per_s"].mean()),
        "train+val min": float(history["seconds"].sum()) / 60,
        "val loss": float(last["val_loss"]),
        "F1@0.6": predict.f1_at(found, truth, 0.6),
        "best F1": float(best["f1"]),
        "at": float(best["threshold"]),
        # the threshold as notebook 05 chooses it: on clean validation and its two suites
        **judge.judge(model, split / "val", None, dev_hard, seed=seed).row(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="an augmented split (notebook 02's data/processed/augmented)")
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget per candidate, validation not counted")
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dev-hard", type=Path, default=None, help="a counted set (photos/, counts.csv) to score beside validation, never trained on"
    )
    parser.add_argument("--table-only", action="store_true", help="train nothing: make the table from the finished runs already in --work")
    parser.add_argument(
        "--csv", type=Path, default=None, help="also write the table here (notebook 04 shows benchmarks/results/accuracy_budget_cpu.csv)"
    )
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    chosen = [c for c in CANDIDATES if args.only is None or c.name in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        rows = []
        for candidate in chosen:
            out = work / candidate.name if args.table_only else run(candidate, args.data, work, args.minutes, args.seed)
            rows.append(score(candidate, out, args.data, args.dev_hard, args.seed))
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.4g}"), flush=True)
    table = pd.DataFrame(rows)
    table.insert(1, "budget min", args.minutes)
    table = table.sort_values("criterion", ascending=False, kind="stable")
    if args.csv is not None:
        from chocolib import fileio

        fileio.write_text(args.csv, table.to_csv(index=False, float_format="%.4f"))
    print(f"\nbudget {args.minutes:g} min of training per candidate, {EPOCHS} epochs each, validation on {args.data / 'val'}:")
    print(
        table.to_string(
            index=False,
            formatters={
                "images/s": "{:.2f}".format,
                "train+val min": "{:.1f}".format,
                "val loss": "{:.4f}".format,
                "F1@0.6": "{:.4f}".format,
                "best F1": "{:.4f}".format,
                "at": "{:.2f}".format,
            },
        )
    )
    from chocolib import judge

    parts = [c for c in judge.PARTS if c in table.columns]
    print(f"\nranked by the criterion, the mean of {', '.join(parts)} (at the threshold chosen on validation and its suites):")
    print(table[["candidate", *parts, "criterion"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
