"""The CLI shell: version, help, and the top-level error handler."""

from __future__ import annotations

import pytest

from archive_colorizer import __version__
from archive_colorizer.cli.app import run
from archive_colorizer.cli.context import EXIT_ERROR
from archive_colorizer.errors import ModelNotFoundError
from archive_colorizer.services import api


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"archcolor {__version__}"


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def _broken_listing() -> None:
    raise RuntimeError("listing went wrong\nsecond line")


def test_unexpected_error_is_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a bug, not an archcolor error: the user reads one line and how to see more
    monkeypatch.setattr(api, "list_models", _broken_listing)
    assert run(["models"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: unexpected RuntimeError: listing went wrong (run with --debug for the traceback)"
    ]


def test_unexpected_error_with_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "list_models", _broken_listing)
    assert run(["--debug", "models"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_broken_listing" in err
    assert err.splitlines()[-1] == "error: unexpected RuntimeError: listing went wrong"


def test_debug_is_the_parsed_option_not_a_word_of_argv(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "--debug" as an option's value is not the global flag
    monkeypatch.setattr(api, "list_models", _broken_listing)
    assert run(["--store", "--debug", "models"]) == EXIT_ERROR
    assert "Traceback" not in capsys.readouterr().err


def test_archcolor_error_exit_code_and_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise ModelNotFoundError("no model 'x'; see `archcolor models`")

    monkeypatch.setattr(api, "list_models", missing)
    assert run(["models"]) == EXIT_ERROR
    assert capsys.readouterr().err == "error: no model 'x'; see `archcolor models`\n"
