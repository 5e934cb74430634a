"""The blur kernels a camera makes, in one place for the training's camera effects
(`augment.camera_effects`), each chocolate's own blur (`copy_paste.restyle`) and the corruption
suite (`robustness`)."""

from __future__ import annotations

import numpy as np


def motion_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised line kernel (length × length, odd) at `angle` radians: what a shaken camera does."""
    size = int(length) | 1
    kernel = np.zeros((size, size), np.float32)
    for t in np.linspace(-(size // 2), size // 2, 4 * size):
        kernel[int(round(size // 2 + t * np.sin(angle))), int(round(size // 2 + t * np.cos(angle)))] = 1
    return kernel / kernel.sum()
