"""Copy-paste with each chocolate's own look: masks from boxes, exact boxes for pasted chocolates,
free places only, reproducible under torch's seed, and usable in the training chain."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from chocolib import copy_paste, dataset

SIZE = (240, 160)  # width, height
DISCS = [((40, 50), 18, (90, 50, 30), 3), ((150, 100), 20, (230, 210, 170), 6)]  # centre, radius, colour, class


@pytest.fixture()
def folder(tmp_path):
    """Two small photos on a plain table, each with two round chocolates and their YOLO labels."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for index in range(2):
        image = Image.new("RGB", SIZE, (120, 140, 160))
        draw = ImageDraw.Draw(image)
        lines = []
        for (x, y), radius, colour, cls in DISCS:
            x, y = x + 10 * index, y + 5 * index
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
            lines.append(f"{cls} {x / SIZE[0]:.6f} {y / SIZE[1]:.6f} {2 * radius / SIZE[0]:.6f} {2 * radius / SIZE[1]:.6f}")
        image.save(tmp_path / "images" / f"p{index}.png")
        (tmp_path / "labels" / f"p{index}.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_the_mask_from_a_box_finds_the_chocolate_not_its_box(folder):
    samples = dataset.DetectionDataset(folder)
    bank = copy_paste.build_bank(samples)
    assert [len(cutouts) for cutouts in bank] == [2, 2]
    for cutout in bank[0]:
        filled = (cutout.alpha > 0.5).mean()
        assert 0.7 < filled < 0.85, filled  # a disc fills π/4 ≈ 0.785 of its box
        assert cutout.alpha[0, 0] < 0.1 and cutout.alpha[cutout.alpha.shape[0] // 2, cutout.alpha.shape[1] // 2] > 0.9
    assert [c.label for c in bank[0]] == [4, 7]  # model label ids: class + 1


def test_each_cutout_knows_its_boxs_row_even_after_a_skipped_box():
    """A box too small to cut out is skipped, and the cutouts after it still name their own rows:
    what a stretch in place changes is that box, not its neighbour's."""
    pixels = np.full((60, 100, 3), 128, np.uint8)
    boxes = np.array([[5, 5, 7, 7], [10, 10, 30, 30], [50, 10, 80, 40]], np.float64)  # the first 2 px wide
    cutouts = copy_paste.cut_out(pixels, boxes, [1, 2, 3])
    assert [(c.label, c.row) for c in cutouts] == [(2, 1), (3, 2)]
    assert [c.box for c in cutouts] == [(10, 10, 30, 30), (50, 10, 80, 40)]


def _sample(folder, seed: int, **params):
    samples = dataset.DetectionDataset(folder)
    samples.transforms = copy_paste.CopyPaste(copy_paste.build_bank(samples), copy_paste.CopyPasteParams(**params))
    torch.manual_seed(seed)
    return samples[0]


def test_pasted_chocolates_get_exact_boxes_on_free_table(folder):
    image, target = _sample(folder, seed=0, paste_p=1.0, paste_count=(3, 3), restyle_p=0.0)
    boxes = dataset.collate_fn([(image, target)])[1][0]["boxes"].numpy()
    labels = target["labels"].tolist()
    assert len(labels) > 2 and labels[:2] == [4, 7] and set(labels) <= {4, 7}
    pixels = image.permute(1, 2, 0).numpy().astype(int)
    table = np.abs(pixels - np.array([120, 140, 160])).sum(-1) > 30  # not the plain table
    covered = np.zeros(table.shape, bool)
    for x0, y0, x1, y1 in boxes:  # give or take the one-pixel feathered edge
        covered[max(0, int(y0) - 1) : int(np.ceil(y1)) + 1, max(0, int(x0) - 1) : int(np.ceil(x1)) + 1] = True
    assert not (table & ~covered).any(), "a pasted chocolate lies outside every box"
    for x0, y0, x1, y1 in boxes[2:]:  # each pasted box is tight: its mask reaches every edge
        inside = table[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        assert inside[:, :2].any() and inside[:, -2:].any() and inside[:2].any() and inside[-2:].any()
    for index, box in enumerate(boxes[2:], start=2):
        assert copy_paste._overlap(box, np.delete(boxes, index, axis=0)) <= 0.05


def test_restyling_changes_only_the_chocolate_not_the_table(folder):
    original, _ = dataset.DetectionDataset(folder)[0]
    image, target = _sample(folder, seed=1, paste_p=0.0, restyle_p=1.0, gloss_p=1.0)
    assert len(target["labels"]) == 2
    change = (image.int() - original.int()).abs().sum(0)
    x, y = DISCS[0][0]
    assert change[y - 5 : y + 5, x - 5 : x + 5].float().mean() > 3  # the chocolate looks different
    assert change[:, 200:].sum() == 0 and change[140:, :100].sum() == 0  # the table does not


def test_the_same_torch_seed_gives_the_same_sample(folder):
    first, first_target = _sample(folder, seed=5, paste_p=1.0)
    second, second_target = _sample(folder, seed=5, paste_p=1.0)
    assert torch.equal(first, second) and torch.equal(first_target["boxes"], second_target["boxes"])
    other, _ = _sample(folder, seed=6, paste_p=1.0)
    assert not torch.equal(first, other)


def test_copy_paste_runs_in_the_training_chain(folder):
    from chocolib import train

    config = train.TrainConfig(copy_paste=True, geometry_augment=True, camera_augment=True, epochs=1)
    samples = dataset.DetectionDataset(folder)
    samples.transforms = train.online_transforms(config, samples)
    torch.manual_seed(0)
    images, targets = dataset.collate_fn([samples[0], samples[1]])
    for image, target in zip(images, targets):
        assert image.dtype == torch.float32 and len(target["boxes"]) == len(target["labels"]) >= 1


def _occluded(seed: int, stick_p: float, tries: int = 10):
    """(photo, changed pixels, the box's share changed) for every occluder `occlude` placed over a
    red 40-px chocolate at (130, 80) on a grey 300 × 200 table, in `tries` draws."""
    rng = np.random.default_rng(seed)
    placed = []
    for _ in range(tries):
        canvas = np.full((200, 300, 3), 120, np.uint8)
        canvas[80:120, 130:170] = (200, 30, 30)
        before = canvas.copy()
        if copy_paste.occlude(canvas, (130, 80, 170, 120), 0.25, rng, stick_p=stick_p):
            changed = np.any(canvas != before, axis=2)
            placed.append((canvas, changed, changed[80:120, 130:170].mean()))
    return placed


def test_an_occluder_covers_part_of_the_chocolate_and_nothing_far_from_it():
    placed = _occluded(seed=0, stick_p=0.0)
    assert len(placed) >= 5
    for _, changed, covered in placed:
        assert 0.1 <= covered <= 0.5, covered
        assert changed.mean() < 0.25  # a thing lying across one chocolate, not a new photo


def test_a_stick_lies_across_the_chocolate_as_a_shaded_cylinder():
    """A pen across a chocolate: it covers part of the box, reaches beyond it (it is longer than
    the chocolate), and is shaded across its width, not a flat stripe."""
    placed = _occluded(seed=1, stick_p=1.0)
    assert len(placed) >= 5
    for canvas, changed, covered in placed:
        assert 0.1 <= covered <= 0.5, covered
        assert changed.sum() > 1.5 * changed[80:120, 130:170].sum()  # it goes on past the chocolate
        assert canvas[changed].astype(int).sum(1).std() > 10  # a lit cylinder: darker towards one side


def test_half_the_chocolates_at_most_are_occluded_and_always_one(folder):
    samples = dataset.DetectionDataset(folder / "images")
    params = copy_paste.CopyPasteParams(paste_p=0.0, restyle_p=0.0, occlude_p=1.0, occlude_share=(0.0, 0.0))
    image, target = samples.load(0)
    torch.manual_seed(0)
    out, _ = copy_paste.copy_paste(samples, params)(image, target)
    assert not torch.equal(out.as_subclass(torch.Tensor), image.as_subclass(torch.Tensor))  # a share of 0 still occludes one


def test_occluded_chocolates_keep_their_boxes_in_the_training_sample(folder):
    samples = dataset.DetectionDataset(folder / "images")
    transform = copy_paste.copy_paste(samples, copy_paste.CopyPasteParams(paste_p=0.0, restyle_p=0.0, occlude_p=1.0))
    image, target = samples.load(0)
    torch.manual_seed(0)
    out, new = transform(image, target)
    assert torch.allclose(new["boxes"].as_subclass(torch.Tensor), target["boxes"].as_subclass(torch.Tensor), atol=1e-4)
    assert new["labels"].tolist() == target["labels"].tolist()
    assert not torch.equal(out.as_subclass(torch.Tensor), image.as_subclass(torch.Tensor))


def test_a_pasted_chocolates_label_is_the_class_whose_pixels_it_holds(folder):
    """Looks held fixed (no restyle, no gloss, no tint), every pasted box's centre has the colour
    of the class its label names: a paste that kept the pixels of one cutout and the label of
    another would fail."""
    colour_of = {cls + 1: np.array(colour) for _, _, colour, cls in DISCS}  # model label ids
    fixed = dict(
        restyle_p=0.0,
        brightness=(1.0, 1.0),
        contrast=(1.0, 1.0),
        saturation=(1.0, 1.0),
        gamma=(1.0, 1.0),
        hue=(0.0, 0.0),
        gloss_p=0.0,
        occlude_p=0.0,
        paste_p=1.0,
        paste_count=(4, 4),
    )
    pasted = 0
    for seed in range(4):
        image, target = _sample(folder, seed=seed, **fixed)
        boxes = dataset.collate_fn([(image, target)])[1][0]["boxes"].numpy()
        pixels = image.permute(1, 2, 0).numpy().astype(int)
        for (x0, y0, x1, y1), label in zip(boxes[2:], target["labels"].tolist()[2:]):
            centre = pixels[int((y0 + y1) / 2) - 1 : int((y0 + y1) / 2) + 2, int((x0 + x1) / 2) - 1 : int((x0 + x1) / 2) + 2].reshape(-1, 3)
            distances = {other: np.abs(centre.mean(0) - colour).sum() for other, colour in colour_of.items()}
            assert min(distances, key=distances.get) == label and distances[label] < 40, (label, centre.mean(0))
            pasted += 1
    assert pasted >= 6


def test_the_training_setting_occluders_names_how_many_things_lie_across_chocolates(folder):
    from chocolib import models, train
    from chocolib.errors import ChocoError

    assert copy_paste.params_for("some") == copy_paste.CopyPasteParams()  # runs from before the setting keep their key
    crowded = copy_paste.params_for("crowded")
    assert crowded.occlude_p > copy_paste.CopyPasteParams().occlude_p
    assert crowded.occlude_share[0] > copy_paste.CopyPasteParams().occlude_share[0]
    samples = dataset.DetectionDataset(folder / "images")
    config = train.TrainConfig(copy_paste=True, occluders="crowded", epochs=1)
    assert train.online_transforms(config, samples).transforms[0].params == crowded
    keys = [
        train.run_key(models.DetectorConfig(), train.TrainConfig(copy_paste=True, occluders=name), "data") for name in ("some", "crowded")
    ]
    assert keys[0]["online"]["copy_paste"] != keys[1]["online"]["copy_paste"]  # a change of it is a new run
    with pytest.raises(ChocoError, match="occluders must be one of some, crowded"):
        train.TrainConfig(occluders="many")


def test_crowded_occluders_cover_more_of_the_photo_than_some(folder):
    """Over the same draws, ``crowded`` changes more pixels of the photo than ``some``: more samples
    and more of their chocolates get something lying across them."""
    samples = dataset.DetectionDataset(folder / "images")
    image, target = samples.load(0)
    changed = {}
    for name in ("some", "crowded"):
        transform = copy_paste.copy_paste(samples, replace(copy_paste.params_for(name), paste_p=0.0, restyle_p=0.0))
        torch.manual_seed(0)
        changed[name] = sum(
            float((transform(image, target)[0].as_subclass(torch.Tensor) != image.as_subclass(torch.Tensor)).any(0).float().mean())
            for _ in range(40)
        )
    assert changed["crowded"] > 1.2 * changed["some"], changed


def test_chocolate_blur_softens_the_chocolate_and_keeps_the_table():
    """A checkered chocolate restyled with `blur_p` 1 loses most of its fine detail inside its mask
    (out of focus or moving), the table around it stays as it was; `chocolate_blur` sets it."""
    pixels = np.full((60, 60, 3), 90, np.uint8)
    checker = (np.indices((40, 40)).sum(0) % 2 * 200 + 30).astype(np.uint8)
    pixels[10:50, 10:50] = checker[..., None]
    alpha = np.zeros((60, 60), np.float32)
    alpha[10:50, 10:50] = 1
    plain = copy_paste.CopyPasteParams(gloss_p=0.0, hue=(0.0, 0.0), brightness=(1, 1), contrast=(1, 1), saturation=(1, 1), gamma=(1, 1))
    sharp = copy_paste.restyle(pixels, alpha, np.random.default_rng(0), plain)
    for seed in range(6):  # both kinds of blur come up
        soft = copy_paste.restyle(pixels, alpha, np.random.default_rng(seed), replace(plain, blur_p=1.0))
        detail = [np.abs(np.diff(image[12:48, 12:48, 0].astype(int), axis=1)).mean() for image in (sharp, soft)]
        assert detail[1] < 0.5 * detail[0], (seed, detail)
        assert np.array_equal(soft[alpha == 0], pixels[alpha == 0])
    assert copy_paste.params_for(chocolate_blur=True).blur_p > 0 == copy_paste.params_for().blur_p


def test_stretching_lengthens_one_direction_only_about_the_centre():
    """A disc stretched by 1.5 along 30° becomes an ellipse 1.5 times as long that way and as wide as
    before across it, centred where the disc was; along 0° only its width grows."""
    import cv2

    alpha = np.zeros((41, 41), np.float32)
    cv2.circle(alpha, (20, 20), 16, 1.0, -1)
    pixels = np.repeat((alpha[..., None] * 200).astype(np.uint8), 3, axis=2)
    out_pixels, out_alpha, shift = copy_paste.stretched(pixels, alpha, angle=30.0, factor=1.5)
    ys, xs = np.nonzero(out_alpha > 0.5)
    points = np.stack([xs, ys], 1).astype(np.float64)
    centre = points.mean(0)
    assert np.allclose(centre + shift, (20, 20), atol=1.0)  # it stays where it lay
    along, across = np.array([np.cos(np.radians(30)), np.sin(np.radians(30))]), np.array([-np.sin(np.radians(30)), np.cos(np.radians(30))])
    length, width = np.ptp((points - centre) @ along), np.ptp((points - centre) @ across)
    assert length == pytest.approx(1.5 * 33, rel=0.06) and width == pytest.approx(33, rel=0.06), (length, width)
    assert out_pixels.shape[:2] == out_alpha.shape
    _, wide, _ = copy_paste.stretched(pixels, alpha, angle=0.0, factor=1.5)
    ys, xs = np.nonzero(wide > 0.5)
    assert np.ptp(xs) + 1 == pytest.approx(1.5 * 33, rel=0.06) and np.ptp(ys) + 1 == pytest.approx(33, abs=2)


def test_a_chocolate_stretched_where_it_lies_gets_the_box_of_its_new_shape(folder):
    """With every own chocolate stretched, each box grows along some direction, still holds the
    chocolate's centre, stays inside the photo, and holds exactly the chocolate's pixels: the
    table outside every box is unchanged and the chocolate's colour reaches the box's edges."""
    image0, target0 = dataset.DetectionDataset(folder).load(0)
    for seed in range(4):
        image, target = _sample(folder, seed=seed, restyle_p=0.0, paste_p=0.0, occlude_p=0.0, stretch_p=1.0, stretch=(0.6, 0.6))
        before = target0["boxes"].as_subclass(torch.Tensor).numpy()
        after = target["boxes"].as_subclass(torch.Tensor).numpy()
        assert after.shape == before.shape and target["labels"].tolist() == target0["labels"].tolist()
        for old, new in zip(before, after):  # boxes are cx, cy, w, h
            assert new[2] * new[3] > 1.15 * old[2] * old[3], (old, new)
            assert abs(new[0] - old[0]) < 3 and abs(new[1] - old[1]) < 3
        pixels, table = image.permute(1, 2, 0).numpy(), image0.permute(1, 2, 0).numpy()
        inside = np.zeros(pixels.shape[:2], bool)
        for cx, cy, w, h in after:
            x0, y0, x1, y1 = (int(round(v)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            inside[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1] = True
            assert 0 <= x0 and 0 <= y0 and x1 <= SIZE[0] and y1 <= SIZE[1]
            crop = pixels[y0:y1, x0:x1].astype(int)
            background = np.array((120, 140, 160))
            assert np.abs(crop[:, :2] - background).sum(-1).max() > 60 and np.abs(crop[:, -2:] - background).sum(-1).max() > 60
            assert np.abs(crop[:2] - background).sum(-1).max() > 60 and np.abs(crop[-2:] - background).sum(-1).max() > 60
        assert np.array_equal(pixels[~inside], table[~inside])


def test_no_stretch_covers_a_neighbour(folder):
    """Two chocolates side by side: neither is stretched over the other (the stretch is skipped)."""
    samples = dataset.DetectionDataset(folder)
    bank = copy_paste.build_bank(samples)
    image, target = samples.load(0)
    canvas = image.permute(1, 2, 0).numpy().copy()
    boxes = np.array([cutout.box for cutout in bank[0]], np.float64)
    boxes[1] = [boxes[0][2], boxes[0][1], boxes[0][2] + 30, boxes[0][3]]  # a neighbour right beside the first
    params = copy_paste.CopyPasteParams(stretch=(0.6, 0.6))
    rng = np.random.default_rng(0)
    results = []
    for _ in range(20):
        results.append(copy_paste.stretch_in_place(canvas, boxes.copy(), 0, bank[0][0], rng, params))
    assert not all(results) and any(results)  # stretched up or down, never sideways into its neighbour


def test_the_training_setting_chocolate_aspect_stretches_a_third_of_the_chocolates(folder):
    from chocolib import models, train

    assert copy_paste.params_for().stretch_p == 0.0  # off: no draw, so earlier runs draw the same samples
    assert 0 < copy_paste.params_for(chocolate_aspect=True).stretch_p == copy_paste.CHOCOLATE_ASPECT_P
    samples = dataset.DetectionDataset(folder / "images")
    config = train.TrainConfig(copy_paste=True, chocolate_aspect=True, epochs=1)
    assert train.online_transforms(config, samples).transforms[0].params.stretch_p == copy_paste.CHOCOLATE_ASPECT_P
    keys = [train.run_key(models.DetectorConfig(), train.TrainConfig(copy_paste=True, chocolate_aspect=on), "data") for on in (False, True)]
    assert keys[0]["online"]["copy_paste"] != keys[1]["online"]["copy_paste"]  # a change of it is a new run
