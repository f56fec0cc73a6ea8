"""Small stand-ins for the scan's inputs: a world of bright squares and a model that finds them.

``BrightSquares`` is an imagery source whose mines are axis-aligned squares in
EPSG:3857, so they continue across tiles and zooms like the simulator's.
:func:`bright_model` writes a model folder whose ``detector.onnx`` is a real
ONNX graph with the ultralytics head layout: it scores every 8x8 pixel cell by
its mean brightness, so a square comes out as touching cell boxes that the
scan must merge back into one candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.executor import WorkerContext
from minescan.kernel.io import write_json
from minescan.kernel.mercator import tile_transform
from minescan.kernel.scaling import Scaling
from minescan.kernel.screen import Screen

BACKGROUND, BRIGHT = 0.05, 0.25
CELL = 8


class BrightSquares:
    """An imagery source: dark land with bright squares (the mines), ``(n, 4)`` EPSG:3857 bounds."""

    name = "bright-squares"

    def __init__(self, squares, bands=S2_BANDS):
        self.squares = np.asarray(squares, dtype=np.float64).reshape(-1, 4)
        self.bands = tuple(bands)
        self.reads = 0

    def read(self, tile, size_px=256, period="2019", bands=None, margin_px=0) -> Chip:
        self.reads += 1
        bands = tuple(bands or self.bands)
        transform = tile_transform(tile, size_px, margin_px)
        n = size_px + 2 * margin_px
        xs = transform.c + (np.arange(n) + 0.5) * transform.a
        ys = transform.f + (np.arange(n) + 0.5) * transform.e
        inside = np.zeros((n, n), dtype=bool)
        for x0, y0, x1, y1 in self.squares:
            inside |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
        plane = np.where(inside, BRIGHT, BACKGROUND).astype(np.float32)
        data = np.repeat(plane[None], len(bands), axis=0)
        return Chip(data, bands, transform, period, tile, margin_px)

    def mines_in(self, geometry, date=None):
        boxes = shapely.box(*self.squares.T)
        table = gpd.GeoDataFrame(
            {"mine_id": [f"m{i}" for i in range(len(boxes))]}, geometry=boxes, crs=3857
        ).to_crs(4326)
        return table[table.intersects(geometry)].reset_index(drop=True)

    def components_in(self, geometry, date=None):
        """No parts: each square is one whole pit (the truth protocol asks for both)."""
        return gpd.GeoDataFrame({"mine_id": [], "component": []}, geometry=[], crs=4326)


def squares_at(lonlats, size_m) -> np.ndarray:
    """Square bounds in EPSG:3857 centred on ``(lon, lat)`` points, ``size_m`` wide."""
    import pyproj

    to_merc = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    x, y = to_merc.transform(*np.asarray(lonlats, dtype=float).T)
    half = np.broadcast_to(np.asarray(size_m, dtype=float), x.shape) / 2
    return np.stack([x - half, y - half, x + half, y + half], axis=1)


def bright_onnx(path: Path, channels, size: int = 288, threshold: float = 0.5, gain: float = 40):
    """An ONNX detector: score = sigmoid(gain * (mean of channel 0 over an 8x8 cell - threshold))."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cells = size // CELL
    j, i = np.meshgrid(np.arange(cells), np.arange(cells))
    grid = np.stack(
        [j.ravel() * CELL + CELL / 2, i.ravel() * CELL + CELL / 2]
        + [np.full(cells * cells, CELL)] * 2
    )[None].astype(np.float32)
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "start"),
        numpy_helper.from_array(np.array([1], np.int64), "end"),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
        numpy_helper.from_array(np.array(threshold, np.float32), "threshold"),
        numpy_helper.from_array(np.array(gain, np.float32), "gain"),
        numpy_helper.from_array(np.array(0, np.float32), "zero"),
        numpy_helper.from_array(np.array([0, 1, -1], np.int64), "flat"),
        numpy_helper.from_array(grid, "grid"),
    ]
    nodes = [
        helper.make_node("Slice", ["images", "start", "end", "axis"], ["first"]),
        helper.make_node("AveragePool", ["first"], ["pooled"], kernel_shape=[CELL, CELL],
                         strides=[CELL, CELL]),
        helper.make_node("Sub", ["pooled", "threshold"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score2d"]),
        helper.make_node("Reshape", ["score2d", "flat"], ["score"]),
        helper.make_node("Mul", ["score", "zero"], ["zeros"]),
        helper.make_node("Add", ["grid", "zeros"], ["xywh"]),
        helper.make_node("Concat", ["xywh", "score"], ["output0"], axis=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "bright",
        [
            helper.make_tensor_value_info(
                "images", TensorProto.FLOAT, ["N", len(channels), size, size]
            )
        ],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", 5, cells * cells])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "minescan_channels", ",".join(channels)
    onnx.save(model, str(path))


def bright_screen(min_fraction: float = 1e-4) -> Screen:
    """A screen that keeps tiles with any pixel brighter than the background in B02."""
    return Screen(
        bands=S2_BANDS,
        features=["B02"],
        mean=[0.0],
        scale=[1.0],
        weights=[1.0],
        intercept=0.0,
        pixel_threshold=(BACKGROUND + BRIGHT) / 2,
        tile_min_fraction={13: min_fraction, 14: min_fraction, 15: min_fraction},
    )


def bright_model(folder: Path, channels=("B02", "B03", "B04", "B08", "B11", "B12")) -> Path:
    """A model folder: detector.onnx, scaling.json, screen.json."""
    folder.mkdir(parents=True, exist_ok=True)
    Scaling.default(channels).save(folder / "scaling.json")
    bright_onnx(folder / "detector.onnx", channels)
    write_json(folder / "screen.json", bright_screen().to_dict())
    return folder


@dataclass(frozen=True)
class BrightSpec:
    """What a worker process rebuilds the bright-square tools from (picklable)."""

    model_dir: str
    squares: tuple


def bright_tools(spec: BrightSpec):
    """The bright-square world, the bright ONNX detector and the bright screen."""
    from minescan.detect.backends import OnnxDetector
    from minescan.detect.tools import make_tools

    world = BrightSquares(spec.squares)
    return make_tools(world, OnnxDetector(spec.model_dir, threads=1), bright_screen())


def bright_context(model_dir, squares) -> WorkerContext:
    """A worker context that builds the bright-square tools in each worker process."""
    squares = tuple(map(tuple, np.asarray(squares).tolist()))
    return WorkerContext(bright_tools, BrightSpec(str(model_dir), squares))
