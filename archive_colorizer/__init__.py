"""archcolor: catalogue, colorize and export scanned archival gravures."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("archive-colorizer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
