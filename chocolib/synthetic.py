"""The embedded dataset: procedural chocolate photos in the exact Kaggle layout.

Nothing external is read: 13 drawn chocolate kinds (shape, colour, texture and size loosely after
the real Frey ones), 1–8 per photo, rotated, sometimes overlapping, on plain or cluttered
backgrounds with distractors (coins, pens, cards, nuts), shadows, uneven light, colour casts, blur,
sensor noise and JPEG compression. Every photo is drawn from its own random stream
(``seed, split, index``), so the output is byte-identical for a seed and photos can be drawn in
parallel.

Written under ``out``: ``train/L<id>.JPG``, ``train.csv``, ``test/L<id>.JPG``,
``sample_submission.csv``, ``references/<Kaggle name>.JPG``, a Roboflow-style YOLO export of the
training boxes in ``annotations/roboflow_yolo/`` (alphabetical class order, Roboflow file names),
the held-back ``test_truth.csv`` and ``synth.json`` (what was generated, used to skip a rerun).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from chocolib import classes, dataset, fileio
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

#: Bump when the drawing changes, so that `ensure_dataset` regenerates an older folder.
GENERATOR_VERSION = 1
SPLIT_CODES = {"train": 0, "test": 1, "references": 2}


@dataclass(frozen=True)
class SynthSize:
    """How much to generate: photo counts and size (width × height, landscape like the originals)."""

    train: int
    test: int
    width: int
    height: int


SIZES: dict[str, SynthSize] = {
    "tiny": SynthSize(train=12, test=6, width=600, height=400),
    "cpu": SynthSize(train=90, test=180, width=1200, height=800),
}


# --------------------------------------------------------------------------------------------
# The 13 kinds: how each is drawn. Colours are RGB; `size` is relative to the photo's scale.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KindLook:
    shape: str  # ellipse | heart | crimped | bumpy | triangle | square
    aspect: float  # width / height of the outline before rotation
    color: tuple[int, int, int]
    texture: str
    size: float
    gloss: float  # strength of the specular highlight


LOOKS: dict[str, KindLook] = {
    "Jelly White": KindLook("ellipse", 1.3, (236, 228, 204), "none", 0.80, 0.45),
    "Jelly Milk": KindLook("ellipse", 1.3, (150, 96, 62), "none", 0.80, 0.45),
    "Jelly Black": KindLook("ellipse", 1.25, (58, 32, 36), "none", 0.80, 0.5),
    "Amandina": KindLook("ellipse", 2.3, (160, 112, 82), "nuts", 1.55, 0.15),
    "Crème brulée": KindLook("ellipse", 1.0, (242, 228, 186), "lattice", 1.10, 0.1),
    "Triangolo": KindLook("triangle", 1.05, (150, 96, 66), "bumps", 1.15, 0.2),
    "Tentation noir": KindLook("bumpy", 1.0, (72, 42, 32), "bumps", 1.00, 0.25),
    "Comtesse": KindLook("ellipse", 1.0, (240, 236, 220), "powder", 0.95, 0.0),
    "Noblesse": KindLook("crimped", 1.0, (196, 136, 90), "center", 1.05, 0.15),
    "Noir authentique": KindLook("ellipse", 1.0, (112, 70, 50), "waves", 1.05, 0.2),
    "Passion au lait": KindLook("heart", 1.1, (168, 116, 86), "heart", 1.25, 0.25),
    "Arabia": KindLook("ellipse", 1.0, (132, 82, 56), "beans", 0.90, 0.2),
    "Stracciatella": KindLook("square", 1.0, (96, 60, 46), "stripes", 0.95, 0.25),
}
assert set(LOOKS) == set(classes.KAGGLE_NAMES)

SUPERSAMPLE = 3


def _outline(shape: str, aspect: float, rng: np.random.Generator, n: int = 360) -> np.ndarray:
    """Closed outline in unit coordinates (x in [-1, 1], y scaled by 1/aspect), shape (n, 2)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if shape == "heart":
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x / 17, (y + 2) / 17 / aspect * 1.1], axis=1)
        return pts
    if shape == "square":
        # superellipse: a square with rounded corners
        c, s = np.cos(t), np.sin(t)
        r = 1 / (np.abs(c) ** 5 + np.abs(s) ** 5) ** (1 / 5)
        return np.stack([0.92 * r * c, 0.92 * r * s / aspect], axis=1)
    if shape == "triangle":
        sector = (t + np.pi / 2) % (2 * np.pi / 3) - np.pi / 3
        r = 0.5 / np.cos(sector)
        r = 0.78 * r + 0.28  # round the corners
        r = r * (1 + 0.03 * rng.standard_normal(n).cumsum().clip(-1, 1) / 3)
        return np.stack([r * np.cos(t), r * np.sin(t) / aspect + 0.08], axis=1)
    if shape == "crimped":
        r = 1 - 0.09 * (0.5 + 0.5 * np.cos(22 * t))
        return np.stack([r * np.cos(t), r * np.sin(t) / aspect], axis=1)
    if shape == "bumpy":
        phases = rng.uniform(0, 2 * np.pi, 6)
        r = 0.95 + sum(0.025 * np.cos(k * t + p) for k, p in zip((3, 5, 7, 11, 13, 17), phases))
        return np.stack([r * np.cos(t), r * np.sin(t) / aspect], axis=1)
    # ellipse
    return np.stack([np.cos(t), np.sin(t) / aspect], axis=1)


