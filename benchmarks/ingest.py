#!/usr/bin/env python3
"""Benchmark `archcolor ingest` against `sha256sum` on the same large TIFF masters.

Builds synthetic tiled grey masters in a temporary folder (default 20 x 100 MB plus one 1 GB
file), then, in the same run and on the same (page-cached) files:

1. times ``sha256sum`` and ``archcolor --db sqlite:///<fresh> ingest DIR --json`` (alternating,
   ``--repeat`` times each, best run kept), prints MB/s of each and the ratio (target >= 0.8);
2. ingests the 1 GB master into a fresh catalog and reports the ingest process's peak RSS
   (its VmHWM polled from /proc; target: tens of MB).

Both commands run as separate processes, so the ingest time includes interpreter start-up and
catalog creation: the figure is what an archivist waits for. Usage::

    python benchmarks/ingest.py                      # 20 x 100 MB + 1 GB (about 3 GB of disk)
    python benchmarks/ingest.py --files 4 --file-mb 25 --big-mb 200    # quick run
    python benchmarks/ingest.py --json               # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from archive_colorizer.imaging.synthetic import dimensions_for_bytes, write_large_master

MB = 1_000_000


def archcolor_command() -> list[str]:
    """The `archcolor` console script of this interpreter's environment (or a fallback)."""
    beside = Path(sys.executable).with_name("archcolor")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("archcolor")
    if found:
        return [found]
    return [sys.executable, "-c", "from archive_colorizer.cli.app import main; main()"]


def build_masters(folder: Path, count: int, megabytes: float, seed: int) -> list[Path]:
    """``count`` tiled 8-bit grey masters of about ``megabytes`` MB each under ``folder``."""
    width, height = dimensions_for_bytes(int(megabytes * MB))
    paths = []
    for index in range(count):
        path = folder / f"master-{index + 1:04d}.tif"
        write_large_master(path, width=width, height=height, seed=seed + index)
        paths.append(path)
    return paths


def _peak_rss_kib(pid: int) -> int | None:
    """VmHWM (peak resident set) of process ``pid`` from /proc, in KiB.

    None once it is gone, or while it has not yet exec'd (then it still shares our memory).
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline, open("/proc/self/cmdline", "rb") as me:
            if cmdline.read() == me.read():
                return None
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_timed(command: list[str]) -> tuple[float, int, str]:
    """Run ``command``; return (seconds, peak RSS in KiB of that program, stdout).

    The peak is the program's own VmHWM, polled from /proc every few milliseconds until it
    exits (``ru_maxrss`` of a child would also count the parent's memory inherited at fork).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        peak = 0
        while process.poll() is None:
            # /proc/PID lingers as a zombie until reaped, so the last reading is near the end
            peak = max(peak, _peak_rss_kib(process.pid) or 0)
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if process.returncode != 0:
        tail = (stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"{' '.join(command[:4])}... exited {process.returncode}: {tail}")
    return elapsed, peak, stdout


def time_sha256sum(paths: list[Path]) -> float:
    elapsed, _rss, _out = run_timed(["sha256sum", *map(str, paths)])
    return elapsed


def time_ingest(
    folder: Path, db_dir: Path, expected_files: int
) -> tuple[float, int, dict[str, Any]]:
    """Ingest ``folder`` into a new SQLite catalog; return (seconds, peak RSS KiB, JSON)."""
    database = Path(tempfile.mkdtemp(dir=db_dir)) / "catalog.sqlite3"
    command = [
        *archcolor_command(),
        "--db",
        f"sqlite:///{database}",
        "ingest",
        str(folder),
        "--json",
    ]
    elapsed, rss, stdout = run_timed(command)
    report = json.loads(stdout.strip().splitlines()[-1])
    if report.get("ingested") != expected_files or report.get("rejected"):
        raise SystemExit(f"ingest did not catalogue every file: {report}")
    return elapsed, rss, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20, help="number of masters (default 20)")
    parser.add_argument("--file-mb", type=float, default=100, help="MB per master (default 100)")
    parser.add_argument("--big-mb", type=float, default=1000, help="MB of the RSS master (1000)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each (best kept)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build (default tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="archcolor-bench-", dir=args.workdir))
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    try:
        many = workdir / "masters"
        big = workdir / "big"
        dbs = workdir / "catalogs"
        dbs.mkdir()
        started = time.perf_counter()
        paths = build_masters(many, args.files, args.file_mb, seed=1)
        big_paths = build_masters(big, 1, args.big_mb, seed=1000)
        total = sum(p.stat().st_size for p in paths)
        big_size = big_paths[0].stat().st_size
        say(
            f"built {len(paths)} x {total / len(paths) / MB:.0f} MB and 1 x {big_size / MB:.0f} MB"
            f" in {time.perf_counter() - started:.0f} s under {workdir}"
        )
        time_sha256sum(paths)  # warm the page cache so both tools read from memory
        sha_times, ingest_times = [], []
        for _ in range(max(1, args.repeat)):
            sha_times.append(time_sha256sum(paths))
            elapsed, _rss, report = time_ingest(many, dbs, len(paths))
            ingest_times.append(elapsed)
            if report.get("bytes") not in (None, total):
                raise SystemExit(f"ingest read {report.get('bytes')} bytes, expected {total}")
        sha_mbs = total / MB / min(sha_times)
        ingest_mbs = total / MB / min(ingest_times)
        time_sha256sum(big_paths)  # warm the cache for the big file too
        big_sha = time_sha256sum(big_paths)
        big_elapsed, big_rss, _report = time_ingest(big, dbs, 1)
        results = {
            "files": len(paths),
            "total_bytes": total,
            "sha256sum_seconds": round(min(sha_times), 3),
            "ingest_seconds": round(min(ingest_times), 3),
            "sha256sum_mb_per_s": round(sha_mbs, 1),
            "ingest_mb_per_s": round(ingest_mbs, 1),
            "ratio": round(ingest_mbs / sha_mbs, 3),
            "big_file_bytes": big_size,
            "big_sha256sum_mb_per_s": round(big_size / MB / big_sha, 1),
            "big_ingest_mb_per_s": round(big_size / MB / big_elapsed, 1),
            "big_ingest_peak_rss_mib": round(big_rss / 1024, 1),
            "cpu_count": os.cpu_count(),
        }
        if args.json:
            print(json.dumps(results, sort_keys=True))
        else:
            seconds = min(sha_times)
            print(f"sha256sum       {sha_mbs:8.1f} MB/s  ({seconds:.2f} s, {total / MB:.0f} MB)")
            print(f"archcolor ingest{ingest_mbs:8.1f} MB/s  ({min(ingest_times):.2f} s)")
            verdict = "ok" if ingest_mbs >= 0.8 * sha_mbs else "BELOW the 0.8 target"
            print(f"ratio           {ingest_mbs / sha_mbs:8.2f}  ({verdict})")
            print(
                f"1 file of {big_size / MB:.0f} MB: ingest {big_size / MB / big_elapsed:.1f} MB/s, "
                f"sha256sum {big_size / MB / big_sha:.1f} MB/s, "
                f"ingest peak RSS {big_rss / 1024:.1f} MiB"
            )
        return 0
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
