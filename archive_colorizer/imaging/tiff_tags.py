"""The TIFF codes archcolor knows: tag numbers and names, and what the values of Compression,
PhotometricInterpretation, SampleFormat, ResolutionUnit and Orientation mean.

One table for the three readers of a master: ingest's own parser (:mod:`tiff_facts`), the
worker's reader (:mod:`tiff_read`, through tifffile) and the page rules they share
(:mod:`page_rules`). Pure data; imports nothing.
"""

from __future__ import annotations

__all__ = [
    "ANY_JPEG_CODES",
    "BITS_PER_SAMPLE",
    "COLOR_MAP",
    "COMPRESSION",
    "COMPRESSIONS",
    "DEFAULT_ORIENTATION",
    "ICC_PROFILE",
    "IMAGE_LENGTH",
    "IMAGE_WIDTH",
    "JPEG2000_CODES",
    "JPEG_CODES",
    "MINISBLACK",
    "MINISWHITE",
    "NEW_SUBFILE_TYPE",
    "OLD_JPEG",
    "ORIENTATION",
    "ORIENTATIONS",
    "PALETTE",
    "PHOTOMETRIC",
    "PHOTOMETRICS",
    "PLANAR_CONFIGURATION",
    "RESOLUTION_UNIT",
    "RESOLUTION_UNITS",
    "RGB",
    "ROWS_PER_STRIP",
    "SAMPLES_PER_PIXEL",
    "SAMPLE_FORMAT",
    "SAMPLE_FORMATS",
    "STRIP_BYTE_COUNTS",
    "STRIP_OFFSETS",
    "SUBFILE_TYPE",
    "SUB_IFDS",
    "SUPPORTED_BITS",
    "TAG_NAMES",
    "TILE_BYTE_COUNTS",
    "TILE_LENGTH",
    "TILE_OFFSETS",
    "TILE_WIDTH",
    "UNSUPPORTED_COMPRESSIONS",
    "WEBP_CODES",
    "X_RESOLUTION",
    "YCBCR",
    "Y_RESOLUTION",
]

# --- tags ------------------------------------------------------------------------------------

NEW_SUBFILE_TYPE = 254
SUBFILE_TYPE = 255
IMAGE_WIDTH = 256
IMAGE_LENGTH = 257
BITS_PER_SAMPLE = 258
COMPRESSION = 259
PHOTOMETRIC = 262
STRIP_OFFSETS = 273
ORIENTATION = 274
SAMPLES_PER_PIXEL = 277
ROWS_PER_STRIP = 278
STRIP_BYTE_COUNTS = 279
X_RESOLUTION = 282
Y_RESOLUTION = 283
PLANAR_CONFIGURATION = 284
RESOLUTION_UNIT = 296
COLOR_MAP = 320
TILE_WIDTH = 322
TILE_LENGTH = 323
TILE_OFFSETS = 324
TILE_BYTE_COUNTS = 325
SUB_IFDS = 330
SAMPLE_FORMAT = 339
ICC_PROFILE = 34675

#: the tags archcolor reads, by the names messages use
TAG_NAMES: dict[int, str] = {
    NEW_SUBFILE_TYPE: "NewSubfileType",
    SUBFILE_TYPE: "SubfileType",
    IMAGE_WIDTH: "ImageWidth",
    IMAGE_LENGTH: "ImageLength",
    BITS_PER_SAMPLE: "BitsPerSample",
    COMPRESSION: "Compression",
    PHOTOMETRIC: "PhotometricInterpretation",
    STRIP_OFFSETS: "StripOffsets",
    ORIENTATION: "Orientation",
    SAMPLES_PER_PIXEL: "SamplesPerPixel",
    ROWS_PER_STRIP: "RowsPerStrip",
    STRIP_BYTE_COUNTS: "StripByteCounts",
    X_RESOLUTION: "XResolution",
    Y_RESOLUTION: "YResolution",
    PLANAR_CONFIGURATION: "PlanarConfiguration",
    RESOLUTION_UNIT: "ResolutionUnit",
    COLOR_MAP: "ColorMap",
    TILE_WIDTH: "TileWidth",
    TILE_LENGTH: "TileLength",
    TILE_OFFSETS: "TileOffsets",
    TILE_BYTE_COUNTS: "TileByteCounts",
    SUB_IFDS: "SubIFDs",
    SAMPLE_FORMAT: "SampleFormat",
    ICC_PROFILE: "ICCProfile",
}

# --- Compression -----------------------------------------------------------------------------

#: Compression values archcolor accepts, by the name the catalogue records
COMPRESSIONS: dict[int, str] = {
    1: "none",
    2: "ccitt_rle",
    3: "ccitt_g3",
    4: "ccitt_g4",
    5: "lzw",
    7: "jpeg",
    8: "deflate",
    32773: "packbits",
    32946: "deflate",
    34925: "lzma",
    50000: "zstd",
    50001: "webp",
    34712: "jpeg2000",
    50002: "jpegxl",
    52546: "jpegxl",
}
#: old-style JPEG: known, but refused (it cannot be decoded reliably)
OLD_JPEG = 6
#: compressions we know of but do not accept
UNSUPPORTED_COMPRESSIONS: dict[int, str] = {OLD_JPEG: "old-style JPEG (compression 6)"}
#: JPEG-compressed segments (new-style JPEG, and Adobe's JPEG code)
JPEG_CODES = frozenset({7, 34892})
#: every JPEG flavour, old-style included: decoded with the page's JPEGTables, may be YCbCr
ANY_JPEG_CODES = JPEG_CODES | {OLD_JPEG}
#: JPEG 2000 segments (the registered code and Aperio's)
JPEG2000_CODES = frozenset({33003, 33004, 33005, 34712})
#: WebP-compressed segments (the registered code and tifffile's)
WEBP_CODES = frozenset({34927, 50001})

# --- PhotometricInterpretation, SampleFormat, BitsPerSample ------------------------------------

MINISWHITE, MINISBLACK, RGB, PALETTE, YCBCR = 0, 1, 2, 3, 6
PHOTOMETRICS: dict[int, str] = {
    MINISWHITE: "miniswhite",
    MINISBLACK: "minisblack",
    RGB: "rgb",
    PALETTE: "palette",
    4: "mask",
    5: "separated",
    YCBCR: "ycbcr",
    8: "cielab",
    9: "icclab",
    10: "itulab",
}
SAMPLE_FORMATS = {1: "uint", 2: "int", 3: "float", 4: "void"}
SUPPORTED_BITS = {1, 2, 4, 8, 16, 32, 64}

# --- ResolutionUnit, Orientation -------------------------------------------------------------

#: ResolutionUnit values (1: no absolute unit); the tag's default is 2 (inch)
RESOLUTION_UNITS: dict[int, str | None] = {1: None, 2: "inch", 3: "centimeter"}
#: the Orientation values TIFF 6.0 defines: 1 is rows top to bottom, columns left to right;
#: 5-8 store the page transposed. Ingest refuses any other value as a corrupt file; the
#: worker's reader, which may be given a file that was never ingested, draws it as stored (1).
ORIENTATIONS = range(1, 9)
DEFAULT_ORIENTATION = 1
