"""Training: the seed's loop on a tiny split, resumption after SIGKILL, and its refusals."""

import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from chocolib import dataset, engine, models, profiles, train
from chocolib.errors import ChocoError
from conftest import assert_user_error, last_line, run_cli

TIMING = ["seconds", "images_per_s"]
FAST = dict(min_size=128, max_size=192, epochs=3)


def _configs(**overrides):
    return train.configs_for(profiles.get("tiny"), 0, **{**FAST, **overrides})


def _train_command(split, out):
    return [
        sys.executable,
        "-m",
        "chocolib",
        "train",
        "--data",
        str(split),
        "--out",
        str(out),
        "--profile",
        "tiny",
        "--epochs",
        "3",
        "--min-size",
        "128",
        "--max-size",
        "192",
    ]


def _rows(out) -> int:
    path = out / "history.csv"
    return max(len(path.read_text().strip().splitlines()) - 1, 0) if path.exists() else 0


@pytest.mark.slow
def test_a_run_killed_mid_training_resumes_to_the_same_history(tiny_split, tmp_path):
    straight = run_cli(*_train_command(tiny_split, tmp_path / "straight")[3:])
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert last_line(straight.stdout) == str(tmp_path / "straight" / "best.pt")

    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(tiny_split, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _rows(killed) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # during epoch 2: no chance to clean up
    process.wait()
    assert process.returncode == -signal.SIGKILL and 1 <= _rows(killed) < 3

    resumed = run_cli(*_train_command(tiny_split, killed)[3:])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr and "after epoch" in resumed.stderr
    a = pd.read_csv(tmp_path / "straight" / "history.csv").drop(columns=TIMING)
    b = pd.read_csv(killed / "history.csv").drop(columns=TIMING)
    assert list(a["epoch"]) == [1, 2, 3] and list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, rtol=1e-5, atol=1e-7)
    assert not list(killed.glob(".*tmp*"))  # no temporary file left behind by the kill

    again = run_cli(*_train_command(tiny_split, killed)[3:])  # finished: nothing to do
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_history_columns_checkpoints_and_load(tiny_split, tmp_path):
    detector, config = _configs(epochs=1, steps_per_epoch=2)
    summary = train.train(tiny_split / "train", tiny_split / "val", tmp_path, detector, config)
    history = engine.read_history(tmp_path)
    expected = [
        "epoch",
        "train_loss",
        *(f"train_{n}" for n in train.LOSS_NAMES),
        "val_loss",
        *(f"val_{n}" for n in train.LOSS_NAMES),
        "val_f1",
        "lr",
        "seconds",
        "images_per_s",
    ]
    assert list(history.columns) == expected and len(history) == 1
    row = history.iloc[0]
    weighted = sum(w * row[f"val_{n}"] for n, w in config.loss_weights.items())
    assert row["val_loss"] == pytest.approx(weighted, rel=1e-5) and 0 <= row["val_f1"] <= 1
    assert summary.best_epoch == 1 and (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    assert engine.read_config(tmp_path)["steps_per_epoch"] == 2
    first_image = sorted((tiny_split / "train" / "images").iterdir())[0]
    assert engine.read_config(tmp_path)["image_side"] == max(dataset.photo_size(first_image))  # predict decodes test photos at it
    model, loaded = models.load_detector(tmp_path / "best.pt")
    assert loaded.min_size == 128 and not model.training


def test_a_non_finite_loss_names_the_batch(tiny_split, tmp_path):
    weights = {**train.SEED_LOSS_WEIGHTS, "loss_classifier": math.nan}
    detector, config = _configs(loss_weights=weights)
    with pytest.raises(ChocoError, match=r"non-finite loss \(nan\) at epoch 1, step 1") as caught:
        train.train(tiny_split / "train", tiny_split / "val", tmp_path, detector, config)
    stems = {p.stem for p in (tiny_split / "train" / "images").glob("*.jpg")}
    assert any(stem in str(caught.value) for stem in stems)


def test_other_settings_do_not_resume_silently(tiny_split, tmp_path):
    detector, config = _configs(epochs=2, steps_per_epoch=1)
    train.train(tiny_split / "train", tiny_split / "val", tmp_path, detector, config, stop_after_epochs=1)
    detector, config = _configs(epochs=3, steps_per_epoch=1)
    with pytest.raises(ChocoError, match="other settings \\(epochs: 2 → 3\\)"):
        train.train(tiny_split / "train", tiny_split / "val", tmp_path, detector, config)


def test_training_command_errors(tmp_path, tiny_split):
    assert_user_error(run_cli("train", "--data", tmp_path / "nothing", "--out", tmp_path / "m"), "nothing")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "last.pt").write_bytes(b"\x00" * 10)
    result = run_cli(*_train_command(tiny_split, tmp_path / "m")[3:])
    assert_user_error(result, "last.pt", "cannot read the last checkpoint")


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"monitor": "map"}, "monitor must be"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"loss_weights": {"loss_classifier": 1.0}}, "loss_weights must name"),
    ],
)
def test_bad_settings(bad, message):
    with pytest.raises(ChocoError, match=message):
        train.TrainConfig(**bad)
