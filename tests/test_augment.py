import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision import tv_tensors

from chocolib import annotations, augment, classes, dataset
from conftest import IAPR, TWIN, assert_user_error, last_line, needs_shared, run_cli


# --------------------------------------------------------------------------------------------
# Boxes follow the pixels
# --------------------------------------------------------------------------------------------
def _objects(height: int, width: int) -> torch.Tensor:
    """Masks of an ellipse, a rotated rectangle and a triangle on a (height, width) canvas."""
    shapes = []
    for draw_shape in (
        lambda d: d.ellipse([60, 50, 150, 110], fill=1),
        lambda d: d.polygon([(200, 40), (290, 70), (270, 130), (180, 100)], fill=1),
        lambda d: d.polygon([(120, 150), (200, 220), (70, 215)], fill=1),
    ):
        img = Image.new("L", (width, height), 0)
        draw_shape(ImageDraw.Draw(img))
        shapes.append(torch.from_numpy(np.asarray(img).copy()))
    return torch.stack(shapes)


def _tight_box(mask: torch.Tensor) -> tuple[float, float, float, float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1


def test_boxes_follow_the_pixels():
    """Augment an image whose objects' masks are known, the masks transformed alongside: every kept
    box holds every pixel of its object and is not grossly larger than the object's extent."""
    height, width = 240, 360
    masks = _objects(height, width)
    image = tv_tensors.Image(torch.randint(0, 255, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)))
    xyxy = torch.tensor([_tight_box(m) for m in masks], dtype=torch.float32)
    cxcywh = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], dim=1)
    boxes = tv_tensors.BoundingBoxes(cxcywh, format="CXCYWH", canvas_size=(height, width), clamping_mode="hard")
    extent = tv_tensors.BoundingBoxes(cxcywh, format="CXCYWH", canvas_size=(height, width), clamping_mode=None)
    params = augment.AugmentParams()
    transform = augment.build_transform(params, height, width)
    valid = tv_tensors.Mask(torch.ones((1, height, width), dtype=torch.uint8))
    tolerance = 3  # pixels: masks are resized with nearest-neighbour, boxes exactly
    checked = 0
    for trial in range(80):
        torch.manual_seed(trial)
        sample = transform(
            {"image": image, "boxes": boxes, "extent": extent, "labels": torch.arange(3), "valid": valid, "masks": tv_tensors.Mask(masks)}
        )
        # pixels within 2 of the canvas edge or of the rotation's fill: an object touching them was cut
        off_picture = torch.nn.functional.pad(1 - sample["valid"].float(), (1, 1, 1, 1), value=1)
        near_cut = torch.nn.functional.max_pool2d(off_picture[None], 5, stride=1, padding=2)[0, :, 1:-1, 1:-1] > 0
        out = augment.sanitize(sample, params)
        out_xyxy = torch.cat([out["boxes"][:, :2] - out["boxes"][:, 2:] / 2, out["boxes"][:, :2] + out["boxes"][:, 2:] / 2], dim=1)
        for label, (x0, y0, x1, y1) in zip(out["labels"].tolist(), out_xyxy.tolist()):
            mask = sample["masks"][label]
            if mask.sum() == 0:
                continue
            mx0, my0, mx1, my1 = _tight_box(mask)
            assert mx0 >= x0 - tolerance and my0 >= y0 - tolerance and mx1 <= x1 + tolerance and my1 <= y1 + tolerance, (trial, label)
            if not (mask.bool() & near_cut[0]).any():
                # Whole object in view. A rotated box is the rectangle around the turned box, so it
                # outgrows the turned object: 2× in area for the ellipse, about 2.5× for the tilted
                # rectangle turned upright (the worst case for these compact shapes). 3× is "gross".
                assert (x1 - x0) * (y1 - y0) <= 3.0 * (mx1 - mx0 + tolerance) * (my1 - my0 + tolerance), (trial, label)
            checked += 1
    assert checked > 100


