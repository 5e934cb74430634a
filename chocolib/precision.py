"""Numeric precision of training and inference: one setting, ``amp = auto | bf16 | fp16 | off``.

``auto`` resolves per model and device, by measurement (`benchmarks/precision_speed.py` and real
training runs, docs/cpu-profile.md):

* CUDA: fp16 autocast with a GradScaler for training (torch's recipe, and what the seed used);
* a CPU with native bf16 (AVX512-BF16 or AMX): bf16 autocast for the models measured faster under
  it there (YOLO12s: its dense 3×3 convolutions run on the bf16 units), fp32 for the others (the
  Faster R-CNN's depthwise convolutions and RoIAlign ran *slower* under bf16 autocast);
* any other CPU (no bf16 units: autocast would emulate bf16, several times slower) and MPS: fp32.

``bf16`` and ``fp16`` force that autocast where the device can run it; ``off`` is fp32.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass

from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp16", "off")

#: models whose training step ran faster under bf16 autocast than in fp32 on a CPU with bf16 units
#: (issue 23's measurement on an AMX Xeon, 2 cores: YOLO12s 5.97 against 4.28 images/s, the Faster
#: R-CNN 0.91 against 1.34; the Faster R-CNN's real training on an EPYC with AVX512-BF16, stop 41:
#: 1.42–1.47 against 2.09–2.32 images/s, where a 4-step table of pre-seen batches showed it 1.2× faster)
CPU_BF16_FASTER = {"yolo12": True, "faster_rcnn": False}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles), as oneDNN uses them."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@functools.cache
def _warn_emulated() -> None:
    log.warning("precision: this CPU has no bf16 units (AVX512-BF16/AMX): bf16 is emulated and slower than fp32")


def normalise(amp) -> str:
    """The setting as a name; the booleans of older configs mean auto (True) and off (False)."""
    if amp is True:
        return "auto"
    if amp is False or amp is None:
        return "off"
    if amp not in PRECISIONS:
        raise ChocoError(f"amp must be one of {', '.join(PRECISIONS)}, not {amp!r}")
    return amp


@dataclass(frozen=True)
class Precision:
    """What a loop runs in: ``dtype`` is ``"bf16"``, ``"fp16"`` or ``"fp32"`` on ``device_type``."""

    dtype: str
    device_type: str
    reason: str = ""

    @property
    def torch_dtype(self):
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.dtype]

    def autocast(self):
        """The forward pass's context: autocast to the dtype, or nothing in fp32."""
        if self.dtype == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device_type, dtype=self.torch_dtype)

    def grad_scaler(self):
        """A GradScaler where fp16 gradients need one (CUDA fp16), else None."""
        if self.dtype != "fp16":
            return None
        import torch

        return torch.amp.GradScaler(self.device_type)

    def line(self) -> str:
        return f"precision {self.dtype} on {self.device_type}" + (f" ({self.reason})" if self.reason else "")


def resolve(amp, device, model: str) -> Precision:
    """The precision `amp` means for `model` (a key of `CPU_BF16_FASTER`) on `device`."""
    amp = normalise(amp)
    kind = getattr(device, "type", str(device))
    if amp == "off":
        return Precision("fp32", kind, "amp off")
    if amp == "fp16":
        if kind != "cuda":
            raise ChocoError(f"amp fp16 needs a CUDA device, not {kind}: use bf16 or off")
        return Precision("fp16", kind, "asked")
    if amp == "bf16":
        if kind == "mps":
            raise ChocoError("amp bf16 is not supported on MPS: use off")
        if kind == "cpu" and not cpu_has_native_bf16():
            _warn_emulated()
        return Precision("bf16", kind, "asked")
    # auto
    if kind == "cuda":
        return Precision("fp16", kind, "auto: CUDA")
    if kind == "cpu":
        if not cpu_has_native_bf16():
            return Precision("fp32", kind, "auto: this CPU has no bf16 units")
        if CPU_BF16_FASTER.get(model, False):
            return Precision("bf16", kind, f"auto: native bf16, measured faster for {model}")
        return Precision("fp32", kind, f"auto: native bf16, but measured slower for {model}")
    return Precision("fp32", kind, f"auto: {kind}")


def for_run(amp, device, model: str, state: dict | None = None) -> Precision:
    """The precision of a training run: `resolve`'s, except that a resumed run (`state`, its
    ``last.pt``) keeps the one it started in on the same kind of device, so its epochs stay one run."""
    chosen = resolve(amp, device, model)
    saved = (state or {}).get("precision")
    if saved and saved["device_type"] == chosen.device_type:
        if saved["dtype"] != chosen.dtype:
            log.info("precision: resuming in %s as the run started (amp=%s would choose %s)", saved["dtype"], normalise(amp), chosen.dtype)
        return Precision(saved["dtype"], saved["device_type"], "as the run started")
    return chosen


def as_dict(precision: Precision) -> dict:
    """What config.json and the checkpoints record."""
    return {"dtype": precision.dtype, "device_type": precision.device_type}
