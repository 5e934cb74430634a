"""Training and inference speed of both detectors in each precision and memory layout, in one run.

    python benchmarks/precision_speed.py                         # the cpu profile's settings, on this CPU
    python benchmarks/precision_speed.py --csv benchmarks/results/precision_speed_cpu.csv
    python benchmarks/precision_speed.py --device cuda --profile full

For the Faster R-CNN (the profile's backbone, input, RoIs and batch) and YOLO12s (the profile's
square input and batch), each built as training builds it (``--start profile``: the Faster R-CNN from
its ImageNet start when the weights are installed, with the frozen stages and frozen batch norm that
start brings; YOLO12s from random weights, as the profile trains it) or both from random weights
(``--start random``), on the same images (the tiny embedded dataset augmented at the profile's
working side, or ``--data``'s split): images/s of a training step (forward, backward, optimiser
step) and of an eval-mode pass, in fp32, fp32 with ``channels_last``, bf16 autocast and bf16 with
``channels_last`` (fp16 with a GradScaler too on CUDA), and each one's ratio to fp32. The first line
says whether the CPU has bf16 units: without them bf16 is emulated.

The start matters: from random weights every batch norm trains, from the ImageNet start the stem
and first stages are frozen and each frozen batch norm is an fp32 multiply-add between bf16
convolutions. A table from random weights once showed the Faster R-CNN 1.4× faster in bf16 on a CPU
where its real training ran at 0.65×; from the profile's start it still showed parity there. Four
pre-seen batches without training's online transforms are not an epoch of new ones: for the Faster
R-CNN, a real training run is the number to trust (docs/cpu-profile.md).

`chocolib.precision.CPU_BF16_FASTER` (what ``amp=auto`` picks on a CPU with bf16 units) holds what
real training runs and this table measured on such a CPU. A measurement, never part of the pipeline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def variants(device: torch.device) -> list[tuple[str, str, bool]]:
    """(name, chocolib.precision setting, channels_last)."""
    rows = [("fp32", "off", False), ("fp32 + channels_last", "off", True), ("bf16", "bf16", False), ("bf16 + channels_last", "bf16", True)]
    return rows + ([("fp16 + GradScaler", "fp16", False)] if device.type == "cuda" else [])


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def first_batches(loader, count: int) -> list:
    """The loader's first `count` batches, cycling over it when it has fewer."""
    batches = []
    while len(batches) < count:
        batches.extend(loader)
    return batches[:count]


def images_per_s(run, batches, device) -> float:
    """Images/s of `run(images, targets)` over every batch but the first, after one untimed pass
    over all of them: the Faster R-CNN's photos come in several sizes, and each new size costs the
    first variant measured its kernels' set-up (fp32 ran 1.6× slower first than after its batches
    were seen once, on a 2-core EPYC)."""
    for images, targets in batches:
        run(images, targets)
    _sync(device)
    started, seen = time.perf_counter(), 0
    for images, targets in batches[1:]:
        run(images, targets)
        seen += len(images)
    _sync(device)
    return seen / (time.perf_counter() - started)


def train_and_infer(model, step, infer, batches, numeric, device) -> tuple[float, float]:
    """(training images/s of `step`, eval-mode images/s of `infer`) on the same batches."""
    model.train()
    train_rate = images_per_s(step, batches, device)
    model.eval()
    with torch.inference_mode(), numeric.autocast():
        return train_rate, images_per_s(infer, batches, device)


def faster_rcnn_to_time(settings, start: str, channels_last: bool):
    """The Faster R-CNN and its training settings as `train` builds them from the profile (``start``
    "profile": its pretrained start, frozen stages and frozen batch norm included) or from random
    weights ("random"), in the classic or channels-last layout (DetectorConfig.channels_last)."""
    from chocolib import models, train

    pretrained = "none" if start == "random" else None  # None: the profile's own start
    detector, config = train.configs_for(settings, 0, pretrained=pretrained, channels_last=channels_last)
    torch.manual_seed(0)
    model, _ = models.build_detector(detector)
    return model, config