def test_a_box_mostly_off_the_picture_is_dropped():
    params = augment.AugmentParams(min_visible=0.3)
    image = tv_tensors.Image(torch.zeros((3, 100, 100), dtype=torch.uint8))
    valid = torch.zeros((1, 100, 100), dtype=torch.uint8)
    valid[:, :, :50] = 1  # the right half is rotation fill
    # 1: on the picture; 2: on the fill; 3: a quarter on the picture; 4: cropped to a fifth of its extent
    boxes = tv_tensors.BoundingBoxes(
        torch.tensor([[25.0, 50, 20, 20], [90.0, 50, 20, 20], [55.0, 50, 20, 20], [2.0, 50, 4, 20]]),
        format="CXCYWH",
        canvas_size=(100, 100),
        clamping_mode="hard",
    )
    extent = tv_tensors.BoundingBoxes(
        torch.tensor([[25.0, 50, 20, 20], [90.0, 50, 20, 20], [55.0, 50, 20, 20], [-6.0, 50, 20, 20]]),
        format="CXCYWH",
        canvas_size=(100, 100),
        clamping_mode=None,
    )
    out = augment.sanitize(
        {"image": image, "boxes": boxes, "extent": extent, "labels": torch.tensor([1, 2, 3, 4]), "valid": tv_tensors.Mask(valid)}, params
    )
    assert out["labels"].tolist() == [1]


