"""GPU benchmark: network throughput by precision and memory format, and the page pipeline.

    python benchmarks/gpu.py                          # CUDA device 0, default model
    python benchmarks/gpu.py --model iizuka-effl0.v3 --pages 35,150 --out gpu-results
    python benchmarks/gpu.py --ci                     # tiny sizes on the CPU: the same code path

On a CUDA device it measures, for the model's working image (``--chroma-size``, capped by the
card's ``network_max_side`` as the pipeline does):

1. **network throughput**: fp32, bf16 and fp16 weights, each in contiguous and channels-last
   memory format, at batch 1 and ``--batch``: milliseconds per image, working-image MP/s, peak
   GPU memory, and the largest |a*, b*| difference from fp32 (can the cheaper precisions
   colour a page the same?);
2. **the page pipeline**: ``colorize_master`` on synthetic masters of ``--pages`` megapixels
   with the network on the device and the CPU stages (decode, reduce, colour, compress) on
   ``--workers`` threads: MP/s, stage seconds, and the GPU's utilisation sampled while it runs
   (``torch.cuda.utilization`` when pynvml is installed, else ``nvidia-smi``; "n/a" if neither)
   and its peak memory.

Results go to ``--out`` (default ``gpu-benchmark/``): ``gpu-benchmark.json`` and a short
``gpu-benchmark.md`` table (also printed). Without CUDA the script says so and exits with
status 3 (:data:`NO_CUDA`) unless ``--ci`` is given: ``--ci`` runs everything on the CPU at tiny
sizes (64 px working image, batch 1, a 1 MP page, one repetition), which checks the code, not
the speed.

What the pipeline figures mean for ``archcolor process``: one worker process colours one page
at a time, and the network is a small share of a page (tenths of a second on a GPU against
seconds of CPU work for a 150 MP page), so one worker leaves the GPU mostly idle. Several
worker processes (``process --workers N``) share the device and keep it busier; the sampled
utilisation of this script shows how much room there is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

#: exit status when no CUDA device is available and --ci was not given
NO_CUDA = 3
PRECISIONS = ("fp32", "bf16", "fp16")
FORMATS = ("contiguous", "channels_last")


def working_lightness(height: int, width: int) -> np.ndarray:
    """L* of a synthetic engraving at the working size (paper, hatching that follows shading)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 0.5 + 0.4 * np.sin(x / 37.0) * np.cos(y / 53.0)
    lines = (np.sin((x + y) / 2.1) > 1.0 - 2.0 * shade).astype(np.float32)
    return np.asarray(92.0 - 70.0 * lines, dtype=np.float32)


class UtilisationSampler:
    """Samples the GPU's utilisation (%) every ``interval`` s on a thread while in ``with``."""

    def __init__(self, device_index: int, interval: float = 0.1) -> None:
        self.device_index = device_index
        self.interval = interval
        self.samples: list[float] = []
        self.source = "n/a"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._pick()

    def _pick(self) -> Any:
        import torch

        if not torch.cuda.is_available():
            return None
        try:
            torch.cuda.utilization(self.device_index)  # needs pynvml
            self.source = "torch.cuda.utilization"
            return lambda: float(torch.cuda.utilization(self.device_index))
        except Exception:  # ModuleNotFoundError or an NVML error
            pass
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return None
        command = [
            smi,
            "--query-gpu=utilization.gpu",
            "--format=csv,noheader,nounits",
            "-i",
            str(self.device_index),
        ]

        def read() -> float | None:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            text = done.stdout.strip().splitlines()
            return float(text[0]) if done.returncode == 0 and text else None

        if read() is None:
            return None
        self.source = "nvidia-smi"
        return read

    def __enter__(self) -> UtilisationSampler:
        if self._read is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            value = self._read()
            if value is not None:
                self.samples.append(value)

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"source": self.source, "mean_percent": None, "max_percent": None}
        return {
            "source": self.source,
            "mean_percent": round(statistics.fmean(self.samples), 1),
            "max_percent": max(self.samples),
            "samples": len(self.samples),
        }