def _to_px(points: np.ndarray, center: float, radius: float) -> list[tuple[float, float]]:
    return [(center + radius * x, center + radius * y) for x, y in points]


def _draw_texture(sprite: Image.Image, look: KindLook, c: float, r: float, rng) -> None:
    """Draw the kind's surface pattern on `sprite` (clipped to the outline by the caller)."""
    draw = ImageDraw.Draw(sprite)
    base = np.array(look.color, dtype=float)
    if look.texture == "nuts":
        for _ in range(int(rng.integers(18, 30))):
            x, y = rng.uniform(-0.75, 0.75), rng.uniform(-0.28, 0.28)
            k = rng.uniform(0.05, 0.10) * r
            angles = np.sort(rng.uniform(0, 2 * np.pi, 5))
            poly = [(c + x * r + k * math.cos(a), c + y * r + k * math.sin(a)) for a in angles]
            shade = int(rng.integers(215, 245))
            draw.polygon(poly, fill=(shade, shade - 18, shade - 50, 255))
        for _ in range(6):  # white chocolate drizzle
            x0, x1 = rng.uniform(-0.9, 0.9, 2)
            draw.line([(c + x0 * r, c - 0.4 * r), (c + x1 * r, c + 0.4 * r)], fill=(235, 225, 210, 200), width=max(1, int(0.02 * r)))
    elif look.texture == "lattice":
        caramel = (186, 104, 46, 255)
        w = max(1, int(0.05 * r))
        offset = rng.uniform(0, 0.4)
        for k in np.arange(-2.2 + offset, 2.2, 0.42):
            draw.line([(c + (k - 1.2) * r, c - 1.2 * r), (c + (k + 1.2) * r, c + 1.2 * r)], fill=caramel, width=w)
            draw.line([(c + (k + 1.2) * r, c - 1.2 * r), (c + (k - 1.2) * r, c + 1.2 * r)], fill=caramel, width=w)
        draw.ellipse([c - r, c - r, c + r, c + r], outline=(150, 96, 60, 255), width=max(1, int(0.06 * r)))
    elif look.texture == "bumps":
        for _ in range(int(rng.integers(60, 110))):
            x, y = rng.uniform(-0.9, 0.9, 2)
            k = rng.uniform(0.04, 0.1) * r
            tone = base * rng.uniform(0.6, 1.5)
            fill = tuple(int(v) for v in np.clip(tone, 0, 255)) + (255,)
            draw.ellipse([c + x * r - k, c + y * r - k, c + x * r + k, c + y * r + k], fill=fill)
    elif look.texture == "powder":
        for _ in range(int(rng.integers(250, 400))):
            x, y = rng.uniform(-1, 1, 2)
            k = rng.uniform(0.01, 0.03) * r
            tone = int(rng.integers(200, 255))
            draw.ellipse([c + x * r - k, c + y * r - k, c + x * r + k, c + y * r + k], fill=(tone, tone - 6, tone - 22, 255))
    elif look.texture == "center":
        k = 0.36 * r
        draw.ellipse([c - k, c - k, c + k, c + k], fill=(70, 40, 32, 255))
        draw.ellipse([c - 0.6 * r, c - 0.6 * r, c + 0.6 * r, c + 0.6 * r], outline=(160, 104, 66, 255), width=max(1, int(0.04 * r)))
    elif look.texture == "waves":
        dark = tuple(int(v) for v in base * 0.62) + (255,)
        phase = rng.uniform(0, 2 * np.pi)
        xs = np.linspace(-1.1, 1.1, 60)
        for y0 in np.arange(-0.9, 0.95, 0.28):
            pts = [(c + x * r, c + (y0 + 0.12 * math.sin(3.2 * x + phase)) * r) for x in xs]
            draw.line(pts, fill=dark, width=max(1, int(0.09 * r)))
    elif look.texture == "heart":
        pts = _outline("heart", 1.1, rng) * 0.34
        draw.polygon(_to_px(pts, c, r), fill=(238, 226, 196, 255))
    elif look.texture == "beans":
        for dx, dy, angle in ((-0.25, -0.22, 30), (0.22, 0.25, -20)):
            bean = Image.new("RGBA", (int(0.9 * r), int(0.6 * r)), (0, 0, 0, 0))
            bd = ImageDraw.Draw(bean)
            bd.ellipse([0, 0, bean.width - 1, bean.height - 1], fill=(62, 34, 26, 255))
            bd.line(
                [(0.1 * bean.width, bean.height / 2), (0.9 * bean.width, bean.height / 2)],
                fill=(30, 16, 12, 255),
                width=max(1, int(0.05 * r)),
            )
            bean = bean.rotate(angle + rng.uniform(-15, 15), expand=True, resample=Image.BICUBIC)
            sprite.alpha_composite(bean, (int(c + dx * r - bean.width / 2), int(c + dy * r - bean.height / 2)))
    elif look.texture == "stripes":
        w = max(1, int(0.045 * r))
        offset = rng.uniform(-0.15, 0.15)
        for k in (-0.9, -0.3, 0.3, 0.9):
            draw.line(
                [(c + (k + offset - 0.6) * r, c - 1.1 * r), (c + (k + offset + 0.6) * r, c + 1.1 * r)], fill=(236, 226, 210, 255), width=w
            )


