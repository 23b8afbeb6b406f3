"""Every `archcolor` command shown in README.md and scripts/demo is accepted by the real CLI
(commands, options and values parse; nothing runs). The demo itself runs the catalog examples
end to end in CI-like conditions via ./scripts/demo; this check keeps the documentation and the
CLI from drifting apart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_parsing import Invocation, parse_with_cli, shell_invocations

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEMO = REPO / "scripts" / "demo"


def readme_invocations() -> Iterator[Invocation]:
    """`archcolor …` lines of README.md's shell code blocks."""
    language: str | None = None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language in {"", "sh", "bash"}:
            yield from shell_invocations(f"README.md:{number}", line)


def invocations() -> list[Invocation]:
    found = list(readme_invocations())
    found.extend(shell_invocations("scripts/demo", DEMO.read_text(encoding="utf-8")))
    return found


def test_the_readme_shows_every_command() -> None:
    shown = {parse_with_cli(invocation.argv) for invocation in readme_invocations()}
    documented = {
        "ingest", "status", "scans", "show", "verify", "demo-volume", "colorize", "models",
        "process", "jobs", "retry", "worker health", "export", "report", "simulate", "train",
        "evaluate", "c2pa test-cert", "hints import", "hints list", "reference set",
    }  # fmt: skip
    assert documented <= shown, f"commands without a README example: {documented - shown}"


@pytest.mark.parametrize("invocation", invocations(), ids=str)
def test_every_documented_command_line_is_accepted(invocation: Invocation) -> None:
    parse_with_cli(invocation.argv)


def test_the_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in ci