# --------------------------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------------------------
def _presence(n_photos: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"L{i:07d}": rng.multinomial(6, np.ones(13) / 13) for i in range(n_photos)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_covers_every_class_and_is_deterministic(seed):
    presence = _presence(90, seed)
    train, val = augment.stratified_split(presence, 0.2, seed)
    assert len(val) == 18 and len(train) == 72 and not set(train) & set(val)
    assert (np.stack([presence[s] for s in val]).sum(axis=0) > 0).all()
    share = np.stack([presence[s] for s in val]).sum(axis=0) / np.stack(list(presence.values())).sum(axis=0)
    assert share.min() > 0.1 and share.max() < 0.3  # proportions stay near the fraction
    assert augment.stratified_split(presence, 0.2, seed) == (train, val)
    assert augment.stratified_split(presence, 0.2, seed + 10) != (train, val)


def test_split_grows_validation_when_coverage_needs_it(caplog):
    presence = {f"L{i}": np.eye(13, dtype=int)[i] for i in range(13)}  # one class per photo
    presence.update({f"L{i}": np.eye(13, dtype=int)[i - 13] for i in range(13, 26)})
    train, val = augment.stratified_split(presence, 0.2, 0)
    assert len(val) == 13 and "needs 13 photos" in caplog.text


# --------------------------------------------------------------------------------------------
# The whole folder
# --------------------------------------------------------------------------------------------
def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_augment_tiny_end_to_end(tiny_source, tiny_labels, tmp_path):
    params = augment.AugmentParams(passes=3, val_fraction=0.25, work_side=256)
    first = augment.augment(tiny_source / "train", tiny_labels, tmp_path / "a", params, workers=2)
    n_train, n_val = first.manifest["counts"]["train_photos"], first.manifest["counts"]["val_photos"]
    assert n_train + n_val == 12 and n_val >= 3
    assert first.train_images + len(first.removed) == n_train * 4 and first.val_images == n_val
    assert len(list((tmp_path / "a" / "train" / "images").glob("*.jpg"))) == first.train_images
    for image in (tmp_path / "a" / "val" / "images").glob("*.jpg"):
        assert "_aug" not in image.stem and max(Image.open(image).size) == 256
    split = json.loads((tmp_path / "a" / "split.json").read_text())
    val_counts = sum(dataset.read_counts(tiny_source / "train.csv").loc[dataset.photo_id(s)] for s in split["val"])
    assert (val_counts > 0).all()  # every kind in validation

    augment.augment(tiny_source / "train", tiny_labels, tmp_path / "b", params, workers=1)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")  # same seed: same bytes, whatever the workers

    again = augment.augment(tiny_source / "train", tiny_labels, tmp_path / "a", params)
    assert again.skipped and again.line() == first.line()
    other = augment.augment(
        tiny_source / "train", tiny_labels, tmp_path / "a", augment.AugmentParams(passes=2, val_fraction=0.25, work_side=256)
    )
    assert not other.skipped and other.train_images + len(other.removed) == n_train * 3


def test_a_removed_version_can_be_replayed(tiny_source, tiny_labels, tmp_path):
    params = augment.AugmentParams(passes=2, val_fraction=0.25, work_side=256)
    summary = augment.augment(tiny_source / "train", tiny_labels, tmp_path / "a", params)
    kept = next(v for v in summary.manifest["versions"] if v["kept"] and v["pass"] > 0)
    photo = dataset.list_photos(tiny_source / "train")[kept["stem"]]
    image, text = augment.replay(photo, tiny_labels / f"{kept['stem']}.txt", kept["pass"], params)
    assert text == (tmp_path / "a" / "train" / "labels" / f"{kept['name']}.txt").read_text()
    assert np.array_equal(np.asarray(image), np.asarray(Image.open(tmp_path / "a" / "train" / "images" / f"{kept['name']}.jpg")))


def test_augment_command_and_its_errors(tiny_source, tiny_labels, tmp_path):
    result = run_cli(
        "augment",
        "--images",
        tiny_source / "train",
        "--labels",
        tiny_labels,
        "--out",
        tmp_path / "aug",
        "--passes",
        "1",
        "--val-fraction",
        "0.25",
        "--work-side",
        "200",
    )
    assert result.returncode == 0, result.stderr
    line = last_line(result.stdout)
    assert line.startswith("train=") and " val=" in line and " removed=" in line
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert_user_error(
        run_cli("augment", "--images", tiny_source / "train", "--labels", tiny_labels, "--out", tmp_path / "mine"),
        "mine",
        "no augmentation manifest",
    )
    assert_user_error(
        run_cli("augment", "--images", tiny_source / "train", "--labels", tmp_path / "empty", "--out", tmp_path / "x"),
        "empty",
        "no label files",
    )
    assert_user_error(
        run_cli("augment", "--images", tiny_source / "train", "--labels", tiny_labels, "--out", tmp_path / "x", "--val-fraction", "1.5"),
        "--val-fraction",
    )
    stray = tmp_path / "labels2"
    stray.mkdir()
    (stray / "L0000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert_user_error(
        run_cli("augment", "--images", tiny_source / "train", "--labels", stray, "--out", tmp_path / "x"),
        "L0000001.txt",
        "no photo L0000001",
    )


# --------------------------------------------------------------------------------------------
# The training Dataset and the seed's collate_fn
# --------------------------------------------------------------------------------------------
def test_dataset_and_collate(tiny_source, tiny_labels, tmp_path):
    summary = augment.augment(
        tiny_source / "train", tiny_labels, tmp_path / "a", augment.AugmentParams(passes=1, val_fraction=0.25, work_side=256)
    )
    ds = dataset.DetectionDataset(summary.out / "train")
    assert len(ds) == summary.train_images
    image, target = ds[0]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8 and image.shape[0] == 3
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes) and target["boxes"].format.name == "CXCYWH"
    assert target["labels"].min() >= 1 and target["labels"].max() <= classes.NUM_CLASSES
    height, width = image.shape[-2:]
    lines = (summary.out / "train" / "labels" / f"{ds.stem(0)}.txt").read_text().split("\n")
    cls, cx, cy, w, h = (float(v) for v in lines[0].split())
    assert target["labels"][0] == int(cls) + 1
    assert target["boxes"][0].tolist() == pytest.approx([cx * width, cy * height, w * width, h * height], abs=1e-3)

    images, targets = dataset.collate_fn([ds[0], ds[1]])
    assert len(images) == 2 and images[0].dtype == torch.float32 and images[0].max() <= 1
    assert targets[0]["boxes"].format.name == "XYXY"
    assert targets[0]["boxes"][0].tolist() == pytest.approx(
        [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], abs=1e-3
    )


