"""Settings of the pyramid scan (section ``scan:`` of the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minescan.kernel.bands import sentinel2_period
from minescan.kernel.screen import nearest_zoom_value


class ScanSettings(BaseModel):
    """Zooms, thresholds and execution of the coarse-to-fine sweep.

    Everything that changes which candidates come out (zooms, thresholds,
    sizes, batch size) goes into the run id; the execution knobs (``workers``,
    ``scheduler``, ``threads``, ``device``) do not, so a run resumed on a
    cluster keeps its id and its checkpoint.

    Types and checks only: every value comes from ``configs/default.yaml``
    (at the CLI level, ``config.section`` hands out one with defaults).
    """

    model_config = ConfigDict(extra="forbid")

    aoi: str | None = Field(
        description="country:ISO3, bbox:W,S,E,N or a polygon file; --aoi overrides."
    )
    zooms: list[int]
    model: str = Field(description="Folder with detector.onnx, screen.json, scaling.json.")
    period: str

    _period_is_sentinel2 = field_validator("period")(sentinel2_period)
    backend: str = Field(pattern="^(onnx|ultralytics)$", description="Detector runtime.")
    conf: dict[int, float] = Field(
        description="Detector score threshold per zoom; lower at coarse levels for recall. "
        "A zoom not listed takes the nearest listed zoom's value."
    )
    subdivide_margin_m: float | None = Field(
        ge=0,
        description="A hit opens only the next level's tiles under its boxes, each box grown "
        "by this many EPSG:3857 metres (coarse boxes are a few pixels off); null opens every "
        "tile below a hit at the next zoom.",
    )
    subdivide_screen: bool = Field(
        description="A hit tile also opens the children where the screen sees mine-like pixels "
        "at the share it asks of a tile at the next zoom, boxes or not: a mine the coarse "
        "detector missed next to one it found is still looked at. No effect with the screen "
        "off (or --exhaustive)."
    )
    iou: float = Field(gt=0, le=1, description="NMS IoU within one chip.")
    size_px: int = Field(gt=0, description="Chip size on the tile's own bounds.")
    margin_px: int = Field(ge=0, description="Context pixels read around each tile.")
    batch_size: int = Field(gt=0, description="Tiles per task (and per checkpoint).")
    merge_gap_m: float = Field(
        ge=0,
        description="Boxes closer than this (EPSG:3857 metres) merge: one Sentinel-2 pixel, so "
        "boxes that meet at a tile edge merge despite floating-point seams.",
    )
    screen: bool = Field(description="Run the spectral screen before the detector.")
    screen_boxes: bool = Field(
        description="With the screen on, keep a detector box only when its pixels hold "
        "mine-like pixels at the share the screen asks of a tile (drops boxes on sandbars, "
        "bare fields and other confusers with no mine-like pixel)."
    )
    verifier: bool = Field(
        description="On real sources, let the model's verifier.json judge candidates and propose windows."
    )
    exhaustive: bool = Field(
        description="Every land tile at the finest zoom; no pyramid, no screen."
    )
    truth: str | None = Field(description="Polygons to score the run against.")
    workers: int = Field(ge=1)
    run_length: int = Field(
        ge=1, description="Consecutive batches a local worker takes at once (shared block cache)."
    )
    scheduler: str | None = Field(description="Dask scheduler tcp://HOST:PORT.")
    threads: int = Field(ge=0, description="Detector threads per worker; 0 = cores / workers.")
    device: str = Field(pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu, cuda or cuda:N.")

    @field_validator("zooms")
    @classmethod
    def _zooms_sorted(cls, value: list[int]) -> list[int]:
        zooms = sorted(set(value))
        if not zooms or not all(0 <= z <= 20 for z in zooms):
            raise ValueError("zooms must be a non-empty list of integers in 0-20")
        return zooms

    @field_validator("conf")
    @classmethod
    def _conf_is_a_score(cls, value: dict[int, float]) -> dict[int, float]:
        # A threshold above 1 keeps no box at all: a typo (5 for 0.05) would scan for nothing.
        bad = {z: c for z, c in value.items() if not 0 <= c <= 1}
        if not value or bad:
            raise ValueError(f"every threshold must be a score in 0-1 (got {bad or value})")
        return value

    def conf_at(self, zoom: int) -> float:
        """The detector threshold at ``zoom`` (nearest listed zoom when it is not listed).

        Examples
        --------
        >>> ScanSettings.model_construct(conf={13: 0.1, 15: 0.3}).conf_at(16)
        0.3
        """
        return nearest_zoom_value(self.conf, zoom)

    def result_fields(self) -> dict:
        """The settings that decide the candidates (hashed into the run id)."""
        execution = {"workers", "run_length", "scheduler", "threads", "device", "truth", "aoi"}
        return self.model_dump(exclude=execution)
