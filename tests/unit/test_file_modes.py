"""New files get the permissions of the user's umask (``0o666 & ~umask``), like any file a
program creates with ``open()``, although they are written through ``mkstemp`` (0600)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: writes one file with each atomic writer in a process started with the umask under test
_WRITER = """
import json, sys
from pathlib import Path
import numpy as np
from archive_colorizer.imaging.atomic import write_bytes_atomically
from archive_colorizer.imaging.tiff_write import write_tiled_tiff

folder = Path(sys.argv[1])
write_bytes_atomically(folder / "report.html", b"<html></html>")
tile = np.full((16, 16, 3), 200, np.uint8)
write_tiled_tiff(folder / "derivative.tif", tiles=iter([tile]), width=16, height=16,
                 dtype=np.uint8, tile=256)
modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
print(json.dumps(modes))
"""


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        capture_output=True, text=True, umask=umask, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"report.html": expected, "derivative.tif": expected}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["derivative.tif", "report.html"]


def test_the_umask_is_read_without_changing_it() -> None:
    from archive_colorizer.imaging.atomic import current_umask, file_mode

    done = subprocess.run(
        [sys.executable, "-c", "from archive_colorizer.imaging.atomic import current_umask, "
         "file_mode; print(current_umask(), file_mode())"],
        capture_output=True, text=True, umask=0o027, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout.split() == [str(0o027), str(0o640)], done.stderr
    assert file_mode() == 0o666 & ~current_umask()