def test_dataset_names_a_label_without_image(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    Image.new("RGB", (32, 32)).save(tmp_path / "images" / "b.jpg")
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(Exception, match="a.txt: no image a"):
        dataset.DetectionDataset(tmp_path)


# --------------------------------------------------------------------------------------------
# The twin with the real annotation (the acceptance numbers)
# --------------------------------------------------------------------------------------------
@needs_shared
@pytest.mark.slow
def test_twin_split_and_passes(tmp_path):
    labels = tmp_path / "labels"
    annotations.import_annotations(IAPR / "annotations" / "roboflow_yolo", TWIN / "train", labels)
    first = augment.augment(TWIN / "train", labels, tmp_path / "a", augment.AugmentParams(passes=10, work_side=800))
    counts = first.manifest["counts"]
    assert (counts["train_photos"], counts["val_photos"]) == (72, 18)
    assert first.val_images == 18 and first.train_images + len(first.removed) == 792
    assert (augment.class_totals(first.manifest)["validation"] > 0).all()
    augment.augment(TWIN / "train", labels, tmp_path / "b", augment.AugmentParams(passes=10, work_side=800))
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_camera_effects_change_only_the_pixels_and_repeat_under_a_seed():
    import torch
    from torchvision import tv_tensors

    image = tv_tensors.Image(torch.randint(0, 256, (3, 60, 90), dtype=torch.uint8, generator=torch.Generator().manual_seed(3)))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[10.0, 10.0, 40.0, 30.0]]), format="XYXY", canvas_size=(60, 90))
    target = {"boxes": boxes, "labels": torch.tensor([2])}
    always = augment.camera_effects(augment.CameraParams(p=1.0))
    torch.manual_seed(7)
    out, out_target = always(image, target)
    assert isinstance(out, tv_tensors.Image) and out.dtype == torch.uint8 and out.shape == image.shape
    assert not torch.equal(out, image)
    assert torch.equal(out_target["boxes"], boxes) and torch.equal(out_target["labels"], target["labels"])
    torch.manual_seed(7)
    again, _ = always(image, target)
    assert torch.equal(again, out)
    torch.manual_seed(8)
    other, _ = always(image, target)
    assert not torch.equal(other, out)
    never = augment.camera_effects(augment.CameraParams(p=0.0))
    assert torch.equal(never(image, target)[0], image)


def test_each_camera_effect_alone_does_what_it_says():
    import torch
    from torchvision import tv_tensors

    rng = torch.Generator().manual_seed(0)
    image = tv_tensors.Image(torch.randint(60, 200, (3, 64, 64), dtype=torch.uint8, generator=rng))
    target = {
        "boxes": tv_tensors.BoundingBoxes(torch.tensor([[1.0, 1.0, 9.0, 9.0]]), format="XYXY", canvas_size=(64, 64)),
        "labels": torch.tensor([1]),
    }
    none = dict(
        exposure=(0.0, 0.0),
        contrast=(1.0, 1.0),
        channel_gain=(1.0, 1.0),
        saturation=(1.0, 1.0),
        hue=(0.0, 0.0),
        downscale=(1.0, 1.0),
        blur_sigma=(0.01, 0.01),
        motion_length=(1, 1),
        noise_sigma=(0.0, 0.0),
        jpeg_quality=(100, 100),
    )

    def apply(**change):
        torch.manual_seed(0)
        return augment.camera_effects(augment.CameraParams(p=1.0, **{**none, **change}))(image, target)[0].float()

    base = apply()
    assert apply(exposure=(0.2, 0.2)).mean() > base.mean() + 40
    assert apply(contrast=(0.35, 0.35)).std() < 0.5 * base.std()

    def smooth(x):
        return (x[..., 1:] - x[..., :-1]).abs().mean()

    assert smooth(apply(motion_length=(15, 15))) < 0.5 * smooth(base)
    assert smooth(apply(downscale=(0.2, 0.2))) < 0.7 * smooth(base)
    from chocolib.blur import motion_kernel

    kernel = motion_kernel(9, 0.0)
    assert kernel.shape == (9, 9) and abs(kernel.sum() - 1) < 1e-6 and (kernel[4] > 0).all() and kernel[0].sum() == 0


