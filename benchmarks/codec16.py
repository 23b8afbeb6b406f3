"""Deflate encoders on 16-bit colour derivative tiles: MB/s and ratio.

A synthetic 16-bit master (``imaging.synthetic.write_large_master``, 4096x4096) is coloured
with a smooth chroma field into an uncompressed 16-bit derivative; its first 16 tiles of 512 px,
horizontally differenced as the writer does for 16-bit (TIFF Predictor 2), are compressed by
each encoder. Shows why 16-bit pages are bound by deflate: the low byte is grain.

    PYTHONPATH=$PWD python benchmarks/codec16.py
"""

from __future__ import annotations

import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile

from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import write_large_master
from archive_colorizer.services.colorize import ColorizeParams, colorize_master


class SmoothChroma:
    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        h, w = lightness.shape
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        return np.stack([10 * np.sin(x / 50), 20 * np.cos(y / 70)]).astype(np.float32)


def zlib_strategy(strategy: int) -> Callable[[np.ndarray], bytes]:
    def encode(data: np.ndarray) -> bytes:
        compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, strategy)
        return compressor.compress(data.tobytes()) + compressor.flush()

    return encode


ENCODERS: dict[str, Callable[[np.ndarray], bytes]] = {
    "libdeflate level 1 (the writer's)": lambda d: imagecodecs.deflate_encode(d, level=1),
    "libdeflate level 0 (stored)": lambda d: imagecodecs.deflate_encode(d, level=0),
    "zlib level 1": lambda d: zlib.compress(d.tobytes(), 1),
    "zlib Huffman only": zlib_strategy(zlib.Z_HUFFMAN_ONLY),
    "zlib RLE": zlib_strategy(zlib.Z_RLE),
    "zlib-ng level 1": lambda d: imagecodecs.zlibng_encode(d, level=1),
}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="archcolor-codec16-") as folder:
        master, output = Path(folder) / "m16.tif", Path(folder) / "o16.tif"
        write_large_master(master, width=4096, height=4096, bits=16, compression="none")
        provenance = {"source_sha256": sha256_file(master)}
        params = ColorizeParams(compression="none")
        colorize_master(master, output, SmoothChroma(), params, provenance=provenance)
        image = tifffile.imread(output)
    tiles = [
        imagecodecs.delta_encode(np.ascontiguousarray(image[y : y + 512, x : x + 512]), axis=-2)
        for y in range(0, 2048, 512)
        for x in range(0, 2048, 512)
    ]
    raw = sum(tile.nbytes for tile in tiles)
    for name, encode in ENCODERS.items():
        started = time.perf_counter()
        size = sum(len(encode(tile)) for tile in tiles)
        seconds = time.perf_counter() - started
        print(f"{name:36s} {raw / seconds / 1e6:8.1f} MB/s  ratio {raw / size:.3f}")


if __name__ == "__main__":
    main()
