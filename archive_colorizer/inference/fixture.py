"""The test-fixture model ``iizuka.fixture``: an UNTRAINED, tiny, reproducible Iizuka network.

Its weights are made from a counter-based generator (SplitMix64 over each parameter's name and
index, in plain integer arithmetic), not from torch's or numpy's random streams, so regenerating
it gives the same bytes — and the same sha256 — on any platform and library version. Its colours
mean nothing; it exists so geometry, tiling, determinism and the pipeline can be tested before a
trained model exists. Regenerate with ``python -m archive_colorizer.inference.fixture [DIR]``.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from archive_colorizer.imaging.atomic import file_mode
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.inference.cards import (
    MARKDOWN_FILE,
    WEIGHTS_FILE,
    ModelCard,
    render_markdown,
    write_card,
)
from archive_colorizer.inference.networks import build_network
from archive_colorizer.inference.networks.base import ColorizationNet

FIXTURE_NAME = "iizuka.fixture"
FIXTURE_CONFIG = {"width": 0.0625, "num_classes": 0, "batch_norm": True, "ab_scale": 40.0}
FIXTURE_SEED = 20160701
#: fixed so regenerating does not change card.json
FIXTURE_CREATED = "2026-11-25T00:00:00Z"
#: gain of the output layer: large enough that the untrained net gives clearly varied a*, b*
OUTPUT_GAIN = 2.0

_MASK = (1 << 64) - 1


def uniform_stream(key: str, count: int) -> np.ndarray:
    """``count`` float64 numbers in [-1, 1) from SplitMix64 seeded by sha256(``key``)."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    with np.errstate(over="ignore"):
        z = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z += np.uint64(seed)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    unit = (z >> np.uint64(11)).astype(np.float64) * (2.0**-53)
    result: np.ndarray = unit * 2.0 - 1.0
    return result


def fixture_state(network: ColorizationNet, seed: int = FIXTURE_SEED) -> dict[str, torch.Tensor]:
    """Deterministic weights for ``network``: He-uniform weights, small biases, identity BN."""
    state = network.state_dict()
    names = list(state)
    last_weight = [n for n in names if n.endswith(".weight") and state[n].dim() > 1][-1]
    result: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name.endswith("running_var") or (name.endswith(".weight") and tensor.dim() == 1):
            values = np.ones(tensor.shape)  # BatchNorm scale and variance
        elif name.endswith(".weight"):
            fan_in = math.prod(tensor.shape[1:])
            gain = OUTPUT_GAIN if name == last_weight else math.sqrt(2.0)
            bound = gain * math.sqrt(3.0 / fan_in)
            values = uniform_stream(f"{seed}:{name}", tensor.numel()) * bound
        elif name.endswith(".bias"):
            values = uniform_stream(f"{seed}:{name}", tensor.numel()) * 0.1
        else:  # running_mean, num_batches_tracked
            values = np.zeros(tensor.shape)
        array = np.asarray(values, dtype=np.float64).reshape(tensor.shape)
        result[name] = torch.from_numpy(array).to(tensor.dtype).contiguous()
    return result


def write_fixture(directory: Path) -> ModelCard:
    """Write ``weights.safetensors``, ``card.json`` and ``MODEL_CARD.md`` of the fixture."""
    directory.mkdir(parents=True, exist_ok=True)
    network = build_network("iizuka", **FIXTURE_CONFIG)
    state = fixture_state(network)
    weights = directory / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"model": FIXTURE_NAME})
    os.chmod(weights, file_mode())  # safetensors writes 0600 whatever the umask
    digest, size = sha256_file(weights)
    card = ModelCard(
        name=FIXTURE_NAME,
        arch="iizuka",
        config=dict(FIXTURE_CONFIG),
        weights_sha256=digest,
        weights_bytes=size,
        parameters=sum(p.numel() for p in network.parameters()),
        description=(
            "UNTRAINED test fixture: an Iizuka et al. 2016 network at width 1/16 with "
            "deterministic pseudo-random weights. Its colours are meaningless. It exists only "
            "to test geometry, tiling, determinism and the pipeline; never use it for real "
            "derivatives."
        ),
        training_data="none (untrained)",
        metrics={},
        licence="Apache-2.0",
        created=FIXTURE_CREATED,
    )
    write_card(card, directory)
    body = (
        "## How it is made\n\n"
        "`python -m archive_colorizer.inference.fixture models/iizuka.fixture` rebuilds these "
        f"exact bytes (seed {FIXTURE_SEED}; SplitMix64 streams keyed by parameter name; "
        "He-uniform conv/linear weights, output layer gain "
        f"{OUTPUT_GAIN}, biases uniform in ±0.1, BatchNorm identity). "
        "`tests/unit/test_registry.py` checks that the sha256 above is reproduced."
    )
    (directory / MARKDOWN_FILE).write_text(render_markdown(card, body), encoding="utf-8")
    return card


#: the folder name :func:`write_hint_fixture` gives its model
HINT_FIXTURE_NAME = "iizuka-effl0.hinted"


def write_hint_fixture(models: Path) -> str:
    """An untrained ``iizuka-effl0`` with hint inputs whose hint weights are not zero (so hints
    visibly change its output), written into ``models``; returns its name. For tests and
    benchmarks of the hint path, not a colorization model."""
    from archive_colorizer.inference.networks import build_network
    from archive_colorizer.inference.networks.iizuka_effl0 import IizukaEffL0
    from archive_colorizer.inference.training import TrainConfig, write_model_files

    torch.manual_seed(0)
    network = build_network("iizuka-effl0", ab_grid=8, hint_inputs=True)
    if not isinstance(network, IizukaEffL0):  # pragma: no cover - the registry builds it
        raise TypeError("iizuka-effl0 did not build an IizukaEffL0")
    with torch.no_grad():
        for conv in network.hint_convs():
            conv.weight[:, -3:].normal_(0.0, 2.0)
    out = models / HINT_FIXTURE_NAME
    write_model_files(network, TrainConfig(train_items=[], val_items=[], out=out), [], 0, 0.0)
    return out.name


def main(argv: list[str] | None = None) -> int:
    """Regenerate the fixture into DIR (default: the repository's models/iizuka.fixture)."""
    args = sys.argv[1:] if argv is None else argv
    default = Path(__file__).resolve().parents[2] / "models" / FIXTURE_NAME
    card = write_fixture(Path(args[0]) if args else default)
    print(f"{card.name}: {card.weights_bytes} bytes, sha256 {card.weights_sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
