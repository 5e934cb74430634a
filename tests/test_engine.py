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
