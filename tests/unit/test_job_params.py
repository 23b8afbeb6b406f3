"""A job row's parameters read back as the ColorizeParams they were queued with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from archive_colorizer.catalog.queue import ClaimedJob
from archive_colorizer.errors import PermanentJobError
from archive_colorizer.services.colorize import PIPELINE_VERSION, ColorizeParams
from archive_colorizer.services.enqueue import params_hash
from archive_colorizer.services.runner import params_from_job

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _job(params: dict[str, Any], digest: str | None = None) -> ClaimedJob:
    return ClaimedJob(
        id=1, scan_id=1, model_name="m", weights_sha256="0" * 64, params=params,
        params_hash=digest or params_hash(params), pipeline_version=PIPELINE_VERSION,
        idempotency_key="k", generation=1, attempts=1, max_attempts=3, queued_at=WHEN,
        worker_id="w", lease_until=WHEN,
    )  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [
        ColorizeParams(),
        ColorizeParams(chroma_size=0, lowpass=0.0, compression="zstd", paper_mask=False),
        ColorizeParams(render="wash", wash_darkening=0.4),
    ],
)
def test_the_row_gives_back_the_parameters(params: ColorizeParams) -> None:
    assert params_from_job(_job(params.as_dict())) == params


def test_a_row_from_before_the_paper_mask_means_no_mask() -> None:
    row = ColorizeParams(paper_mask=False).as_dict()
    old = {key: value for key, value in row.items() if key not in ("paper_mask", "render")}
    assert params_from_job(_job(old, params_hash(row))) == ColorizeParams(paper_mask=False)


def test_parameters_this_version_cannot_reproduce_are_permanent_errors() -> None:
    row = ColorizeParams().as_dict()
    with pytest.raises(PermanentJobError, match="not reproducible"):
        params_from_job(_job({**row, "lowpass": 2.5}, params_hash(row)))
