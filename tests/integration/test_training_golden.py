"""The trainer is deterministic: tiny fixed-seed runs reproduce recorded loss histories, weights
and checkpoints bit for bit (every architecture, cached features, hints, prints made bilevel,
source shares, class weights, --init-from and --resume).

The figures in ``training_golden.json`` were recorded before the trainer was refactored onto
its per-architecture interface; a change that alters the batches, the losses or the optimiser on
purpose re-records them with ``python -m tests.integration.test_training_golden`` (and says so).
torch's CPU kernels differ in the last float bits between instruction sets (AVX2, AVX-512), so
the weight hashes are compared bit for bit only on a CPU of the recorded capability
(``cpu_capability``); elsewhere losses and metrics must agree to a relative 1e-4 and everything
else exactly. Re-recorded on an AVX2 machine (2026-12-03) when the AVX-512 figures stopped
matching.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from archive_colorizer.inference.cards import read_card
from archive_colorizer.inference.training import TrainConfig, load_checkpoint, train
from tests.integration.test_training import config_for, make_images
from tests.unit.test_training_prints import write_print

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).with_name("training_golden.json")


def _tensors_sha(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _fingerprint(config: TrainConfig, resume: Path | None = None) -> dict[str, Any]:
    result = train(config, resume=resume)
    checkpoint = load_checkpoint(result.checkpoint)
    card = read_card(config.out)
    return {
        "history": [
            {k: v for k, v in epoch.items() if k not in ("images_per_s", "elapsed_s")}
            for epoch in result.history
        ],
        "samples": result.samples_seen,
        "model_sha": _tensors_sha(checkpoint["model"]),
        "optimizer_steps": sorted(
            int(s["step"]) for s in checkpoint["optimizer"]["state"].values() if "step" in s
        )[-1:],
        "class_weights_sha": None
        if checkpoint["class_weights"] is None
        else _tensors_sha({"w": checkpoint["class_weights"]}),
        "card": {
            "weights_sha256": card.weights_sha256,
            "config": card.config,
            "parameters": card.parameters,
            "metrics": card.metrics,
            "training_data": card.training_data.split(" — ", 1)[1],
        },
        "describe": {
            **config.describe(),
            "init_from": config.init_from.name if config.init_from else None,
        },
    }


def _with_prints(root: Path) -> Path:
    data = make_images(root)
    write_print(root / "gitenberg-print" / "plate-0.png", size=64)
    write_print(root / "gitenberg-print" / "plate-1.png", size=64, period=6, width=2)
    return data


def _effl0(tmp: Path) -> dict[str, Any]:
    return _fingerprint(config_for(make_images(tmp / "data"), tmp / "iizuka-effl0.a", 2))


def _effl0_prints_bilevel_shares(tmp: Path) -> dict[str, Any]:
    config = config_for(_with_prints(tmp / "data"), tmp / "iizuka-effl0.b", 2)
    config.bilevel_share = 0.5
    config.source_shares = {"gitenberg-print": 0.5}
    config.class_weight = 1.5
    config.max_samples = 4
    return _fingerprint(config)


def _effl0_cached_hints(tmp: Path) -> dict[str, Any]:
    config = config_for(make_images(tmp / "data"), tmp / "iizuka-effl0.c", 3)
    config.freeze_encoder_epochs = 2
    config.cache_features = 4
    config.max_samples = None
    config.hints = True
    return _fingerprint(config)


def _iizuka(tmp: Path) -> dict[str, Any]:
    config = config_for(make_images(tmp / "data"), tmp / "iizuka.d", 2)
    config.arch = "iizuka"
    config.network_config = {"width": 0.25}
    config.freeze_encoder_epochs = 0
    return _fingerprint(config)


def _init_from_with_hints(tmp: Path) -> dict[str, Any]:
    data = make_images(tmp / "data")
    train(config_for(data, tmp / "iizuka-effl0.base", 1))
    config = config_for(data, tmp / "iizuka-effl0.e", 1)
    config.init_from = tmp / "iizuka-effl0.base"
    config.hints = True
    return _fingerprint(config)


def _resumed(tmp: Path) -> dict[str, Any]:
    data = make_images(tmp / "data")
    first = train(config_for(data, tmp / "iizuka-effl0.f", 1), write_model=False)
    return _fingerprint(config_for(data, tmp / "iizuka-effl0.f", 2), resume=first.checkpoint)


SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "effl0": _effl0,
    "effl0_prints_bilevel_shares": _effl0_prints_bilevel_shares,
    "effl0_cached_hints": _effl0_cached_hints,
    "iizuka": _iizuka,
    "init_from_with_hints": _init_from_with_hints,
    "resumed": _resumed,
}


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


#: fingerprint keys that hash float tensors (bit for bit only on the recorded CPU capability)
_HASHES = frozenset({"model_sha", "weights_sha256"})


def _agree(got: Any, recorded: Any, exact: bool, where: str = "") -> None:
    if isinstance(recorded, dict):
        assert isinstance(got, dict) and set(got) == set(recorded), where
        for key in recorded:
            if exact or key not in _HASHES:
                _agree(got[key], recorded[key], exact, f"{where}/{key}")
    elif isinstance(recorded, list):
        assert isinstance(got, list) and len(got) == len(recorded), where
        for index, (one, other) in enumerate(zip(got, recorded, strict=True)):
            _agree(one, other, exact, f"{where}[{index}]")
    elif isinstance(recorded, float) and not exact:
        assert got == pytest.approx(recorded, rel=1e-4, abs=1e-6), where
    else:
        assert got == recorded, where


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_tiny_run_reproduces_its_recorded_fingerprint(name: str, tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    recorded = golden[name]
    got = _normal(SCENARIOS[name](tmp_path))
    got["describe"].pop("threads", None)
    recorded["describe"].pop("threads", None)
    exact = golden.get("cpu_capability") == torch.backends.cpu.get_cpu_capability()
    _agree(got, recorded, exact)
    if exact:
        assert got == recorded


def _record(folder: Path) -> None:
    figures = {}
    for name, scenario in sorted(SCENARIOS.items()):
        (folder / name).mkdir(parents=True)
        figures[name] = _normal(scenario(folder / name))
    figures["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    GOLDEN.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        _record(Path(scratch))
    sys.stdout.write(f"recorded {GOLDEN}\n")
