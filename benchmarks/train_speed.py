"""Benchmark of training and inference speed: chocolib's loop against a plain torchvision loop.

    python benchmarks/train_speed.py                          # cpu profile's settings on the CPU
    python benchmarks/train_speed.py --profile full --device cuda   # the seed's settings on a GPU
    python benchmarks/train_speed.py --data DIR               # an augmented split (augment's --out)
    python benchmarks/train_speed.py --data DIR --sweep       # training images/s across input sizes and RoI samples

Both loops train the same model (same settings, same initial weights) on the same images in the
same batches with the same optimiser: `chocolib.train.train` for a few steps, and the loop of
torchvision's detection tutorial written out below. chocolib's figure counts training steps only
(its per-epoch validation is timed apart), so the ratio measures what the pipeline adds to a step:
it should be ≥ 1.0 within noise. Inference is model.eval() over validation images in batches.
Without --data, the split is made from the tiny embedded dataset (generated, no download).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset


def tiny_split(tmp: Path, work_side: int) -> Path:
    from chocolib import annotations, augment, synthetic

    data = synthetic.generate(tmp / "embedded", "tiny", seed=0)
    labels = tmp / "labels"
    annotations.import_annotations(data / "annotations" / "roboflow_yolo", data / "train", labels)
    out = tmp / "augmented"
    augment.augment(data / "train", labels, out, augment.AugmentParams(passes=3, val_fraction=0.25, work_side=work_side))
    return out


def plain_loop(split: Path, detector, config, device, steps: int, warmup: int) -> float:
    """Images/s of the textbook loop: model(images, targets), sum of losses, backward, step.

    It sees the images in the order chocolib's epochs 1 (warm-up) and 2 (measured) see them, under the
    same seeds, so both loops do the same arithmetic and the ratio is what chocolib adds around it.
    """
    from chocolib import dataset, engine, models, train

    torch.manual_seed(config.seed)
    model, _ = models.build_detector(detector)
    model.to(device).train()
    optimizer, scheduler = train.build_optimizer(model, config, steps + warmup)
    images_set = dataset.DetectionDataset(split / "train")
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    rate = 0.0
    for epoch, n_steps in ((1, warmup), (2, steps)):
        order = engine.epoch_order(len(images_set), n_steps * config.batch_size, config.seed, epoch)
        loader = DataLoader(
            Subset(images_set, order),
            batch_size=config.batch_size,
            collate_fn=dataset.collate_fn,
            num_workers=0 if device.type == "cpu" else 4,
            pin_memory=device.type == "cuda",
        )
        torch.manual_seed(engine.epoch_seed(config.seed, epoch, "train"))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seen, started = 0, time.perf_counter()
        for images, targets in loader:
            images = [i.to(device) for i in images]
            targets = [{k: (v.to(device) if hasattr(v, "to") else v) for k, v in t.items()} for t in targets]
            with torch.autocast(device.type, enabled=scaler is not None):
                loss_dict = model(images, targets)
                loss = sum(config.loss_weights[k] * v for k, v in loss_dict.items())
            optimizer.zero_grad()
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            seen += len(images)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rate = seen / (time.perf_counter() - started)
    return rate


def chocolib_loop(split: Path, detector, config, steps: int, out: Path) -> float:
    """Images/s of chocolib.train.train: epoch 1 is the warm-up, epoch 2 is measured."""
    from chocolib import train

    # epoch 1 (the warm-up, `steps` long like the plain loop's) is discarded; epoch 2 is measured
    config = train.TrainConfig(**{**config.as_dict(), "epochs": 2, "steps_per_epoch": steps})
    summary = train.train(split / "train", split / "val", out, detector, config)
    return float(summary.history["images_per_s"].iloc[-1])


def inference(split: Path, detector, device, batch_size: int, repeats: int) -> float:
    from chocolib import dataset, models

    torch.manual_seed(0)
    model, _ = models.build_detector(detector)
    model.to(device).eval()
    loader = DataLoader(dataset.DetectionDataset(split / "val"), batch_size=batch_size, collate_fn=dataset.collate_fn)
    batches = [[i.to(device) for i in images] for images, _ in loader]
    with torch.inference_mode():
        model(batches[0])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        started, seen = time.perf_counter(), 0
        for _ in range(repeats):
            for images in batches:
                model(images)
                seen += len(images)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


#: (min_size, max_size, RoIs sampled per image): the seed's, then cheaper ones
SWEEP = [(800, 1333, 512), (800, 1333, 128), (512, 768, 512), (512, 768, 128), (384, 576, 512), (384, 576, 128)]


def sweep(split: Path, settings, device, steps: int) -> None:
    from chocolib import train

    print(f"{'input':>10} {'RoIs':>5} {'train img/s':>12} {'s/step':>7}")
    for min_size, max_size, rois in SWEEP:
        detector, config = train.configs_for(
            settings, 0, pretrained="none", min_size=min_size, max_size=max_size, box_batch_size_per_image=rois
        )
        rate = plain_loop(split, detector, config, device, steps, warmup=2)
        print(f"{min_size:>4}/{max_size:<5} {rois:>5} {rate:12.2f} {config.batch_size / rate:7.2f}", flush=True)


def profile_steps(split: Path, detector, config, device, steps: int = 2) -> None:
    """Where a training step's time goes: torch.profiler's operators, by total time."""
    from torch.profiler import ProfilerActivity, profile

    from chocolib import dataset, models, train

    torch.manual_seed(0)
    model, _ = models.build_detector(detector)
    model.to(device).train()
    optimizer, _ = train.build_optimizer(model, config, 100)
    loader = DataLoader(
        dataset.DetectionDataset(split / "train"), batch_size=config.batch_size, shuffle=False, collate_fn=dataset.collate_fn
    )
    batches = iter(loader)

    def step():
        images, targets = next(batches)
        loss = train.weighted_loss(
            model([i.to(device) for i in images], [{k: (v.to(device) if hasattr(v, "to") else v) for k, v in t.items()} for t in targets]),
            config.loss_weights,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
    events = sorted((e for e in prof.key_averages() if e.key.startswith(("aten::", "torchvision::"))), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    print(f"{'operator':<40} {'self CPU %':>10}")
    for event in events[:8]:
        print(f"{event.key:<40} {100 * event.self_cpu_time_total / total:10.1f}")


def main() -> None:
    from chocolib import models, profiles, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=list(profiles.PROFILES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--data", type=Path, default=None, help="augmented split (train/ and val/); default: made from the tiny embedded dataset"
    )
    parser.add_argument("--min-size", type=int, default=None, help="override the profile's input size (shorter side)")
    parser.add_argument("--max-size", type=int, default=None, help="override the profile's longer side at most")
    parser.add_argument("--roi-samples", type=int, default=None, help="override RoIs sampled per training image")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--sweep", action="store_true", help="only the plain loop, over the settings in SWEEP (how the cpu profile was chosen)"
    )
    parser.add_argument("--profiler", action="store_true", help="only torch.profiler's top operators over a few training steps")
    parser.add_argument("--steps", type=int, default=12, help="measured training steps per loop")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of both training loops (best of each is kept)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the validation images for inference")
    args = parser.parse_args()

    settings = profiles.get(args.profile)
    detector, config = train.configs_for(
        settings,
        0,
        pretrained="none",
        device=args.device,
        min_size=args.min_size,
        max_size=args.max_size,
        box_batch_size_per_image=args.roi_samples,
        batch_size=args.batch_size,
    )
    device = models.select_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        split = args.data or tiny_split(tmp, settings.work_side)
        if args.profiler:
            return profile_steps(split, detector, config, device)
        if args.sweep:
            print(f"plain loop, batch {config.batch_size}, device {device}, {torch.get_num_threads()} threads; data {split}")
            return sweep(split, settings, device, args.steps)
        print(
            f"profile {settings.name}: input {detector.min_size}/{detector.max_size}, batch {config.batch_size}, "
            f"{detector.box_batch_size_per_image} RoIs/image, device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
            f"{args.steps} measured steps, best of {args.rounds} rounds; data {split}"
        )
        # Rounds in A-B, B-A order, best of each: in one process the later of two identical loops
        # runs a few % slower (allocator state), and a background hiccup slows one round only.
        rates = {"plain": 0.0, "chocolib": 0.0}
        loops = {
            "plain": lambda r: plain_loop(split, detector, config, device, args.steps, warmup=args.steps),
            "chocolib": lambda r: chocolib_loop(split, detector, config, args.steps, tmp / f"chocolib-run-{r}"),
        }
        for round_ in range(args.rounds):
            for name in ("plain", "chocolib") if round_ % 2 == 0 else ("chocolib", "plain"):
                rates[name] = max(rates[name], loops[name](round_))
        plain, ours = rates["plain"], rates["chocolib"]
        infer = inference(split, detector, device, config.batch_size, args.repeats)
    rows = [("train, plain torchvision loop", plain), ("train, chocolib.train", ours), ("inference (eval mode)", infer)]
    for name, value in rows:
        print(f"{name:<32} {value:8.2f} images/s")
    print(
        f"summary: chocolib/plain training ratio {ours / plain:.3f} (1.0: no overhead; a few steps vary by a few %), "
        f"inference {infer:.2f} images/s"
    )


if __name__ == "__main__":
    main()
