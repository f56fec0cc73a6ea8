"""Detector throughput alone (no imagery, no screen): chips per second per backend and device.

The scan's detector input is a batch of 288 x 288 px chips (a 256 px tile and a
16 px margin) with the model's channels, uint8. This feeds random chips of that
shape to ``models/demo`` and prints chips/s per batch size: onnxruntime and
ultralytics on the CPU, and on ``cuda`` where a GPU and the CUDA builds are
present (issue 5 asks for the GPU figure where a GPU is available). Random
chips give few boxes, so the figure is the network and its decoding, with
little NMS work. For onnxruntime the providers in use are printed: a CUDA
provider that fails to start falls back to the CPU, and the line says so.

Run: .venv/bin/python benchmarks/bench_detector.py [--device cuda] [--threads N] [--seconds S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from minescan.detect.backends import load_detector
from minescan.kernel.errors import MinescanError

REPO = Path(__file__).resolve().parent.parent
CHIP_PX = 288


def chips_per_second(detector, batch: int, seconds: float, rng: np.random.Generator) -> float:
    """Predict on random uint8 batches for about ``seconds`` after one warm-up call."""
    chips = rng.integers(0, 256, (batch, len(detector.channels), CHIP_PX, CHIP_PX), dtype=np.uint8)
    detector.predict(chips, conf=0.05)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        detector.predict(chips, conf=0.05)
        done += batch
    return done / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = all cores")
    parser.add_argument("--batches", default="1,8,32,64", help="batch sizes to time")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per batch size")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes = [int(b) for b in args.batches.split(",")]
    print(f"model {args.model}, device {args.device}, chips {CHIP_PX} px")
    for backend in ("onnx", "ultralytics"):
        try:
            detector = load_detector(args.model, backend, args.device, args.threads)
        except MinescanError as exc:
            print(f"  {backend}: skipped ({exc})")
            continue
        figures = [
            f"batch {b}: {chips_per_second(detector, b, args.seconds, rng):.1f}" for b in sizes
        ]
        where = ""
        if hasattr(detector, "session"):
            where = f", providers {','.join(detector.session.get_providers())}"
        print(
            f"  {backend} ({len(detector.channels)} channels{where}) chips/s: " + ", ".join(figures)
        )


if __name__ == "__main__":
    main()