def test_online_geometry_moves_boxes_with_the_pixels():
    """A bright box: after flips, quarter turns and a zoom out or in its box still frames the bright
    pixels; it is dropped only when a zoom-in's frame cut it."""
    import torch
    from torchvision import tv_tensors

    kept = 0
    for seed in range(16):
        pixels = torch.zeros(3, 60, 90, dtype=torch.uint8)
        pixels[:, 20:30, 40:55] = 255
        boxes = tv_tensors.BoundingBoxes(torch.tensor([[40.0, 20.0, 55.0, 30.0]]), format="XYXY", canvas_size=(60, 90))
        torch.manual_seed(seed)
        image, target = augment.online_geometry()(tv_tensors.Image(pixels), {"boxes": boxes, "labels": torch.tensor([4])})
        assert sorted(image.shape[-2:]) == [60, 90]  # quarter turns swap the sides, the zoom keeps them
        bright = (image[0] > 128).nonzero()
        if not len(target["labels"]):
            height, width = image.shape[-2:]
            assert len(bright) and (
                bright[:, 0].min() == 0 or bright[:, 1].min() == 0 or bright[:, 0].max() == height - 1 or bright[:, 1].max() == width - 1
            )
            continue
        kept += 1
        x0, y0, x1, y1 = target["boxes"][0].tolist()
        assert target["labels"].tolist() == [4]
        assert abs(bright[:, 1].min() - x0) <= 2 and abs(bright[:, 1].max() + 1 - x1) <= 2
        assert abs(bright[:, 0].min() - y0) <= 2 and abs(bright[:, 0].max() + 1 - y1) <= 2
    assert kept >= 10


def _bright_sample(side: int = 20):
    import torch
    from torchvision import tv_tensors

    pixels = torch.full((3, 100, 160), 90, dtype=torch.uint8)
    pixels[:, 40 : 40 + side, 70 : 70 + side] = 255
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[70.0, 40.0, 70.0 + side, 40.0 + side]]), format="XYXY", canvas_size=(100, 160))
    return tv_tensors.Image(pixels), {"boxes": boxes, "labels": torch.tensor([2]), "image_id": 0}


def test_zoom_out_shrinks_the_chocolate_onto_the_photos_own_colour_and_zoom_in_enlarges_it():
    import torch

    jitter = augment.ScaleJitter()
    torch.manual_seed(0)
    image, target = jitter.zoom_out(*_bright_sample(), share=0.5)
    assert image.shape[-2:] == (100, 160)
    x0, y0, x1, y1 = target["boxes"][0].tolist()
    assert abs((x1 - x0) - 10) < 0.5 and abs((y1 - y0) - 10) < 0.5
    assert (image[0, round(y0) + 1 : round(y1) - 1, round(x0) + 1 : round(x1) - 1] > 200).all()
    assert (image[0] > 200).sum() <= 10 * 10 + 40  # no bright pixel outside the shrunk box: the border is flat grey
    assert set(image[0, 0, :].tolist()) == {90} or set(image[0, -1, :].tolist()) == {90}
    torch.manual_seed(0)
    image, target = jitter.zoom_in(*_bright_sample(), zoom=1.25)
    x0, y0, x1, y1 = target["boxes"][0].tolist()
    assert abs((x1 - x0) - 25) < 0.5 and abs((y1 - y0) - 25) < 0.5
    assert (image[0, round(y0) + 1 : round(y1) - 1, round(x0) + 1 : round(x1) - 1] > 200).all()


def test_zoom_in_drops_a_chocolate_that_the_frame_leaves_less_than_half_of():
    import torch

    jitter = augment.ScaleJitter()
    dropped = kept = 0
    for seed in range(40):
        torch.manual_seed(seed)
        image, target = jitter.zoom_in(*_bright_sample(40), zoom=2.0)
        visible = int((image[0] > 200).sum())
        if len(target["labels"]):
            kept += 1
            x0, y0, x1, y1 = target["boxes"][0].tolist()
            assert visible >= 0.45 * 80 * 80 and (x1 - x0) * (y1 - y0) >= 0.45 * 80 * 80
        else:
            dropped += 1
            assert visible <= 0.55 * 80 * 80
    assert kept and dropped