def _shade(rgba: np.ndarray, mask: np.ndarray, gloss: float, rng) -> np.ndarray:
    """Light the sprite from the top left: brighter there, darker towards the lower-right rim."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lx, ly = w * rng.uniform(0.3, 0.4), h * rng.uniform(0.3, 0.4)
    dist = np.hypot(xx - lx, yy - ly) / max(h, w)
    light = 1.15 - 0.6 * dist
    rim = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(w / 25)), np.float32) / 255
    light = light * (0.55 + 0.45 * rim)
    rgb = rgba[..., :3] * light[..., None]
    if gloss > 0:
        spec = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (0.07 * w) ** 2))
        rgb = rgb + gloss * 255 * spec[..., None]
    out = rgba.copy()
    out[..., :3] = np.clip(rgb, 0, 255)
    return out


def render_chocolate(kind: str, length_px: float, rng: np.random.Generator) -> Image.Image:
    """One chocolate of `kind` as an RGBA sprite whose longer side is about `length_px`."""
    look = LOOKS[classes.canonical_name(kind)]
    side = int(math.ceil(length_px * 1.15 * SUPERSAMPLE)) + 4
    c, r = side / 2, length_px * SUPERSAMPLE / 2
    outline = _to_px(_outline(look.shape, look.aspect, rng), c, r)

    mask_img = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask_img).polygon(outline, fill=255)
    sprite = Image.new("RGBA", (side, side), look.color + (255,))
    _draw_texture(sprite, look, c, r, rng)
    mask = np.asarray(mask_img, np.float32) / 255
    rgba = _shade(np.asarray(sprite, np.float32), mask, look.gloss, rng)
    rgba[..., 3] = mask * 255
    img = Image.fromarray(rgba.round().astype(np.uint8), "RGBA")
    return img.resize((side // SUPERSAMPLE, side // SUPERSAMPLE), Image.LANCZOS)


# --------------------------------------------------------------------------------------------
# Backgrounds, distractors, camera effects
# --------------------------------------------------------------------------------------------
def _smooth_noise(rng, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a small random grid upsampled bicubically."""
    grid = rng.random((cells, max(2, int(cells * w / h))), dtype=np.float32)
    img = Image.fromarray((grid * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    return np.asarray(img, np.float32) / 255


def _random_color(rng, lo: int = 40, hi: int = 230) -> np.ndarray:
    return rng.integers(lo, hi, 3).astype(np.float32)


BACKGROUNDS = ("plain", "wood", "fabric", "newspaper", "marble", "tiles")


def make_background(kind: str, h: int, w: int, rng) -> np.ndarray:
    """A float32 (h, w, 3) background in 0–255."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "plain":
        img = np.ones((h, w, 3), np.float32) * _random_color(rng, 120, 235)
        img *= (0.93 + 0.1 * _smooth_noise(rng, h, w, 4))[..., None]
    elif kind == "wood":
        angle = rng.uniform(0, np.pi)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        warp = _smooth_noise(rng, h, w, 6) * 40
        grain = 0.5 + 0.5 * np.sin((u + warp) / rng.uniform(6, 14) * (w / 1200) ** -1)
        light, dark = np.array([196, 150, 104], np.float32), np.array([126, 82, 50], np.float32)
        light *= rng.uniform(0.85, 1.1)
        img = dark + (light - dark) * grain[..., None]
    elif kind == "fabric":
        period = rng.uniform(0.03, 0.07) * w
        a, b, c = _random_color(rng), _random_color(rng), _random_color(rng)
        sx = (np.floor(xx / period) % 2)[..., None]
        sy = (np.floor(yy / (period * rng.uniform(0.6, 1.4))) % 2)[..., None]
        img = np.where(sy > 0, a, np.where(sx > 0, b, c)).astype(np.float32)
        img *= (0.92 + 0.08 * ((xx + yy) % 4 < 2))[..., None]  # weave
    elif kind == "newspaper":
        img = np.ones((h, w, 3), np.float32) * np.array([222, 218, 206], np.float32) * rng.uniform(0.9, 1.05)
        pil = Image.fromarray(img.astype(np.uint8))
        draw = ImageDraw.Draw(pil)
        line_h = max(3, int(h * 0.018))
        cols = int(rng.integers(2, 5))
        col_w = w / cols
        for ci in range(cols):
            y = int(rng.integers(0, line_h * 3))
            while y < h:
                if rng.random() < 0.08:  # a photo block or a headline
                    bh = int(rng.integers(4, 10)) * line_h
                    tone = int(rng.integers(60, 160))
                    draw.rectangle([ci * col_w + 6, y, (ci + 1) * col_w - 6, y + bh], fill=(tone, tone, tone))
                    y += bh + line_h
                    continue
                x = ci * col_w + 6
                while x < (ci + 1) * col_w - 10:
                    word = rng.integers(3, 10) * line_h * 0.45
                    draw.rectangle([x, y, min(x + word, (ci + 1) * col_w - 6), y + line_h * 0.55], fill=(70, 70, 74))
                    x += word + line_h * 0.5
                y += line_h
        img = np.asarray(pil, np.float32)
    elif kind == "marble":
        base = _random_color(rng, 190, 245)
        turbulence = _smooth_noise(rng, h, w, 5) * 6 + _smooth_noise(rng, h, w, 14) * 2
        veins = np.abs(np.sin((xx / w * rng.uniform(2, 5) + yy / h * rng.uniform(1, 3)) * np.pi + turbulence)) ** 0.3
        img = base * (0.75 + 0.25 * veins)[..., None]
    elif kind == "tiles":
        tile = rng.uniform(0.12, 0.25) * h
        grout = max(2, int(tile * 0.05))
        color = _random_color(rng, 90, 240)
        img = np.ones((h, w, 3), np.float32) * color
        img *= (0.92 + 0.1 * _smooth_noise(rng, h, w, 8))[..., None]
        lines = ((xx % tile) < grout) | ((yy % tile) < grout)
        img[lines] = np.array([150, 148, 140], np.float32)
    else:
        raise ValueError(kind)
    return img


def render_distractor(kind: str, scale: float, rng) -> Image.Image:
    """A non-chocolate object as an RGBA sprite; `scale` is a chocolate's typical size in px."""
    ss = SUPERSAMPLE
    if kind == "coin":
        d = int(scale * rng.uniform(0.8, 1.1) * ss)
        img = Image.new("RGBA", (d + 2, d + 2), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        metal = [(205, 172, 92), (182, 182, 188), (176, 112, 70)][int(rng.integers(3))]
        draw.ellipse([0, 0, d, d], fill=metal + (255,))
        inner = tuple(int(v * 1.08) if v < 236 else v for v in metal)
        draw.ellipse(
            [d * 0.12, d * 0.12, d * 0.88, d * 0.88],
            fill=inner + (255,),
            outline=tuple(int(v * 0.8) for v in metal) + (255,),
            width=max(1, d // 40),
        )
    elif kind == "pen":
        length, width = int(scale * rng.uniform(2.5, 4.5) * ss), int(scale * rng.uniform(0.12, 0.2) * ss)
        img = Image.new("RGBA", (length, width), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        color = tuple(int(v) for v in _random_color(rng, 20, 240))
        draw.rounded_rectangle([0, 0, length - 1, width - 1], radius=width // 2, fill=color + (255,))
        draw.rectangle([length * 0.75, 0, length * 0.8, width], fill=(40, 40, 40, 255))
    elif kind == "card":
        cw, ch = int(scale * rng.uniform(1.4, 2.2) * ss), int(scale * rng.uniform(0.9, 1.3) * ss)
        img = Image.new("RGBA", (cw, ch), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        draw.rounded_rectangle([0, 0, cw - 1, ch - 1], radius=ch // 10, fill=tuple(int(v) for v in _random_color(rng)) + (255,))
        draw.rectangle([cw * 0.15, ch * 0.3, cw * 0.4, ch * 0.6], fill=tuple(int(v) for v in _random_color(rng)) + (255,))
    elif kind == "nut":
        nw, nh = int(scale * rng.uniform(0.45, 0.6) * ss), int(scale * rng.uniform(0.35, 0.45) * ss)
        img = Image.new("RGBA", (nw, nh), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        draw.ellipse([0, 0, nw - 1, nh - 1], fill=(176, 124, 72, 255))
        draw.ellipse([nw * 0.2, nh * 0.2, nw * 0.5, nh * 0.45], fill=(200, 156, 104, 255))
    else:
        raise ValueError(kind)
    return img.resize((max(1, img.width // ss), max(1, img.height // ss)), Image.LANCZOS)


def _paste(canvas: np.ndarray, sprite: Image.Image, x: int, y: int, shadow_offset: float) -> None:
    """Composite an RGBA sprite at (x, y) with a soft drop shadow, in place."""
    blur = max(1.0, sprite.width / 20)
    pad = int(3 * blur + abs(shadow_offset)) + 1  # room for the shadow to fade out inside the layer
    padded = Image.new("RGBA", (sprite.width + 2 * pad, sprite.height + 2 * pad), (0, 0, 0, 0))
    padded.paste(sprite, (pad, pad))
    sprite, x, y = padded, x - pad, y - pad
    rgba = np.asarray(sprite, np.float32)
    alpha = rgba[..., 3:] / 255
    shadow = np.asarray(sprite.getchannel("A").filter(ImageFilter.GaussianBlur(blur)), np.float32)[..., None] / 255
    h, w = canvas.shape[:2]
    dx = dy = int(round(shadow_offset))
    for layer, ox, oy, apply in ((shadow, x + dx, y + dy, "shadow"), (alpha, x, y, "sprite")):
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + sprite.width, w), min(oy + sprite.height, h)
        if x1 <= x0 or y1 <= y0:
            continue
        sl = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
        region = canvas[y0:y1, x0:x1]
        if apply == "shadow":
            region *= 1 - 0.45 * layer[sl]
        else:
            region[:] = region * (1 - layer[sl]) + rgba[sl][..., :3] * layer[sl]


def _iou_and_cover(a: tuple, b: tuple) -> tuple[float, float]:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter), inter / min(area_a, area_b)


def compose_photo(kinds: list[str], width: int, height: int, rng) -> tuple[Image.Image, list[tuple[str, tuple]]]:
    """Draw one photo with the given chocolates; return it and its (kind, xyxy pixel box) list.

    A chocolate that finds no place with little overlap after many tries is left out, so the
    boxes always describe exactly what was drawn.
    """
    background = str(rng.choice(BACKGROUNDS, p=[0.35, 0.15, 0.15, 0.1, 0.15, 0.1]))
    canvas = make_background(background, height, width, rng)
    unit = height * rng.uniform(0.10, 0.14)  # camera distance: one chocolate ≈ an eighth of the height

    n_distractors = int(rng.integers(0, 3) if background == "plain" else rng.integers(1, 5))
    for _ in range(n_distractors):
        sprite = render_distractor(str(rng.choice(["coin", "pen", "card", "nut"])), unit, rng)
        sprite = sprite.rotate(rng.uniform(0, 360), expand=True, resample=Image.BICUBIC)
        x = int(rng.integers(-sprite.width // 3, width - sprite.width * 2 // 3))
        y = int(rng.integers(-sprite.height // 3, height - sprite.height * 2 // 3))
        _paste(canvas, sprite, x, y, unit * 0.05)

    placed: list[tuple[str, tuple]] = []
    for kind in kinds:
        look = LOOKS[kind]
        sprite = render_chocolate(kind, unit * look.size * rng.uniform(0.93, 1.07), rng)
        sprite = sprite.rotate(rng.uniform(0, 360), expand=True, resample=Image.BICUBIC)
        alpha = np.asarray(sprite.getchannel("A")) > 127
        ys, xs = np.nonzero(alpha)
        bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        for _attempt in range(60):
            x = int(rng.integers(-bx0 + 1, width - bx1))
            y = int(rng.integers(-by0 + 1, height - by1))
            box = (float(x + bx0), float(y + by0), float(x + bx1), float(y + by1))
            overlaps = [_iou_and_cover(box, other) for _, other in placed]
            if all(iou < 0.12 and cover < 0.25 for iou, cover in overlaps):
                _paste(canvas, sprite, x, y, unit * 0.06)
                placed.append((kind, box))
                break

    # camera: uneven light, colour cast, focus, sensor noise
    light = 0.78 + 0.32 * _smooth_noise(rng, height, width, 3)
    cast = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    canvas = canvas * light[..., None] * cast
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 2.0) * width / 1200))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(1.5, 5), (height, width, 3))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return image, placed


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------
def _photo_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def _draw_one(args) -> tuple[bytes, list[tuple[str, tuple]]]:
    seed, split, index, kinds, width, height = args
    rng = _photo_rng(seed, split, index)
    image, boxes = compose_photo(kinds, width, height, rng)
    return dataset.encode_jpeg(image, int(rng.integers(82, 96))), boxes


def _plan(n_photos: int, rng: np.random.Generator) -> list[list[str]]:
    """Choose 1–8 chocolates per photo, dealing kinds from shuffled rounds of all 13.

    Dealing rounds keeps every kind about equally frequent, so even the tiny set has each kind in
    several photos (a stratified validation split needs that).
    """
    # 1–8 per photo, weighted towards busy photos: mean ≈ 5.3 (the real training set has 6.5)
    weights = np.array([1, 1, 2, 2, 3, 3, 3, 3], dtype=float)
    counts = rng.choice(np.arange(1, 9), size=n_photos, p=weights / weights.sum())
    stream: list[str] = []
    while len(stream) < counts.sum():
        stream.extend(rng.permutation(list(classes.KAGGLE_NAMES)).tolist())
    plan, start = [], 0
    for n in counts:
        plan.append(stream[start : start + n])
        start += n
    return plan


def _photo_ids(n: int, rng: np.random.Generator, offset: int) -> list[int]:
    return sorted(int(v) + offset for v in rng.choice(900_000, size=n, replace=False))


def _counts_rows(ids, boxes_per_photo) -> str:
    lines = [",".join(classes.CSV_COLUMNS)]
    for pid, boxes in zip(ids, boxes_per_photo):
        counts = [0] * classes.NUM_CLASSES
        for kind, _ in boxes:
            counts[classes.KAGGLE_NAMES.index(kind)] += 1
        lines.append(",".join([str(pid), *map(str, counts)]))
    return "\n".join(lines) + "\n"


def _yolo_lines(boxes, width: int, height: int, order: list[str]) -> str:
    lines = []
    for kind, (x0, y0, x1, y1) in boxes:
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        lines.append(f"{order.index(kind)} {cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def _roboflow_name(photo_stem: str, seed: int) -> str:
    digest = hashlib.md5(f"{photo_stem}:{seed}".encode()).hexdigest()
    return f"{photo_stem}_JPG.rf.{digest}.txt"


def _write_dataset(out: Path, jobs, results, train_ids, test_ids, size: SynthSize, seed: int) -> dict[str, list]:
    """Write the drawn photos, CSVs, the Roboflow-style export and the references under `out`."""
    alphabetical = sorted(classes.KAGGLE_NAMES)  # the order Roboflow writes in data.yaml
    export = out / "annotations" / "roboflow_yolo"
    all_boxes = {"train": [], "test": []}
    for (_seed, split, index, _kinds, w, h), (jpeg, boxes) in zip(jobs, results):
        pid = (train_ids if split == "train" else test_ids)[index]
        fileio.write_bytes(out / split / f"L{pid}.JPG", jpeg)
        all_boxes[split].append(boxes)
        if split == "train":
            fileio.write_text(export / "train" / "labels" / _roboflow_name(f"L{pid}", seed), _yolo_lines(boxes, w, h, alphabetical))

    fileio.write_text(out / "train.csv", _counts_rows(train_ids, all_boxes["train"]))
    fileio.write_text(out / "test_truth.csv", _counts_rows(test_ids, all_boxes["test"]))
    zeros = [",".join(classes.CSV_COLUMNS)] + [",".join([str(i)] + ["0"] * classes.NUM_CLASSES) for i in test_ids]
    fileio.write_text(out / "sample_submission.csv", "\n".join(zeros) + "\n")
    names_yaml = "[" + ", ".join(f"'{n}'" for n in alphabetical) + "]"
    fileio.write_text(
        export / "data.yaml",
        f"train: ../train/images\nval: ../valid/images\n\nnc: {classes.NUM_CLASSES}\nnames: {names_yaml}\n",
    )

    for index, kind in enumerate(classes.KAGGLE_NAMES):
        ref_rng = _photo_rng(seed, "references", index)
        canvas = make_background("plain", size.height, size.width, ref_rng)
        sprite = render_chocolate(kind, size.height * 0.4 * LOOKS[kind].size / 1.55, ref_rng)
        _paste(canvas, sprite, (size.width - sprite.width) // 2, (size.height - sprite.height) // 2, size.height * 0.01)
        ref = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
        fileio.write_bytes(out / "references" / f"{kind}.JPG", dataset.encode_jpeg(ref, 92))

    return all_boxes


def generate(out: str | Path, size: str | SynthSize = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    """Generate the embedded dataset under `out` (see the module docstring); return `out`."""
    if isinstance(size, str):
        if size not in SIZES:
            raise ChocoError(f"unknown synthetic size {size!r}; expected one of {', '.join(SIZES)}")
        size = SIZES[size]
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "synth.json").exists():
        raise ChocoError("folder is not empty and holds no generated dataset (no synth.json): choose a new folder", out)
    rng = np.random.default_rng([seed, 99])
    train_ids = _photo_ids(size.train, rng, 1_000_000)
    test_ids = _photo_ids(size.test, rng, 2_000_000)
    jobs = []
    for split, ids in (("train", train_ids), ("test", test_ids)):
        for index, kinds in enumerate(_plan(len(ids), rng)):
            jobs.append((seed, split, index, kinds, size.width, size.height))

    workers = workers if workers is not None else (1 if len(jobs) < 40 else None)
    results = []
    desc = f"synth {out.name}"
    if workers == 1:
        results = [_draw_one(job) for job in tqdm(jobs, desc=desc, unit="photo")]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(tqdm(pool.map(_draw_one, jobs, chunksize=4), total=len(jobs), desc=desc, unit="photo"))

    # the folder appears whole (synth.json included) or not at all, and replaces any earlier one
    with fileio.atomic_dir(out) as tmp:
        all_boxes = _write_dataset(tmp, jobs, results, train_ids, test_ids, size, seed)
        n_boxes = sum(len(b) for b in all_boxes["train"])
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "size": asdict(size),
            "train_photos": len(train_ids),
            "test_photos": len(test_ids),
            "train_chocolates": n_boxes,
            "test_chocolates": sum(len(b) for b in all_boxes["test"]),
        }
        fileio.write_json(tmp / "synth.json", manifest)
    log.info("synth: %d train photos (%d chocolates), %d test photos in %s", len(train_ids), n_boxes, len(test_ids), out)
    return out


def ensure_dataset(out: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Generate the embedded dataset unless `out` already holds the same one (same size, seed, version)."""
    out = Path(out)
    manifest = out / "synth.json"
    if manifest.exists():
        found = json.loads(manifest.read_text())
        wanted = {"generator_version": GENERATOR_VERSION, "seed": seed, "size": asdict(SIZES[size])}
        if all(found.get(k) == v for k, v in wanted.items()):
            log.info("synth: %s already holds the %s dataset for seed %d", out, size, seed)
            return out
    return generate(out, size, seed)


# --------------------------------------------------------------------------------------------
# Camera-size copies: the real dataset's 6000×4000 JPEGs, some stored rotated with an EXIF flag
# --------------------------------------------------------------------------------------------
#: The real photos' size (a 24-megapixel camera, landscape).
CAMERA_SIZE = (6000, 4000)
#: EXIF orientation → the transpose that stores an upright picture so that a viewer applying the
#: flag shows it upright again (6: the viewer turns it 90° clockwise; 8: counter-clockwise).
STORED_ROTATED = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def _camera_photo(args) -> None:
    source, target, size, orientation, quality = args
    with Image.open(source) as image:
        upright = image.convert("RGB").resize(size, Image.BILINEAR)
    exif = Image.Exif()
    if orientation:
        upright = upright.transpose(STORED_ROTATED[orientation])
        exif[0x0112] = orientation
    with fileio.atomic_path(target) as tmp:
        upright.save(tmp, format="JPEG", quality=quality, exif=exif.tobytes())


def camera_copy(
    source: str | Path,
    out: str | Path,
    export: str | Path | None = None,
    size: tuple[int, int] = CAMERA_SIZE,
    photos_per_split: int | None = None,
    rotate_every: int = 3,
    quality: int = 90,
    workers: int | None = None,
) -> Path:
    """A copy of a Kaggle-layout dataset as a camera would have written it: every photo up-scaled
    to `size`, every `rotate_every`-th one stored rotated with EXIF orientation 6 or 8 (upright when
    displayed, as phones and cameras write portrait shots). The CSVs, the references and the
    annotation export (`export`, default ``source/annotations/roboflow_yolo``, copied to
    ``out/annotations/roboflow_yolo``) follow; with `photos_per_split`, only the first N training and
    test photos are kept and the CSVs and export are cut to match."""
    import csv
    import shutil

    from chocolib import annotations

    source, out = Path(source), Path(out)
    export = Path(export) if export is not None else source / "annotations" / "roboflow_yolo"
    jobs, kept = [], {}
    for split in ("train", "test"):
        photos = list(dataset.list_photos(source / split).items())[:photos_per_split]
        kept[split] = {stem for stem, _ in photos}
        for number, (stem, path) in enumerate(photos):
            orientation = (6, 8)[(number // rotate_every) % 2] if rotate_every and number % rotate_every == rotate_every - 1 else 0
            jobs.append((path, out / split / f"{stem}.JPG", size, orientation, quality))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(tqdm(pool.map(_camera_photo, jobs), total=len(jobs), desc=f"camera-size {out.name}", unit="photo"))

    for csv_name, split in (("train.csv", "train"), ("sample_submission.csv", "test"), ("test_truth.csv", "test")):
        if (source / csv_name).is_file():
            with open(source / csv_name, newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.reader(handle))
            ids = {dataset.photo_id(stem) for stem in kept[split]}
            text = "".join(",".join(row) + "\n" for row in [rows[0], *(r for r in rows[1:] if r and r[0] in ids)])
            fileio.write_text(out / csv_name, text)
    if (source / "references").is_dir():
        shutil.copytree(source / "references", out / "references", dirs_exist_ok=True)
    if export.is_dir():
        target = out / "annotations" / "roboflow_yolo"
        for path in sorted(export.rglob("*")):
            if path.is_file() and (path.suffix != ".txt" or any(c in kept["train"] for c in annotations.photo_stem_candidates(path.stem))):
                (target / path.relative_to(export)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.relative_to(export))
    log.info("camera-size copy of %s: %d photos of %d×%d in %s", source, len(jobs), *size, out)
    return out
