"""The benchmark scripts that judge a trained checkpoint run end to end on the tiny one."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, args)], capture_output=True, text=True, timeout=600)


def test_inference_speed_times_every_variant_of_a_trained_checkpoint(tiny_checkpoint, tiny_split, tmp_path):
    done = _run("inference_speed.py", "--weights", tiny_checkpoint, "--val", tiny_split / "val", "--csv", tmp_path / "speed.csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "speed.csv")
    assert len(table) == 5 and (table["images/s"] > 0).all() and table["× before"].iloc[0] == 1.0
    assert table["val F1"].between(0, 1).all()
    assert done.stdout.splitlines()[-1].startswith("summary: the default runs at")


def test_inference_speed_names_a_missing_checkpoint(tmp_path):
    done = _run("inference_speed.py", "--weights", tmp_path / "none.pt", "--val", tmp_path)
    assert done.returncode != 0 and "checkpoint not found" in done.stderr and "none.pt" in done.stderr