def test_foreshortening_squeezes_one_axis_and_the_box_with_it():
    """A tilted camera's photo: one side shortened by a factor within `ForeshortenParams.squeeze`,
    the other kept, the bright square now a rectangle its box still frames; each axis is chosen
    sometimes, and `p` of the samples are left as they were."""
    import torch

    squeezed_axes, untouched = set(), 0
    foreshorten = augment.Foreshorten(augment.ForeshortenParams(p=0.5, squeeze=(0.6, 0.8)))
    for seed in range(24):
        torch.manual_seed(seed)
        image, target = foreshorten(*_bright_sample(40))
        height, width = image.shape[-2:]
        if (height, width) == (100, 160):
            untouched += 1
            assert target["boxes"][0].tolist() == [70.0, 40.0, 110.0, 80.0]
            continue
        axis = 0 if height != 100 else 1
        squeezed_axes.add(axis)
        share = (height / 100, width / 160)[axis]
        assert 0.59 <= share <= 0.81 and (width, height)[axis] == (160, 100)[axis]
        x0, y0, x1, y1 = target["boxes"][0].tolist()
        assert target["boxes"].canvas_size == (height, width)
        bright = (image[0] > 170).nonzero()
        assert abs(bright[:, 1].min() - x0) <= 1.5 and abs(bright[:, 1].max() + 1 - x1) <= 1.5
        assert abs(bright[:, 0].min() - y0) <= 1.5 and abs(bright[:, 0].max() + 1 - y1) <= 1.5
        sides = (y1 - y0, x1 - x0)
        assert abs(sides[axis] - 40 * share) < 1 and abs(sides[1 - axis] - 40) < 1e-4
    assert squeezed_axes == {0, 1} and 4 <= untouched <= 20


def test_foreshortening_is_a_setting_that_changes_the_run_and_leaves_it_when_off():
    """Off, the online chain and the run key are those of before (no draw, no key entry); on, the
    geometry foreshortens and the key records its ranges, so a folder never resumes the other."""
    from chocolib import models, train

    def kinds(chain):
        return [type(step).__name__ for step in chain.transforms]

    off, on = train.TrainConfig(geometry_augment=True), train.TrainConfig(geometry_augment=True, foreshorten=True)
    assert "Foreshorten" not in kinds(augment.online_geometry()) and "Foreshorten" in kinds(augment.online_geometry("wide", True))
    assert "Foreshorten" in kinds(train.online_transforms(on).transforms[0])
    assert "Foreshorten" not in kinds(train.online_transforms(off).transforms[0])
    detector = models.DetectorConfig()
    assert train.run_key(detector, off, "d") != train.run_key(detector, on, "d")


def test_every_scale_setting_is_known():
    from chocolib import train
    from chocolib.errors import ChocoError

    with pytest.raises(ChocoError, match="scale_augment"):
        augment.online_geometry("huge")
    with pytest.raises(ChocoError, match="scale_augment"):
        train.TrainConfig(scale_augment="huge")


def test_a_cast_shadow_darkens_part_of_the_image_only():
    import torch

    mask = augment.shadow_mask(80, 120, 2.0, torch.Generator().manual_seed(0))
    assert mask.shape == (80, 120) and mask.min() >= 0 and mask.max() <= 1
    assert 0 < (mask > 0.5).mean() < 1
    effects = augment.camera_effects(augment.CameraParams(p=0.0))
    params = effects.make_params([])
    params["shadow"] = (0.5, 1.0)
    pixels = torch.full((3, 80, 120), 200, dtype=torch.uint8)
    from torchvision import tv_tensors

    out = effects.transform(tv_tensors.Image(pixels), params)
    assert out.min() <= 105 and out.max() == 200


def test_originals_are_told_from_versions():
    assert augment.is_original("L1000756") and augment.is_original(augment.version_name("L1000756", 0))
    assert not augment.is_original(augment.version_name("L1000756", 3))
