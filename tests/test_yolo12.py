"""YOLO12s from Ultralytics' YAML: built offline and silently, its loss, and chocolib's decoding."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from chocolib import classes
from chocolib.errors import ChocoError
from chocolib.models import yolo12


def test_built_offline_without_writing_or_printing(tmp_path):
    """In a fresh process with the network blocked and an empty home: the model builds, nothing is
    printed on stdout, nothing is written to the home folder, and Ultralytics' sync is off."""
    script = textwrap.dedent("""
        import json, socket

        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        from chocolib.models import yolo12

        model = yolo12.build_yolo12()
        from ultralytics.utils import SETTINGS, is_online

        print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()), "nc": model.model[-1].nc,
                          "sync": SETTINGS["sync"], "online": is_online(), "names": model.names[12]}))
    """)
    home = tmp_path / "home"
    home.mkdir()
    # matplotlib (imported by Ultralytics) keeps its own cache: give it its own folder, outside home
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"Ultralytics printed on stdout: {result.stdout[:500]}"
    record = json.loads(lines[0])
    assert record["nc"] == 13 and record["names"] == classes.KAGGLE_NAMES[12]
    assert record["sync"] is False and record["online"] is False
    assert 9_000_000 < record["parameters"] < 9_500_000  # YOLO12s with a 13-class head
    assert not any(home.rglob("*")), "Ultralytics wrote into the home folder"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return yolo12.build_yolo12(yolo12.YoloConfig(image_size=128))


def test_loss_components_and_gradients(model):
    model.train()
    images = torch.rand(2, 3, 128, 128)
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 40.0], [60.0, 60.0, 120.0, 100.0]]), "labels": torch.tensor([1, 13])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]  # an image without chocolates
    model.zero_grad()
    total, parts = yolo12.loss(model, images, targets)
    assert list(parts) == list(yolo12.LOSS_NAMES) and all(v > 0 for v in parts.values())
    # Ultralytics' sum: the gained components times the batch size
    assert total.item() == pytest.approx(2 * sum(parts.values()), rel=1e-5)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert sum(p.grad.abs().sum().item() for p in model.parameters() if p.grad is not None) > 0


def test_eval_output_shape(model):
    model.eval()
    with torch.no_grad():
        raw = model(torch.rand(1, 3, 128, 128))
    prediction = raw[0] if isinstance(raw, (tuple, list)) else raw
    # 4 box values + 13 class scores for each of (16² + 8² + 4²) anchors at strides 8, 16, 32
    assert prediction.shape == (1, 4 + 13, 16 * 16 + 8 * 8 + 4 * 4)


def _raw(rows):
    """(cx, cy, w, h, class index, score) rows → a (1, 17, anchors) eval-mode tensor."""
    raw = torch.zeros(1, 4 + 13, len(rows))
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        raw[0, :4, i] = torch.tensor([cx, cy, w, h])
        raw[0, 4 + cls, i] = score
    return raw


def test_decode_keeps_the_best_class_and_suppresses_overlaps():
    raw = _raw([(50, 50, 20, 20, 0, 0.9),     # Jelly White
                (51, 50, 20, 20, 0, 0.8),     # the same chocolate again: suppressed
                (51, 50, 20, 20, 3, 0.7),     # same place, another class: kept (class-wise NMS)
                (150, 150, 10, 10, 12, 0.04),  # below the score floor
                (200, 100, 30, 10, 12, 0.5)])  # Stracciatella
    [found] = yolo12.decode(raw, yolo12.YoloConfig(score_thresh=0.05, nms_iou=0.5))
    assert found["labels"].tolist() == [1, 4, 13]
    assert found["scores"].tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert found["boxes"][0].tolist() == pytest.approx([40, 40, 60, 60])
    [capped] = yolo12.decode(raw, yolo12.YoloConfig(max_detections=2))
    assert capped["labels"].tolist() == [1, 4]


def test_bad_image_size():
    with pytest.raises(ChocoError, match="multiple of 32"):
        yolo12.YoloConfig(image_size=100)
