"""Which failures count as "the memory cap was reached" (a dead job, not a retry)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from archive_colorizer.imaging.memory_cap import data_in_use, is_out_of_memory, memory_cap


def test_allocation_failures_of_python_torch_and_opencv_are_out_of_memory() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("(-4:Insufficient memory)"))  # not OpenCV's own error


def test_an_opencv_allocation_under_the_cap_is_recognised() -> None:
    # a real cv2.error from a real allocation that cannot fit under the cap
    image = np.zeros((8000, 8000), np.float32)  # 256 MB, allocated before the cap
    in_use = data_in_use()
    assert in_use is not None
    with pytest.raises(cv2.error) as caught, memory_cap(in_use + 64 * 2**20):
        cv2.GaussianBlur(image, (0, 0), 2.0)  # needs another 256 MB for its output
    assert is_out_of_memory(caught.value)
