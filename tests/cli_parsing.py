"""Check archcolor command lines the way the CLI itself would parse them (nothing runs).

Shared by the deployment-manifest checks and the README-example checks.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer.main

from archive_colorizer.cli.app import app


@dataclass(frozen=True)
class Invocation:
    """One archcolor command line found in a deployment file."""

    where: str
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: archcolor {shlex.join(self.argv)}"


SHELL_PREFIXES = {"exec", "!", "if", "then", "else", "do", "command", "time", "$"}


def shell_invocations(where: str, text: str) -> Iterator[Invocation]:
    """archcolor commands in shell text (a script, a RUN line, a README code block).

    Only ``archcolor`` in command position counts (first word of a simple command, after
    ``exec``/``if``/``!`` or variable assignments); invocations passing shell parameters on
    (``"$@"``) cannot be checked statically and are left out.
    """
    text = re.sub(r"\\\n", " ", text)
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)  # comments
        line = re.sub(r"\s\d?>&?\s*[^\s;|&)]+", " ", line)  # redirections
        for part in re.split(r"&&|\|\||[;|]|\$\(|\)", line):
            try:
                tokens = shlex.split(part)
            except ValueError:
                continue
            while tokens and (tokens[0] in SHELL_PREFIXES or re.match(r"\w+=", tokens[0])):
                tokens.pop(0)
            if tokens[:1] != ["archcolor"] or any("$" in token for token in tokens):
                continue
            yield Invocation(where, tuple(tokens[1:]))


@functools.cache
def cli_root() -> Any:
    return typer.main.get_command(app)


class RejectedByCli(Exception):
    """archcolor would refuse this command line (usage error)."""


def parse_with_cli(argv: tuple[str, ...]) -> str:
    """Parse ``argv`` exactly as archcolor would (no command runs); return the command path.

    Raises the CLI's own usage error for an unknown command or option or a bad value.
    """
    command: Any = cli_root()
    name, args, parent, path = "archcolor", list(argv), None, []
    try:
        while True:
            ctx = command.make_context(name, args, parent=parent)
            if not hasattr(command, "commands"):
                return " ".join(path)
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not rest:
                raise RejectedByCli(f"`archcolor {shlex.join(argv)}` names no command")
            name, command, args = command.resolve_command(ctx, rest)
            path.append(name)
            parent = ctx
    except typer.Exit as stop:  # --help and --version finish parsing early, successfully
        assert stop.exit_code == 0, f"`archcolor {shlex.join(argv)}` exits {stop.exit_code}"
        return " ".join(path)
    except RejectedByCli:
        raise
    except Exception as error:  # the CLI's usage errors all have format_message()
        if not hasattr(error, "format_message"):
            raise
        message = error.format_message() or type(error).__name__
        raise RejectedByCli(f"`archcolor {shlex.join(argv)}`: {message}") from error
