"""The training engine both loops share: the weight average, the step, the non-finite loss, the settings checks."""

import math

import pytest
import torch

from chocolib import engine
from chocolib.errors import ChocoError


def test_the_weight_average_ramps_up_and_follows_the_weights():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = engine.ModelEMA(model, decay=0.9, tau=2.0)
    start = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    decay = 0.9 * (1 - math.exp(-1 / 2.0))
    assert ema.current_decay() == pytest.approx(decay)
    assert torch.allclose(ema.module[0].weight, decay * start + (1 - decay) * model[0].weight)
    assert int(ema.module[1].num_batches_tracked) == 7  # integer buffers are copied, not averaged
    assert not any(p.requires_grad for p in ema.module.parameters())
    for _ in range(200):
        ema.update(model)
    assert torch.allclose(ema.module[0].weight, model[0].weight, atol=1e-6)  # a constant model is reached

    restored = engine.ModelEMA(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)), decay=0.9, tau=2.0)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 201 and torch.equal(restored.module[0].weight, ema.module[0].weight)


def test_the_step_clips_the_gradient_norm():
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = 1000 * model(torch.ones(8, 4)).sum()
    engine.backward_step(loss, model, optimizer, clip_grad_norm=1.0)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    assert norm == pytest.approx(1.0, rel=1e-4)


def test_a_non_finite_loss_names_step_components_and_photos(tmp_path):
    engine.check_finite(1.5, {"a": 1.0}, 1, 0, ["L1"], tmp_path)
    with pytest.raises(ChocoError, match=r"non-finite loss \(nan\) at epoch 2, step 4 \(a=nan, b=1\); the batch's photos: L1, L2"):
        engine.check_finite(math.nan, {"a": math.nan, "b": 1.0}, 2, 3, ["L1", "L2"], tmp_path)


def test_epoch_orders_and_seeds_are_reproducible():
    assert engine.epoch_order(5, 12, seed=0, epoch=1) == engine.epoch_order(5, 12, seed=0, epoch=1)
    assert engine.epoch_order(5, 12, seed=0, epoch=1) != engine.epoch_order(5, 12, seed=0, epoch=2)
    assert sorted(engine.epoch_order(5, 10, seed=0, epoch=1)) == sorted(list(range(5)) * 2)
    assert engine.epoch_seed(0, 1, "train") != engine.epoch_seed(0, 1, "validation") < 2**63


def test_reading_a_folder_without_a_run_names_both_notebooks(tmp_path):
    with pytest.raises(ChocoError, match="04_faster_rcnn_training.ipynb or 03_yolo12_attempt.ipynb"):
        engine.read_history(tmp_path)


def _row(epoch: int, val_loss: float, val_f1: float) -> dict:
    return {
        "epoch": epoch,
        "train_loss": 1.0,
        "val_loss": val_loss,
        "val_f1": val_f1,
        "val_f1_best": val_f1,
        "lr": 1e-3,
        "seconds": 1.0,
        "images_per_s": 2.0,
    }


# the committed canonical run's YOLO12s (cc04269, models/yolo12/history.csv): validation loss and
# the best count F1 of the threshold sweep, epoch by epoch; the loss is lowest at epoch 8 (F1 0.1024),
# while the count F1 still doubles to epoch 10 (0.2035)
YOLO_LOSSES = [18.895, 10.838, 9.8336, 8.6057, 7.4165, 6.5441, 6.4133, 6.2389, 6.3344, 6.4517]
YOLO_BEST_F1 = [0.0, 0.0, 0.0, 0.0159, 0.0536, 0.0265, 0.0837, 0.1024, 0.1457, 0.2035]


