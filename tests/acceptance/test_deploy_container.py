"""The deployment's container behaviour, run for real without a container engine.

The image's entrypoint script (deploy/docker/entrypoint.sh) is run with this environment's
`archcolor`: it starts archcolor when the baked-in weights verify and refuses to when they do
not. A worker started exactly as the manifests start it (`archcolor process --pending --follow`
on PostgreSQL) gets SIGTERM in the middle of a page and must stop well within every grace period
the Compose files and Kubernetes manifests give it. Wherever buildah, podman, debootstrap and root
are available (CI included; ARCHCOLOR_TEST_CONTAINER=0 opts out), deploy/build-local-image.sh
builds the image for real and runs archcolor inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from archive_colorizer.cli.app import run
from archive_colorizer.inference.registry import DEFAULT_FILE, ENV_MODELS_DIR
from tests.queue_support import wait_for
from tests.unit.test_deploy_manifests import (
    ENTRYPOINT_SCRIPT,
    MIN_GRACE_S,
    REPO,
    WEIGHTS_MISMATCH_EXIT,
    grace_periods,
)

# --- the container entrypoint, run for real -------------------------------------------------------


def run_entrypoint(models_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        ENV_MODELS_DIR: str(models_dir),
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


def copy_default_model(target: Path) -> Path:
    """A models folder holding a copy of the repository's default model; its weights file."""
    source = REPO / "models"
    name = (source / DEFAULT_FILE).read_text(encoding="utf-8").strip()
    shutil.copytree(source / name, target / name)
    (target / DEFAULT_FILE).write_text(name + "\n", encoding="utf-8")
    return target / name / "weights.safetensors"


@pytest.mark.slow  # two Python start-ups: about 3 s, more on a busy machine
def test_the_entrypoint_runs_archcolor_when_the_weights_verify(tmp_path: Path) -> None:
    copy_default_model(tmp_path)
    result = run_entrypoint(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("archcolor ")


def test_the_entrypoint_refuses_to_start_with_damaged_weights(tmp_path: Path) -> None:
    weights = copy_default_model(tmp_path)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = run_entrypoint(tmp_path, "--version")
    assert result.returncode == WEIGHTS_MISMATCH_EXIT
    assert "MISMATCH" in result.stderr and "sha256" in result.stderr
    assert "archcolor " not in result.stdout


# --- the grace period against a real worker's SIGTERM ---------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_stops_on_sigterm_well_within_the_grace_period(
    postgres_url: str, tmp_path: Path
) -> None:
    """`archcolor process --pending --follow` (as in the containers), SIGTERM mid-page."""
    assert run(["demo-volume", str(tmp_path / "scans")]) == 0
    assert run(["--db", postgres_url, "ingest", str(tmp_path / "scans" / "volume-01")]) == 0
    archcolor = Path(sys.executable).with_name("archcolor")
    worker = subprocess.Popen(
        [str(archcolor), "process", "--pending", "--follow", "--json", "--device", "cpu"],
        env={
            **os.environ,
            "ARCHCOLOR_DATABASE_URL": postgres_url,
            "ARCHCOLOR_STORE": str(tmp_path / "store"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = create_engine(postgres_url)
    try:

        def running() -> bool:
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text("SELECT count(*) FROM jobs WHERE state = 'running'")
                    ).scalar_one()
                )

        wait_for(lambda: running() or worker.poll() is not None, 180, "a job to be claimed")
        assert worker.poll() is None, worker.communicate()[1]
        signalled = time.monotonic()
        worker.terminate()
        _, stderr = worker.communicate(timeout=120)
        seconds = time.monotonic() - signalled
        with engine.connect() as conn:
            states = dict(
                conn.execute(text("SELECT state, count(*) FROM jobs GROUP BY state")).all()
            )
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        engine.dispose()
    assert worker.returncode == 143, stderr
    assert "running" not in states and states.get("pending", 0) >= 1, states
    grace = grace_periods()
    assert len(grace) >= 3
    for where, allowed in grace:
        assert 2 * seconds <= allowed, f"{where}: {allowed} s grace, a worker took {seconds:.1f} s"
    assert 2 * seconds <= MIN_GRACE_S


def test_the_entrypoint_says_so_when_archcolor_itself_cannot_run(tmp_path: Path) -> None:
    shell = shutil.which("sh")
    assert shell is not None
    result = subprocess.run(
        [shell, str(ENTRYPOINT_SCRIPT), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": str(tmp_path)},  # no archcolor on it
    )
    assert result.returncode == 127
    assert "checking the models failed (exit 127" in result.stderr


# --- the image itself, built without a registry ---------------------------------------------------

BUILD_SCRIPT = REPO / "deploy" / "build-local-image.sh"
#: runs wherever the tools are (CI included); =0 opts out: a build needs the network (apt and
#: pip indexes) and minutes (see the test's docstring)
CONTAINER_OPT_OUT = "ARCHCOLOR_TEST_CONTAINER"


def container_skip_reason() -> str | None:
    missing = [tool for tool in ("buildah", "podman", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: apt-get install {' '.join(missing)})"
    if os.geteuid() != 0:
        return "building the image (debootstrap, buildah --isolation chroot) needs root"
    if os.environ.get(CONTAINER_OPT_OUT) == "0":
        return f"{CONTAINER_OPT_OUT}=0: the image build was opted out"
    return None


def image_sections(stdout: str) -> dict[str, str]:
    """The script's output after each `--- in IMAGE: archcolor ARGS` line, by ARGS' command."""
    sections: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("--- in ") and ": archcolor " in line:
            args = line.split(": archcolor ", 1)[1].split()
            words = [arg for arg in args if not arg.startswith("-") and "/" not in arg]
            current = words[0] if words else " ".join(args)
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


@pytest.mark.slow
@pytest.mark.container
def test_the_image_builds_and_runs_archcolor(tmp_path: Path) -> None:
    """deploy/build-local-image.sh: debootstrap base, buildah build, four commands inside.

    Cold (no base image, no cached layers) about 8 minutes on 2 busy cores; with the base image
    and layers cached, a source change costs about 3-4 minutes (reinstall of archcolor and the
    copy of the virtual environment), no change about 1 minute. Runs wherever the tools are;
    ARCHCOLOR_TEST_CONTAINER=0 opts out.
    """
    reason = container_skip_reason()
    if reason:
        pytest.skip(reason)
    log = tmp_path / "build.log"
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "ARCHCOLOR_BUILD_LOG": str(log)},
    )
    details = f"{result.stdout}\n{result.stderr}\n{log.read_text(errors='replace')[-4000:]}"
    assert result.returncode == 0, details
    sections = image_sections(result.stdout)
    assert set(sections) == {"--version", "db", "models", "colorize"}, details
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert sections["--version"].strip().splitlines()[-1] == f"archcolor {version}"
    assert "schema upgraded from empty to" in sections["db"] and "(head)" in sections["db"]
    default = (REPO / "models" / DEFAULT_FILE).read_text(encoding="utf-8").strip()
    assert f"default model: {default}" in sections["models"]
    assert "MISMATCH" not in sections["models"]
    colorized = json.loads(sections["colorize"].strip().splitlines()[-1])
    assert colorized["device"] == "cpu" and colorized["model"] == default
    assert colorized["width"] > 0 and colorized["height"] > 0 and colorized["bytes"] > 0
    assert colorized["output"] == "/home/archcolor/colour.tif"
