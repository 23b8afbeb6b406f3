"""Compute devices: ``--device auto|cpu|cuda[:N]``, precision, and deterministic settings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from archive_colorizer.errors import ConfigurationError, DeviceError

__all__ = [
    "set_threads",
]

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for a ``--device`` value.

    ``auto`` picks the first CUDA device when one is usable, else the CPU. ``cuda``/``cuda:N``
    raise DeviceError when CUDA is absent or N is out of range; any other value raises
    ConfigurationError.
    """
    text = spec.strip().lower()
    if text == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA.fullmatch(text)
    if match is None:
        raise ConfigurationError(f"--device {spec!r} is not one of {DEVICE_CHOICES}")
    index = int(match.group(1) or 0)
    if not torch.cuda.is_available():
        raise DeviceError(
            f"--device {spec}: CUDA is not available here (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu or auto"
        )
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(
            f"--device {spec}: only {count} CUDA device(s) (cuda:0..cuda:{count - 1}) are visible"
        )
    return torch.device("cuda", index)


def uses_half_precision(device: torch.device, requested: bool = True) -> bool:
    """Half precision (float16) is used on CUDA only, and only when ``requested``."""
    return requested and device.type == "cuda"


@contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Run the enclosed inference with deterministic kernels; restore the settings after.

    On CPU every operation archcolor uses is deterministic already (verified by tests: two runs
    are byte-identical). On CUDA: cuDNN deterministic algorithms, no autotuning, and
    ``torch.use_deterministic_algorithms`` (which needs ``CUBLAS_WORKSPACE_CONFIG``).
    """
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
    )
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[:2]
        torch.use_deterministic_algorithms(saved[2])


@contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """Use ``count`` intra-op CPU threads inside the block (float sums depend on the split)."""
    saved = torch.get_num_threads()
    if count != saved:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != saved:
            torch.set_num_threads(saved)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an accelerator out-of-memory error."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def release_cached_memory(device: torch.device) -> None:
    """Return cached allocator blocks after an out-of-memory error (CUDA only)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def set_threads(threads: int | None) -> None:
    """Let torch use ``threads`` CPU threads (None or 0: its default)."""
    if threads:
        torch.set_num_threads(threads)
