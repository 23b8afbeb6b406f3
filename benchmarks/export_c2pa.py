"""Benchmark what `archcolor export --c2pa` adds: export seconds with and without signing.

    python benchmarks/export_c2pa.py                    # 150 MP: tiff, jpeg
    python benchmarks/export_c2pa.py --megapixels 150 --formats tiff,jpeg,png,webp --json

Same set-up as benchmarks/export.py (a synthetic 8-bit grey tiled master, ingested and colorized
with the fixture model in a scratch catalog), plus an untrusted test chain
(`archcolor c2pa test-cert`). Each format is exported twice in FRESH subprocesses by the export
service — plain, then with C2PA Content Credentials (ES256, no time-stamp authority: offline) —
and the signed file is verified with `archcolor c2pa verify`. Reported per format: seconds
without and with --c2pa, the difference and its ratio, output bytes of both, and the verify
seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/queue.py would shadow the standard library's queue (used by thread pools)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

_spec = importlib.util.spec_from_file_location(
    "bench_export", Path(__file__).with_name("export.py")
)
assert _spec is not None and _spec.loader is not None
bench_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_export)


def _child(database_url: str, store: str, out: str, fmt: str, chain: str) -> int:
    """Export once (signed when ``chain`` names a test-cert folder); print one JSON line."""
    from archive_colorizer.catalog.engine import create_catalog_engine
    from archive_colorizer.services.credentials import signing_credentials
    from archive_colorizer.services.export import ExportOptions, export

    credentials = None
    if chain:
        credentials = signing_credentials(
            Path(chain) / "test-chain.pem", Path(chain) / "test-key.pem"
        )
    options = ExportOptions(format=fmt, out=Path(out), c2pa=credentials)
    engine = create_catalog_engine(database_url)
    started = time.perf_counter()
    summary = export(engine, Path(store), options)
    seconds = time.perf_counter() - started
    engine.dispose()
    record = summary.records[0]
    print(json.dumps({"seconds": seconds, "bytes": record.export_bytes,
                      "width": record.width, "height": record.height,
                      "problems": summary.problems}))  # fmt: skip
    return 0


def _run_child(*args: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=150.0)
    parser.add_argument("--formats", default="tiff,jpeg", help="tiff,jpeg,png,webp")
    parser.add_argument("--model", default="iizuka.fixture")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(*args.child)

    from archive_colorizer.imaging.synthetic import write_large_master

    with tempfile.TemporaryDirectory(prefix="archcolor-bench-c2pa-", dir=args.workdir) as tmp:
        folder = Path(tmp)
        width, height = bench_export._dimensions(args.megapixels)
        write_large_master(folder / "masters" / "page-0001.tif", width=width, height=height)
        database = f"sqlite:///{folder / 'catalog.sqlite3'}"
        store = str(folder / "store")
        base = ["--db", database, "--store", store]
        started = time.perf_counter()
        bench_export._archcolor(*base, "ingest", str(folder / "masters"), "--volume", "bench")
        bench_export._archcolor(*base, "process", "--pending", "--device", "cpu",
                                "--model", args.model)  # fmt: skip
        bench_export._archcolor("c2pa", "test-cert", str(folder / "chain"))
        if not args.json:
            print(
                f"{width}x{height} ({width * height / 1e6:.0f} MP) master ingested and colorized "
                f"in {time.perf_counter() - started:.0f} s; cpu count {os.cpu_count()}"
            )
            print(f"{'format':>6} {'plain s':>8} {'c2pa s':>8} {'added s':>8} {'ratio':>6} "
                  f"{'plain MB':>9} {'c2pa MB':>9} {'verify s':>9}")  # fmt: skip
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            plain = _run_child(database, store, str(folder / f"plain-{fmt}"), fmt, "")
            signed_out = folder / f"c2pa-{fmt}"
            signed = _run_child(database, store, str(signed_out), fmt, str(folder / "chain"))
            started = time.perf_counter()
            bench_export._archcolor(*base, "c2pa", "verify", str(signed_out))
            verify_seconds = time.perf_counter() - started
            row = {
                "format": fmt,
                "megapixels": width * height / 1e6,
                "plain_seconds": plain["seconds"],
                "c2pa_seconds": signed["seconds"],
                "added_seconds": signed["seconds"] - plain["seconds"],
                "ratio": signed["seconds"] / plain["seconds"],
                "plain_bytes": plain["bytes"],
                "c2pa_bytes": signed["bytes"],
                "verify_seconds": verify_seconds,
            }
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{fmt:>6} {row['plain_seconds']:8.1f} {row['c2pa_seconds']:8.1f} "
                    f"{row['added_seconds']:8.1f} {row['ratio']:6.2f} "
                    f"{row['plain_bytes'] / 1e6:9.1f} {row['c2pa_bytes'] / 1e6:9.1f} "
                    f"{verify_seconds:9.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