def measure_faster_rcnn(split: Path, settings, device, amp: str, channels_last: bool, steps: int, start: str) -> tuple[float, float]:
    from torch.utils.data import DataLoader

    from chocolib import dataset, engine, precision, train

    model, config = faster_rcnn_to_time(settings, start, channels_last)
    model.to(device)
    numeric = precision.resolve(amp, device, "faster_rcnn")
    optimizer, _ = train.build_optimizer(model, config, 100)
    scaler = numeric.grad_scaler()
    loader = DataLoader(
        dataset.DetectionDataset(split / "train"), batch_size=config.batch_size, shuffle=False, collate_fn=dataset.collate_fn
    )
    batches = first_batches(loader, steps + 1)

    def step(images, targets):
        images, targets = engine.to_device(images, targets, device)
        with numeric.autocast():
            loss = train.weighted_loss(model(images, targets), config.loss_weights)
        engine.backward_step(loss, model, optimizer, scaler, config.clip_grad_norm)

    def infer(images, targets):
        model([i.to(device) for i in images])

    return train_and_infer(model, step, infer, batches, numeric, device)


def measure_yolo(split: Path, settings, device, amp: str, channels_last: bool, steps: int, start: str) -> tuple[float, float]:
    from torch.utils.data import DataLoader

    from chocolib import engine, precision, train_yolo
    from chocolib.models import yolo12

    # every profile trains YOLO12s from random weights offline; --start random asks for the same
    model_config, config = train_yolo.configs_for(settings, 0, pretrained="none")
    torch.manual_seed(0)
    model = yolo12.build_yolo12(model_config).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    numeric = precision.resolve(amp, device, "yolo12")
    optimizer, _ = train_yolo.build_optimizer(model, config, 100)
    scaler = numeric.grad_scaler()
    draws = train_yolo.TrainingDraws(split, model_config.image_size, config.seed, config.mosaic)
    draws.set_epoch(1)
    loader = DataLoader(draws, batch_size=config.batch_size, shuffle=False, collate_fn=train_yolo.collate_draws)
    batches = first_batches([(images, targets) for images, targets, _ in loader], steps + 1)
    memory = torch.channels_last if channels_last else torch.contiguous_format

    def step(images, targets):
        images = images.to(device).contiguous(memory_format=memory)
        with numeric.autocast():
            loss, _ = yolo12.loss(model, images, targets)
        engine.backward_step(loss, model, optimizer, scaler, config.grad_clip)

    def infer(images, targets):
        model(images.to(device).contiguous(memory_format=memory))

    return train_and_infer(model, step, infer, batches, numeric, device)


def main() -> None:
    import pandas as pd
    from train_speed import tiny_split

    from chocolib import fileio, models, precision, profiles

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=list(profiles.PROFILES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=4, help="measured training steps (and inference batches) per variant")
    parser.add_argument("--models", nargs="+", default=["faster_rcnn", "yolo12"], choices=["faster_rcnn", "yolo12"])
    parser.add_argument(
        "--start",
        default="profile",
        choices=["profile", "random"],
        help="weights to time from: the profile's start, as training builds the model (default), or random weights",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="augmented split (train/) to time on; default: made from the tiny embedded dataset"
    )
    parser.add_argument("--csv", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()

    settings = profiles.get(args.profile)
    device = models.select_device(args.device)
    units = "has bf16 units (AVX512-BF16/AMX)" if precision.cpu_has_native_bf16() else "has NO bf16 units: bf16 is emulated"
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, the CPU {units}; profile {settings.name}, {args.steps} measured steps, start {args.start}",
        flush=True,
    )
    measure = {"faster_rcnn": measure_faster_rcnn, "yolo12": measure_yolo}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        split = args.data or tiny_split(Path(tmp), settings.work_side)
        for model in args.models:
            for name, amp, channels_last in variants(device):
                train_rate, infer_rate = measure[model](split, settings, device, amp, channels_last, args.steps, args.start)
                rows.append({"model": model, "variant": name, "train images/s": train_rate, "inference images/s": infer_rate})
                print(f"{model:<12} {name:<22} train {train_rate:7.2f} images/s   inference {infer_rate:7.2f} images/s", flush=True)
    table = pd.DataFrame(rows)
    for column in ("train images/s", "inference images/s"):
        fp32 = table[table["variant"] == "fp32"].set_index("model")[column]
        table[column.replace("images/s", "× fp32")] = table[column] / table["model"].map(fp32)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    chosen = {model: precision.resolve("auto", device, model).line() for model in args.models}
    print("summary: amp=auto here → " + "; ".join(f"{model}: {line}" for model, line in chosen.items()))
    if args.csv:
        fileio.write_text(args.csv, table.to_csv(index=False, float_format="%.4f"))


if __name__ == "__main__":
    main()
