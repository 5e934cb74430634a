"""How far one training recipe's result moves with nothing but the seed: the profile's Faster R-CNN
trained once per seed on one split, each checkpoint judged as notebook 05 judges it (clean
validation, corruption suite, shift suite, dev-hard; their mean, the criterion).

    python benchmarks/seed_spread.py --data runs/cpu/data/processed/augmented --seeds 0 1 \\
        --work /tmp/spread --dev-hard ../shared/data/iapr2025-dev-hard
    python benchmarks/seed_spread.py --data data/processed/augmented --seeds 0 1 --work /tmp/spread \\
        --run 0=models/faster_rcnn --dev-hard ../shared/data/iapr2025-dev-hard --csv benchmarks/results/seed_spread_cpu.csv

Why: every recipe choice of `benchmarks/accuracy_budget.py` and of the docs compares single runs.
Two runs of one recipe differ by their random draws alone (the head's initialisation, the order and
augmentation of the training draws), so a difference between two recipes means something only
beside this spread. The split (the `--data` folder) and the suites' own seed stay fixed: only the
training seed changes.

Each seed trains into ``--work/seed-N`` (a killed run resumes there; a finished one is reused), or
``--run N=DIR`` names a finished training folder for that seed (the committed run is seed 0's, so
it need not be trained again; its config.json must say that seed and the other seeds' settings).
Each judgement is kept in ``--work/judged/`` under its checkpoint's digest and reused by a rerun.
Prints one row per seed, then the mean, the standard deviation and the range of every column, and
a one-line summary; ``--csv`` is rewritten after every seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def seed_run(text: str) -> tuple[int, Path]:
    """``0=models/faster_rcnn`` → (0, that folder)."""
    seed, _, folder = text.partition("=")
    if not seed.isdigit() or not folder:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SEED=FOLDER, e.g. 0=models/faster_rcnn")
    return int(seed), Path(folder)


def setting(text: str) -> tuple[str, object]:
    """``max_lr=0.005`` → ("max_lr", 0.005): a training setting and its value, read as JSON."""
    import json

    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=VALUE with a JSON value, e.g. max_lr=0.005 or 'recipe=\"seed\"'"
        ) from None


def trained(seed: int, data: Path, work: Path, profile: str, changes: dict, given: dict[int, Path]) -> Path:
    """The training folder of `seed`: the one given for it (checked), else trained (or resumed) in `work`."""
    from chocolib import engine, profiles, train
    from chocolib.errors import ChocoError

    detector, config = train.configs_for(profiles.get(profile), seed, **changes)
    if seed in given:
        folder = given[seed]
        saved = engine.read_config(folder)
        if saved["train"]["seed"] != seed:
            raise ChocoError(f"--run {seed}=…: that training used seed {saved['train']['seed']}", folder / "config.json")
        # the whole run key (the split's fingerprint and the online ranges too), the seed apart
        key = train.run_key(detector, config, engine.data_fingerprint(data / "train", data / "val"))
        other = engine.key_differences(saved, key, ignore=("seed",), shared_only=True)
        if other:
            raise ChocoError(
                f"--run {seed}=…: trained with other settings than the other seeds: {', '.join(other)}", folder / "config.json"
            )
        if not (folder / "best.pt").is_file():
            raise ChocoError("checkpoint not found", folder / "best.pt")
        return folder
    summary = train.train(data / "train", data / "val", work / f"seed-{seed}", detector, config)
    print(summary.line(), flush=True)
    return summary.out


def judged(folder: Path, data: Path, dev_hard: Path | None, mode: str, device: str, work: Path) -> dict:
    """The judgement of `folder`'s best.pt (threshold, the four F1s, the criterion), the suites with
    seed 0 for every training seed; kept in ``work/judged/`` under the checkpoint's digest, so a
    rerun after a kill does not judge a checkpoint again (a judgement takes minutes)."""
    import hashlib
    import json

    from chocolib import fileio, judge, predict, shifts

    digest = hashlib.sha256((folder / "best.pt").read_bytes()).hexdigest()[:16]
    asked = {
        "checkpoint": digest,
        "val": str(data.resolve() / "val"),
        "dev_hard": str(dev_hard.resolve()) if dev_hard else None,
        "tta": mode,
        "shift_suite": shifts.SUITE_VERSION,
    }
    kept = work / "judged" / f"{digest}-{mode}.json"
    if kept.is_file() and json.loads(kept.read_text())["asked"] == asked:
        return json.loads(kept.read_text())["row"]
    model, side = predict.load_for_inference(folder / "best.pt", device)
    row = judge.judge(model, data / "val", side, dev_hard, seed=0, tta=mode).row()
    fileio.write_text(kept, json.dumps({"asked": asked, "row": row}, indent=1))
    return row


def spread(table):
    """Mean, standard deviation (n − 1) and range (max − min) of the numeric columns of `table`."""
    numeric = table.select_dtypes("number").drop(columns=["seed"])
    return numeric.agg(["mean", "std", lambda column: column.max() - column.min()]).rename(index={"<lambda>": "range"})


def write_table(path: Path, table) -> None:
    """The rows, then (from two seeds on) their mean, standard deviation and range, as CSV."""
    import pandas as pd

    from chocolib import fileio

    rows = [table, spread(table).reset_index(names="seed")] if len(table) > 1 else [table]
    fileio.write_text(path, pd.concat(rows, ignore_index=True).to_csv(index=False, float_format="%.4f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="an augmented split (notebook 02's data/processed/augmented)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (at least two)")
    parser.add_argument("--work", type=Path, required=True, help="where the seeds' trainings go (kept: a rerun resumes or reuses them)")
    parser.add_argument("--run", type=seed_run, action="append", default=[], metavar="SEED=FOLDER", help="a finished training of that seed")
    parser.add_argument("--profile", default="cpu", help="the settings every seed trains with (chocolib/profiles.py)")
    parser.add_argument(
        "--set",
        type=setting,
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="change the profile's settings for every seed (DetectorConfig / TrainConfig fields), e.g. max_lr=0.005 epochs=4",
    )
    parser.add_argument("--dev-hard", type=Path, default=None, help="a counted set (photos/, counts.csv), never trained on")
    parser.add_argument("--tta", default=None, help="test-time augmentation of the judgement (default: the profile's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    if len(set(args.seeds)) < 2:
        sys.exit("error: --seeds needs at least two different seeds: one run has no spread")

    import logging

    import pandas as pd
    import torch

    from chocolib import engine, profiles, tta
    from chocolib.errors import ChocoError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rows = []
    try:
        mode = args.tta or profiles.get(args.profile).tta
        tta.views(mode)
        given = dict(args.run)
        for seed in args.seeds:
            folder = trained(seed, args.data, args.work, args.profile, dict(args.set), given)
            history = engine.read_history(folder)
            kept = torch.load(folder / "best.pt", map_location="cpu", weights_only=True)["epoch"]
            row = {"seed": seed, "best epoch": int(kept), "train min": float(history["seconds"].sum()) / 60}
            rows.append({**row, **judged(folder, args.data, args.dev_hard, mode, args.device, args.work)})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
            if args.csv:  # after every seed: a kill loses no finished row
                write_table(args.csv, pd.DataFrame(rows))
    except ChocoError as exc:
        sys.exit(f"error: {exc}")
    table = pd.DataFrame(rows)
    print(f"\n{len(table)} seeds of the {args.profile} profile, TTA {mode}:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    summary = spread(table)
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    criterion = summary["criterion"]
    print(f"summary: criterion {criterion['mean']:.4f} ± {criterion['std']:.4f} (range {criterion['range']:.4f}) over {len(table)} seeds")
    if args.csv:
        write_table(args.csv, table)


if __name__ == "__main__":
    main()
