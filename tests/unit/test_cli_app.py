"""The CLI shell: version, help, and the top-level error handler."""

from __future__ import annotations

import pytest

from archive_colorizer import __version__
from archive_colorizer.cli.app import run


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"archcolor {__version__}"


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err