def _synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def network_rows(
    model: str | None, device: Any, side: int, batch: int, repeat: int
) -> list[dict[str, Any]]:
    """Throughput of the model's network per precision x memory format (see the docstring)."""
    import torch

    from archive_colorizer.inference.inferer import network_input_size
    from archive_colorizer.inference.networks.base import resize_for_global
    from archive_colorizer.inference.registry import find_model, load_network

    found = find_model(model)
    cap = found.card.network_max_side
    height, width = network_input_size(side * 3 // 4, side, cap)
    page = torch.from_numpy(working_lightness(height, width))[None, None]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    reference: Any = None
    rows: list[dict[str, Any]] = []
    for precision in PRECISIONS:
        for memory_format in FORMATS:
            row: dict[str, Any] = {
                "model": found.name,
                "precision": precision,
                "memory_format": memory_format,
                "input": f"{width}x{height}",
            }
            try:
                row.update(
                    _time_network(
                        load_network(found),
                        page,
                        device,
                        dtypes[precision],
                        memory_format == "channels_last",
                        batch,
                        repeat,
                        resize_for_global,
                    )
                )
                output = row.pop("output")
                if reference is None:
                    reference = output
                row["max_abs_ab_vs_fp32"] = round(float((output - reference).abs().max()), 3)
            except (RuntimeError, TypeError, NotImplementedError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else "?"
                row["error"] = f"{type(error).__name__}: {first}"[:200]
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def _time_network(
    network: Any,
    page: Any,
    device: Any,
    dtype: Any,
    channels_last: bool,
    batch: int,
    repeat: int,
    resize_for_global: Any,
) -> dict[str, Any]:
    import torch

    network = network.to(device=device, dtype=dtype).eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        network = network.to(memory_format=memory_format)

    def run(images: Any) -> Any:
        x = images.to(device=device, dtype=dtype).contiguous(memory_format=memory_format)
        small = resize_for_global(images.to(device), network.global_size).to(dtype)
        small = small.contiguous(memory_format=memory_format)
        return network.colorize(x, network.global_features(small))

    result: dict[str, Any] = {}
    with torch.inference_mode():
        for size in sorted({1, batch}):
            images = page.expand(size, -1, -1, -1).contiguous()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            output = run(images)  # warm-up (cuDNN algorithm choice, allocations)
            _synchronize(device)
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                output = run(images)
                _synchronize(device)
                times.append(time.perf_counter() - started)
            seconds = statistics.median(times)
            pixels = page.shape[-1] * page.shape[-2] * size
            result[f"batch{size}_ms_per_image"] = round(1000 * seconds / size, 3)
            result[f"batch{size}_input_mp_per_s"] = round(pixels / 1e6 / seconds, 2)
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(device) / 2**20
                result[f"batch{size}_peak_gpu_mib"] = round(peak, 1)
        result["output"] = output[:1].float().cpu()
    return result


def pipeline_rows(
    model: str | None,
    device_name: str,
    device: Any,
    megapixels: list[float],
    workers: int | None,
    folder: Path,
) -> list[dict[str, Any]]:
    """``colorize_master`` with the network on ``device``, per synthetic page size."""
    import torch

    from archive_colorizer.imaging.synthetic import write_large_master
    from archive_colorizer.inference.registry import load_predictor
    from archive_colorizer.services.colorize import ColorizeParams, colorize_master

    predictor = load_predictor(model, device=device_name)
    rows = []
    for size in megapixels:
        width = max(16, int(math.sqrt(size * 1e6 * 4 / 3)) // 16 * 16)
        height = max(16, int(size * 1e6 / width) // 16 * 16)
        master = write_large_master(folder / f"master-{size:g}.tif", width=width, height=height)
        output = folder / f"derivative-{size:g}.tif"
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        index = device.index or 0
        with UtilisationSampler(index) as sampler:
            started = time.perf_counter()
            cpu_started = time.process_time()
            result = colorize_master(
                master,
                output,
                predictor,
                ColorizeParams(),
                provenance={"source_sha256": "0" * 64},
                workers=workers,
            )
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
        row: dict[str, Any] = {
            "model": predictor.model_name,
            "precision": "fp16" if predictor.half else "fp32",
            "page": f"{width}x{height}",
            "megapixels": round(width * height / 1e6, 2),
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu_seconds, 3),
            "mp_per_s": round(width * height / 1e6 / seconds, 2),
            "stage_seconds": result.stage_seconds,
            "network_share": round(result.stage_seconds["network"] / seconds, 3),
            "gpu_utilisation": sampler.summary(),
        }
        if device.type == "cuda":
            row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        rows.append(row)
        master.unlink()
        output.unlink()
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The short Markdown summary of a report."""
    mode = " (CI mode: tiny sizes, not a speed figure)" if report["ci"] else ""
    lines = [
        f"GPU benchmark: {report['device_name']} ({report['device']}), torch {report['torch']}, "
        f"model {report['model']}{mode}",
        "",
        "| precision | memory format | input | ms/image (b1) | MP/s (b1) | "
        f"ms/image (b{report['batch']}) | peak GPU MiB | max abs a*b* vs fp32 |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    batch = report["batch"]
    for row in report["network"]:
        if "error" in row:
            lines.append(
                f"| {row['precision']} | {row['memory_format']} | {row['input']} | "
                f"{row['error']} | | | | |"
            )
            continue
        peak = row.get(f"batch{batch}_peak_gpu_mib", row.get("batch1_peak_gpu_mib", "n/a"))
        lines.append(
            f"| {row['precision']} | {row['memory_format']} | {row['input']} | "
            f"{row['batch1_ms_per_image']} | {row['batch1_input_mp_per_s']} | "
            f"{row.get(f'batch{batch}_ms_per_image', 'n/a')} | {peak} | "
            f"{row['max_abs_ab_vs_fp32']} |"
        )
    lines += [
        "",
        "| page | MP/s | s | CPU s | network s | network share | GPU util mean / max % | "
        "peak GPU MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["pipeline"]:
        util = row["gpu_utilisation"]
        lines.append(
            f"| {row['page']} | {row['mp_per_s']} | {row['seconds']} | {row['cpu_seconds']} | "
            f"{row['stage_seconds']['network']} | {row['network_share']} | "
            f"{util['mean_percent'] if util['mean_percent'] is not None else 'n/a'} / "
            f"{util['max_percent'] if util['max_percent'] is not None else 'n/a'} | "
            f"{row.get('peak_gpu_mib', 'n/a')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="registry model (default: the default)")
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--chroma-size", type=int, default=None, help="working long side")
    parser.add_argument("--batch", type=int, default=8, help="batch for the throughput rows")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--pages", default="35,150", help="page megapixels, comma separated")
    parser.add_argument("--workers", type=int, default=None, help="CPU threads of the pipeline")
    parser.add_argument("--out", type=Path, default=Path("gpu-benchmark"))
    parser.add_argument("--workdir", type=Path, default=None, help="for the synthetic masters")
    parser.add_argument("--ci", action="store_true", help="tiny sizes; runs on the CPU too")
    args = parser.parse_args(argv)

    import torch

    from archive_colorizer.services.colorize import DEFAULT_CHROMA_SIZE

    cuda = torch.cuda.is_available()
    if not cuda and not args.ci:
        print(
            f"benchmarks/gpu.py: no CUDA device here (torch {torch.__version__}, CUDA build "
            f"{torch.version.cuda or 'none'}); nothing to measure. Run it on a machine with an "
            "NVIDIA GPU, or pass --ci to check the script on the CPU at tiny sizes.",
            file=sys.stderr,
        )
        return NO_CUDA
    device_name = args.device if cuda else "cpu"
    device = torch.device(device_name)
    side = args.chroma_size or DEFAULT_CHROMA_SIZE
    batch, repeat, pages = args.batch, args.repeat, [float(p) for p in args.pages.split(",")]
    if args.ci:
        side, batch, repeat, pages = 64, 1, 1, [1.0]
    report: dict[str, Any] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else "CPU",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cpu_count": os.cpu_count(),
        "ci": args.ci,
        "batch": batch,
        "chroma_size": side,
    }
    report["network"] = network_rows(args.model, device, side, batch, repeat)
    report["model"] = report["network"][0]["model"] if report["network"] else args.model
    with tempfile.TemporaryDirectory(prefix="archcolor-gpu-", dir=args.workdir) as tmp:
        report["pipeline"] = pipeline_rows(
            args.model, device_name, device, pages, args.workers, Path(tmp)
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-benchmark.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "gpu-benchmark.md").write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