# scripted validation histories: (monitor, patience, val_loss per epoch, val_f1 per epoch, best epoch, last epoch run)
SCRIPTS = [
    # the loss improves at 1, 2 and 5; patience 3 never runs out within 6 epochs
    ("val_loss", 3, [1.0, 0.8, 0.9, 0.85, 0.7, 0.75], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 5, 6),
    # patience 2: after the best at 2, epochs 3 and 4 are no better, so the run stops after 4
    ("val_loss", 2, [1.0, 0.8, 0.9, 0.85, 0.7, 0.75], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 2, 4),
    # an equal value is not better: the best stays the first of the tie
    ("val_loss", 2, [1.0, 0.8, 0.8, 0.8, 0.7, 0.6], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 2, 4),
    # val_f1 is better when higher: the best is epoch 3 whatever the loss does, stop after 3 + 2
    ("val_f1", 2, [0.5, 0.4, 0.3, 0.2, 0.1, 0.05], [0.5, 0.6, 0.9, 0.8, 0.85, 0.95], 3, 5),
    # patience 1 stops at the first epoch that is no better
    ("val_f1", 1, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.2, 0.4, 0.3, 0.9, 0.9, 0.9], 2, 3),
    # YOLO12s: the loss keeps epoch 8, the sweep's count F1 the last one
    ("val_loss", 10, YOLO_LOSSES, YOLO_BEST_F1, 8, 10),
    ("val_f1_best", 10, YOLO_LOSSES, YOLO_BEST_F1, 10, 10),
]


@pytest.mark.parametrize("monitor, patience, losses, f1s, best_epoch, last_epoch", SCRIPTS)
def test_early_stopping_and_the_best_epoch_follow_a_scripted_history(tmp_path, monitor, patience, losses, f1s, best_epoch, last_epoch):
    from types import SimpleNamespace

    config = SimpleNamespace(epochs=len(losses), patience=patience, monitor=monitor)
    progress = engine.Progress()
    ran = 0
    for epoch, (loss, f1) in enumerate(zip(losses, f1s), start=1):
        ran = epoch
        weights = {"w": torch.tensor([float(epoch)])}  # the epoch's 'model', so best.pt shows which it kept
        if engine.end_epoch(tmp_path, progress, _row(epoch, loss, f1), config, {"model": weights}, {"model": weights}):
            break
    assert ran == last_epoch
    assert progress.best_epoch == best_epoch and progress.finished
    assert progress.stopped_early == (last_epoch < len(losses))
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == best_epoch and float(best["model"]["w"]) == best_epoch and best["monitor"] == monitor
    assert best["value"] == pytest.approx((losses if monitor == "val_loss" else f1s)[best_epoch - 1])
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert float(last["model"]["w"]) == last_epoch and len(last["history"]) == last_epoch
    assert len(engine.read_history(tmp_path)) == last_epoch


def test_key_differences_name_each_changed_setting_and_can_leave_out_what_one_side_lacks():
    stored = {
        "detector": {"min_size": 512, "anchor_sizes": [16, 32]},
        "train": {"epochs": 10, "seed": 0},
        "online": {"camera": None, "copy_paste": {"occlude_p": 0.3, "scale": [0.5, 1.3]}},
        "data": "aaaa",
        "device": "cpu",  # a config.json records more than the key
    }
    key = {
        "detector": {"min_size": 512, "anchor_sizes": (16, 32), "channels_last": True},
        "train": {"epochs": 14, "seed": 1},
        "online": {"camera": None, "copy_paste": {"occlude_p": 0.6, "scale": (0.5, 1.3)}},
        "data": "bbbb",
    }
    assert engine.key_differences(stored, key) == [
        "data: 'aaaa' → 'bbbb'",
        "channels_last: None → True",
        "device: 'cpu' → None",
        "online.copy_paste: occlude_p 0.3 → 0.6",
        "epochs: 10 → 14",
        "seed: 0 → 1",
    ]
    assert engine.key_differences(stored, key, ignore=("seed",), shared_only=True) == [
        "data: 'aaaa' → 'bbbb'",
        "online.copy_paste: occlude_p 0.3 → 0.6",
        "epochs: 10 → 14",
    ]
    assert engine.key_differences(key, key) == []


def test_a_run_key_leaves_out_what_a_resume_may_change_and_holds_online_ranges_as_config_json_does():
    train = {"epochs": 3, "device": "cpu", "workers": 2, "amp": "off", "seed": 0}
    yolo = engine.run_key(4, {"image_size": 320}, train, "fingerprint")
    assert yolo == {"checkpoint_version": 4, "detector": {"image_size": 320}, "train": {"epochs": 3, "seed": 0}, "data": "fingerprint"}
    frcnn = engine.run_key(4, {}, train, "fingerprint", online={"scale": {"zoom": (0.5, 2.0)}, "camera": None})
    assert frcnn["online"] == {"scale": {"zoom": [0.5, 2.0]}, "camera": None}  # a tuple as JSON's list
    assert list(frcnn) == ["checkpoint_version", "detector", "train", "online", "data"]
