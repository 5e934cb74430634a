"""Benchmark of the offline augmentation (notebook 02): images per second and peak memory.

    python benchmarks/augment.py                 # the twin (if ../shared/data is there) and the embedded data
    python benchmarks/augment.py --quick         # fewer configurations

Each configuration runs in a fresh subprocess, so that its peak memory (the main process and the
largest worker, from getrusage) is its own. Work that is not augmentation — importing the
annotation, generating the embedded dataset — happens before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def one(images: str, labels: str, passes: int, work_side: int, workers: int) -> dict:
    """Run one configuration in this process and return its figures."""
    from chocolib import augment

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = augment.augment(
            images, labels, Path(tmp) / "out", augment.AugmentParams(passes=passes, work_side=work_side), workers=workers
        )
        seconds = time.perf_counter() - started
    made = summary.train_images + summary.val_images + len(summary.removed)
    return {
        "images": made,
        "seconds": round(seconds, 1),
        "images_per_s": round(made / seconds, 1),
        "peak_main_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "line": summary.line(),
    }


def prepare(tmp: Path) -> dict[str, tuple[Path, Path]]:
    """Photos and labels for each dataset benchmarked: the twin with the real annotation, the embedded set."""
    from chocolib import annotations, synthetic

    datasets = {}
    if (SHARED / "iapr2025-twin").is_dir():
        labels = tmp / "twin-labels"
        annotations.import_annotations(SHARED / "iapr2025" / "annotations" / "roboflow_yolo", SHARED / "iapr2025-twin" / "train", labels)
        datasets["twin"] = (SHARED / "iapr2025-twin" / "train", labels)
    embedded = synthetic.generate(tmp / "embedded", "cpu", seed=0)
    labels = tmp / "embedded-labels"
    annotations.import_annotations(embedded / "annotations" / "roboflow_yolo", embedded / "train", labels)
    datasets["embedded"] = (embedded / "train", labels)
    return datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the default configuration on each dataset")
    parser.add_argument("--one", nargs=5, metavar=("IMAGES", "LABELS", "PASSES", "SIDE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        images, labels, passes, side, workers = args.one
        print(json.dumps(one(images, labels, int(passes), int(side), int(workers))))
        return

    cores = os.cpu_count() or 1
    configs = [(10, 800, cores)] if args.quick else [(10, 800, cores), (10, 800, 1), (10, 1333, cores)]
    with tempfile.TemporaryDirectory() as tmp:
        datasets = prepare(Path(tmp))
        print(
            f"{'data':<9} {'passes':>6} {'side':>5} {'workers':>7} {'images':>6} {'seconds':>7} {'img/s':>6} {'main MB':>7} {'worker MB':>9}  result"
        )
        for name, (images, labels) in datasets.items():
            for passes, side, workers in configs:
                result = subprocess.run(
                    [sys.executable, __file__, "--one", str(images), str(labels), str(passes), str(side), str(workers)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(result.stdout.strip().splitlines()[-1])
                print(
                    f"{name:<9} {passes:>6} {side:>5} {workers:>7} {r['images']:>6} {r['seconds']:>7} {r['images_per_s']:>6} "
                    f"{r['peak_main_mb']:>7} {r['peak_worker_mb']:>9}  {r['line']}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
