"""What a user's real Kaggle folder costs: 270 camera-size photos (6000×4000 JPEGs, every third one
stored rotated with an EXIF orientation flag) through check, import-annotations, augment and
predict, with the time and peak memory of each stage.

    python benchmarks/full_size.py                                  # the twin, if ../shared/data is there
    python benchmarks/full_size.py --source DATA --export EXPORT    # any Kaggle-layout folder
    python benchmarks/full_size.py --photos 10                      # a quick look: 10 photos per split

The camera-size copy is made first (`synthetic.camera_copy`: each photo up-scaled, so the pictures
are the twin's and only their size and storage are the camera's); it is not timed as a stage. Each
stage is the `python -m chocolib` command a user runs, in a fresh subprocess, so that its peak
memory (the main process and the largest worker) is its own. predict uses
`--weights` or, without it, an untrained detector of the `cpu` profile: the time of inference does
not depend on what the weights learned. Two more rows time the decoding of one photo, reduced to
800 px (how every stage decodes) and at full size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def run_stage(args: list[str]) -> dict:
    """`python -m chocolib ARGS` in this process (a fresh subprocess started by `measure`)."""
    from chocolib import cli

    started = time.perf_counter()
    status = cli.main(args)
    return {"status": status, "seconds": time.perf_counter() - started}


def measure(args: list[str]) -> dict:
    """Run one stage in a fresh subprocess; its time, and the peak resident memory of its main
    process and of its largest worker, sampled every 50 ms (getrusage would count the pages a
    forked child shares with this process)."""
    import psutil

    process = psutil.Popen(
        [sys.executable, __file__, "--stage-json", json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak_main = peak_worker = 0
    while process.poll() is None:
        try:
            peak_main = max(peak_main, process.memory_info().rss)
            for child in process.children(recursive=True):
                peak_worker = max(peak_worker, child.memory_info().rss)
        except psutil.Error:  # a worker ended between listing and reading
            pass
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        sys.exit(f"stage {args[0]} failed:\n{stderr[-3000:]}")
    found = json.loads(stdout.strip().splitlines()[-1])
    return {**found, "peak_main_mb": peak_main / 2**20, "peak_worker_mb": peak_worker / 2**20}


def decode_times(photos: list[Path], side: int | None) -> float:
    from chocolib import dataset

    started = time.perf_counter()
    for photo in photos:
        dataset.read_photo(photo, max_side=side)
    return (time.perf_counter() - started) / len(photos)


def untrained_checkpoint(folder: Path) -> Path:
    """A checkpoint of the `cpu` profile's detector with random weights, and its config.json."""
    import torch

    from chocolib import fileio, models, profiles, train

    detector, _ = train.configs_for(profiles.get("cpu"), 0, pretrained="none")
    model, used = models.build_detector(detector)
    path = folder / "untrained" / "best.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"detector": detector.as_dict(), "model": model.state_dict(), "weights_used": used}, path)
    fileio.write_json(path.parent / "config.json", {"image_side": profiles.get("cpu").work_side})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SHARED / "iapr2025-twin", help="a Kaggle-layout folder (default: the twin)")
    parser.add_argument(
        "--export",
        type=Path,
        default=SHARED / "iapr2025" / "annotations" / "roboflow_yolo",
        help="its annotation export (default: the real Roboflow export of the twin)",
    )
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "full-size", help="where the copy and the outputs go")
    parser.add_argument("--photos", type=int, default=None, help="photos per split (default: all, 90 + 180 for the twin)")
    parser.add_argument("--weights", type=Path, default=None, help="a checkpoint for predict (default: an untrained cpu-profile detector)")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table here")
    parser.add_argument("--stage-json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_json:
        print(json.dumps(run_stage(json.loads(args.stage_json))))
        return

    import pandas as pd

    from chocolib import dataset, synthetic

    kaggle = args.work / "kaggle"
    started = time.perf_counter()
    if not (kaggle / "train.csv").is_file():
        synthetic.camera_copy(args.source, kaggle, args.export, photos_per_split=args.photos)
    print(f"camera-size copy: {kaggle} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    train_photos = len(dataset.list_photos(kaggle / "train"))
    test_photos = len(dataset.list_photos(kaggle / "test"))
    weights = args.weights or untrained_checkpoint(args.work)
    for earlier in ("labels", "augmented"):  # a stage finds its earlier output and skips: start clean
        shutil.rmtree(args.work / earlier, ignore_errors=True)
    stages = [
        ("check", train_photos + test_photos, ["check", "--data", kaggle]),
        (
            "import-annotations",
            train_photos,
            [
                "import-annotations",
                "--source",
                kaggle / "annotations" / "roboflow_yolo",
                "--images",
                kaggle / "train",
                "--out",
                args.work / "labels",
            ],
        ),
        (
            "augment (10 passes, 800 px)",
            train_photos,
            ["augment", "--images", kaggle / "train", "--labels", args.work / "labels", "--out", args.work / "augmented"],
        ),
        ("predict", test_photos, ["predict", "--weights", weights, "--images", kaggle / "test", "--out", args.work / "submission.csv"]),
    ]
    rows = []
    for name, photos, command in stages:
        found = measure([str(a) for a in command])
        rows.append(
            {
                "stage": name,
                "photos": photos,
                "seconds": found["seconds"],
                "s/photo": found["seconds"] / photos,
                "peak main MB": found["peak_main_mb"],
                "peak worker MB": found["peak_worker_mb"],
            }
        )
    sample = sorted((kaggle / "train").glob("*.JPG"))[:6]
    for name, side in (("decode one photo at 800 px", 800), ("decode one photo at 6000×4000", None)):
        seconds = decode_times(sample, side)
        rows.append(
            {
                "stage": name,
                "photos": len(sample),
                "seconds": seconds * len(sample),
                "s/photo": seconds,
                "peak main MB": float("nan"),
                "peak worker MB": float("nan"),
            }
        )
    table = pd.DataFrame(rows).round({"seconds": 1, "s/photo": 3, "peak main MB": 0, "peak worker MB": 0})
    print(table.to_string(index=False))
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
