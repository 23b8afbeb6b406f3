"""The training options are defined once (inference.train_options): the command line, the
services and the trainer's TrainConfig all take them from there."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from archive_colorizer.cli.app import run
from archive_colorizer.inference.train_options import TrainOptions, command_line_options


def test_every_option_is_a_flag_of_train(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["train", "--help"]) == 0
    shown = capsys.readouterr().out
    for _, _, _, spec in command_line_options():
        assert spec.flag in shown
    assert [name for name, *_ in command_line_options()] == [f.name for f in fields(TrainOptions)]


def test_the_command_lines_text_becomes_the_options() -> None:
    values = {name: default for name, _, default, _ in command_line_options()}
    assert TrainOptions.from_command_line(values) == TrainOptions()
    values |= {
        "augment": "none",
        "time_budget_s": 1.5,
        "network_config": '{"mix": 0.25}',
        "source_shares": "gitenberg-print=0.5",
        "init_from": Path("models/x.y"),
    }
    options = TrainOptions.from_command_line(values)
    assert options.augment == ()
    assert options.time_budget_s == 90.0
    assert options.network_config == {"mix": 0.25}
    assert options.source_shares == {"gitenberg-print": 0.5}
    assert options.init_from == Path("models/x.y")
