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
    printed on stdout, nothing is written to the home folder, Ultralytics' sync is off and the
    process's thread settings are what they were."""
    script = textwrap.dedent("""
        import json, os, socket

        import cv2

        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        from chocolib.models import yolo12

        cv2_threads = cv2.getNumThreads()
        model = yolo12.build_yolo12()
        from ultralytics.utils import SETTINGS, is_online

        print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()), "nc": model.model[-1].nc,
                          "sync": SETTINGS["sync"], "online": is_online(), "names": model.names[12],
                          "omp": os.environ.get("OMP_NUM_THREADS"), "cv2_threads_kept": cv2.getNumThreads() == cv2_threads}))
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
    # the import's OMP_NUM_THREADS=1 would make every later child process (a notebook kernel, a
    # resumed training) run on one core
    assert record["omp"] is None and record["cv2_threads_kept"]
    assert 9_000_000 < record["parameters"] < 9_500_000  # YOLO12s with a 13-class head
    assert not any(home.rglob("*")), "Ultralytics wrote into the home folder"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return yolo12.build_yolo12(yolo12.YoloConfig(image_size=128))


def test_loss_components_and_gradients(model):
    model.train()
    images = torch.rand(2, 3, 128, 128)
    targets = [
        {"boxes": torch.tensor([[10.0, 10.0, 50.0, 40.0], [60.0, 60.0, 120.0, 100.0]]), "labels": torch.tensor([1, 13])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]  # an image without chocolates
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
    raw = _raw(
        [
            (50, 50, 20, 20, 0, 0.9),  # Jelly White
            (51, 50, 20, 20, 0, 0.8),  # the same chocolate again: suppressed
            (51, 50, 20, 20, 3, 0.7),  # same place, another class: kept (class-wise NMS)
            (150, 150, 10, 10, 12, 0.04),  # below the score floor
            (200, 100, 30, 10, 12, 0.5),
        ]
    )  # Stracciatella
    [found] = yolo12.decode(raw, yolo12.YoloConfig(score_thresh=0.05, nms_iou=0.5))
    assert found["labels"].tolist() == [1, 4, 13]
    assert found["scores"].tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert found["boxes"][0].tolist() == pytest.approx([40, 40, 60, 60])
    [capped] = yolo12.decode(raw, yolo12.YoloConfig(max_detections=2))
    assert capped["labels"].tolist() == [1, 4]


def test_bad_image_size():
    with pytest.raises(ChocoError, match="multiple of 32"):
        yolo12.YoloConfig(image_size=100)


def test_without_network_the_coco_start_falls_back_to_random_weights_with_one_line(no_network, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model = yolo12.build_yolo12(yolo12.YoloConfig(image_size=64))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level("INFO", logger="chocolib.models.yolo12"):
        assert yolo12.load_start_weights(model, "auto") == "none"
    assert [r.message for r in caplog.records] == ["yolo12: COCO weights unavailable (offline?): YOLO12s starts from random weights"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ChocoError, match="COCO weights of YOLO12s cannot be had"):
        yolo12.load_start_weights(model, "coco")
    assert yolo12.load_start_weights(model, "none") == "none"


def test_an_ultralytics_checkpoint_loads_as_chocolibs_detector(tmp_path):
    """What Ultralytics' trainer saves (its pickled model as 'ema', half precision) → the same
    detections as the model it saved; a COCO-style 80-class head transfers all but its class layers."""
    config = yolo12.YoloConfig(image_size=64)
    torch.manual_seed(0)
    trained = yolo12.build_yolo12(config).eval()
    torch.save({"ema": trained.half(), "model": None, "train_args": {"imgsz": 64}}, tmp_path / "best.pt")
    detector, loaded = yolo12.from_ultralytics_checkpoint(tmp_path / "best.pt")
    assert loaded.image_size == 64
    reference = yolo12.YoloDetector(trained.float(), config).eval()
    image = torch.rand(3, 48, 64)
    with torch.inference_mode():
        assert torch.allclose(
            detector.model(image[None].new_zeros(1, 3, 64, 64))[0], reference.model(image[None].new_zeros(1, 3, 64, 64))[0], atol=1e-2
        )

    yolo12.ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    coco = DetectionModel("yolo12s.yaml", ch=3, nc=80, verbose=False)
    fresh = yolo12.build_yolo12(config)
    copied = yolo12.transfer(fresh, coco.state_dict())
    own = fresh.state_dict()
    assert 0 < copied < len(own)
    assert torch.equal(own["model.0.conv.weight"], coco.state_dict()["model.0.conv.weight"])
