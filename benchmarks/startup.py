"""Where the first page of a ``process`` run spends its time before its first tile.

    python benchmarks/startup.py                 # 35 MP synthetic master, default model, CPU
    python benchmarks/startup.py --megapixels 150 --json

Two measurements, each in FRESH subprocesses (cold imports):

1. ``archcolor ingest`` + ``archcolor process --pending`` end to end on one synthetic master
   (its own catalog, store and digest cache), the command's wall time next to the page's job
   time from its ``--json`` report: the difference is start-up (imports, catalog, model
   loading) and shut-down;
2. the same steps timed one by one in one process, in the order ``process`` does them: CLI
   imports, catalog open + schema check + queueing, ``import torch``, model loading (weights
   read, verified and parsed; with a cold and a warm weights-digest cache), the master's
   sha256 fixity check, and the page's first pass (read + reduce + network) up to the first
   output tile.

3. ``archcolor colorize`` of the same master (no catalog): the command's wall time next to the
   page pipeline's seconds from its ``--json`` summary (which leave out the time the page waited
   for the model: the model loads on a background thread while the page is read and reduced),
   so the difference is what the one-page command spends outside the pipeline.

Times are wall seconds on whatever else the machine is doing; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _steps(master: Path, workdir: Path, model: str | None, device: str) -> dict[str, float]:
    """Run in a fresh process: time each start-up step of ``process`` in order."""
    seconds: dict[str, float] = {}

    def timed(name: str, started: float) -> float:
        now = time.perf_counter()
        seconds[name] = round(now - started, 4)
        return now

    started = time.perf_counter()
    import archive_colorizer.cli.app  # noqa: F401

    started = timed("import_cli", started)
    from archive_colorizer.catalog.engine import create_catalog_engine
    from archive_colorizer.catalog.migrations import upgrade

    url = f"sqlite:///{workdir / 'steps.sqlite3'}"
    engine = create_catalog_engine(url)
    upgrade(engine)
    started = timed("catalog_open_and_migrate", started)
    import torch  # noqa: F401

    started = timed("import_torch", started)
    from archive_colorizer.inference.registry import find_model, load_predictor

    found = find_model(model)
    predictor = load_predictor(found.name, device=device)
    started = timed("load_model_cold_digest_cache", started)
    predictor = load_predictor(found.name, device=device)
    started = timed("load_model_warm_digest_cache", started)
    from archive_colorizer.imaging.hashing import sha256_file

    sha256_file(found.weights_path)
    started = timed("hash_weights_alone", started)
    sha256_file(master)
    started = timed("master_fixity_sha256", started)
    from archive_colorizer.services.colorize import ColorizeParams, colorize_master

    result = colorize_master(
        master,
        workdir / "steps-out.tif",
        predictor,
        ColorizeParams(),
        provenance={"source_sha256": "0" * 64},
    )
    timed("colorize_page", started)
    stages = result.stage_seconds
    seconds["first_pass_read_reduce"] = round(stages["reduce"], 4)
    seconds["first_pass_network"] = round(stages["network"], 4)
    return seconds


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    command = [sys.executable, "-c", "from archive_colorizer.cli.app import main; main()", *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return seconds, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=35.0)
    parser.add_argument("--model", default=None, help="registry model (default: the default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--master-compression", default="none", help="none, deflate, lzw")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--steps", nargs=2, metavar=("MASTER", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps:
        master, workdir = (Path(p) for p in args.steps)
        print(json.dumps(_steps(master, workdir, args.model, args.device)))
        return 0

    from archive_colorizer.imaging.synthetic import write_large_master

    with tempfile.TemporaryDirectory(prefix="archcolor-startup-", dir=args.workdir) as tmp:
        folder = Path(tmp)
        width = int(math.sqrt(args.megapixels * 1e6 * 4 / 3)) // 16 * 16
        height = int(args.megapixels * 1e6 / width) // 16 * 16
        volume = folder / "volume"
        volume.mkdir()
        master = write_large_master(
            volume / "page.tif", width=width, height=height, compression=args.master_compression
        )
        env = {
            **os.environ,
            "ARCHCOLOR_DATABASE_URL": f"sqlite:///{folder / 'catalog.sqlite3'}",
            "ARCHCOLOR_STORE": str(folder / "store"),
            "ARCHCOLOR_CACHE_DIR": str(folder / "cache"),
        }
        model = ["--model", args.model] if args.model else []
        help_seconds, _ = _cli(["--help"], env)
        ingest_seconds, _ = _cli(["ingest", str(volume)], env)
        process_seconds, out = _cli(
            ["process", "--pending", "--device", args.device, "--json", *model], env
        )
        reports = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        job = next((r["seconds"] for r in reports if r.get("status") == "done"), None)
        derivative = str(folder / "colorized.tif")
        colorize_seconds, out = _cli(
            ["colorize", str(master), "-o", derivative, "--device", args.device, "--json", *model],
            {**env, "ARCHCOLOR_DATABASE_URL": f"sqlite:///{folder / 'no-catalog.sqlite3'}"},
        )
        pipeline = json.loads(out)["seconds"]
        env["ARCHCOLOR_CACHE_DIR"] = str(folder / "steps-cache")
        command = [sys.executable, __file__, "--steps", str(master), str(folder)]
        steps = subprocess.run(
            [*command, "--device", args.device, *model],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        row: dict[str, Any] = {
            "width": width,
            "height": height,
            "help_seconds": round(help_seconds, 3),
            "ingest_seconds": round(ingest_seconds, 3),
            "process_seconds": round(process_seconds, 3),
            "process_job_seconds": job,
            "process_outside_job_seconds": None if job is None else round(process_seconds - job, 3),
            "colorize_seconds": round(colorize_seconds, 3),
            "colorize_pipeline_seconds": pipeline,
            "colorize_outside_pipeline_seconds": round(colorize_seconds - pipeline, 3),
            "steps": json.loads(steps.stdout.strip().splitlines()[-1]),
        }
    if args.json:
        print(json.dumps(row))
        return 0
    _print(row, args.device)
    return 0


def _print(row: dict[str, Any], device: str) -> None:
    print(f"{row['width']}x{row['height']} 8-bit master, device {device}")
    print(f"archcolor --help                  {row['help_seconds']:7.2f} s")
    print(f"archcolor ingest                  {row['ingest_seconds']:7.2f} s")
    print(f"archcolor process --pending       {row['process_seconds']:7.2f} s")
    job = row["process_job_seconds"]
    if job is not None:
        print(f"  of which the page's job         {job:7.2f} s")
        print(f"  outside the job                 {row['process_outside_job_seconds']:7.2f} s")
    print(f"archcolor colorize (no catalog)   {row['colorize_seconds']:7.2f} s")
    print(f"  of which the page pipeline      {row['colorize_pipeline_seconds']:7.2f} s")
    print(f"  outside the pipeline            {row['colorize_outside_pipeline_seconds']:7.2f} s")
    print("step by step (one fresh process, in process order):")
    for name, value in row["steps"].items():
        print(f"  {name:32} {value:7.3f} s")


if __name__ == "__main__":
    sys.exit(main())
