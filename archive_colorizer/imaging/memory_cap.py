"""A hard cap on this process's memory while it decodes and colorizes a page.

The cap is the ``RLIMIT_DATA`` soft limit (private writable memory: the heap, numpy arrays,
codec buffers). Unlike ``RLIMIT_AS`` it leaves shared mappings and reserved-but-unused address
space alone, so a GPU driver's reservations and thread pools do not count against it. Past the
cap an allocation fails (``MemoryError`` in Python) instead of the kernel's out-of-memory killer
taking the machine's processes: a decompression bomb that slips past the pre-decode checks
(:mod:`archive_colorizer.imaging.page_rules`) ends as one failed job with a reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["data_in_use", "is_out_of_memory", "memory_cap"]

#: how allocation failures read when they are not a MemoryError (thread stacks, torch's CPU
#: allocator); a GPU's own out-of-memory is not the cap and is not listed
_ALLOCATION_FAILURES = ("can't start new thread", "can't allocate memory", "DefaultCPUAllocator")
#: OpenCV's cv::Error::StsNoMem, raised as cv2.error
_OPENCV_NO_MEMORY = "(-4:Insufficient memory)"


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed (under a cap, the cap was reached), or was
    raised from one (an InferenceError wrapping torch's allocator error)."""
    cause = error.__cause__
    if cause is not None and cause is not error and is_out_of_memory(cause):
        return True
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    if _OPENCV_NO_MEMORY in text and type(error).__module__.startswith("cv2"):
        return True  # cv2.error derives from Exception only
    return isinstance(error, RuntimeError) and any(s in text for s in _ALLOCATION_FAILURES)


def data_in_use() -> int | None:
    """Bytes of private data memory this process holds now (VmData), None if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextlib.contextmanager
def memory_cap(limit_bytes: int | None) -> Iterator[None]:
    """Lower the ``RLIMIT_DATA`` soft limit to ``limit_bytes`` inside the block (restored after).

    Never raises a limit that is already lower; no-op for None/0 or where the platform has no
    ``resource`` module.
    """
    if not limit_bytes:
        yield
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    new = limit_bytes
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    if soft != resource.RLIM_INFINITY:
        new = min(new, soft)
    resource.setrlimit(resource.RLIMIT_DATA, (new, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
