"""Settings of the pyramid scan (section ``scan:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class ScanSettings(BaseModel):
    """Zooms, thresholds and execution of the coarse-to-fine sweep."""

    model_config = ConfigDict(extra="forbid")

    zooms: list[int] = Field(default=[13, 14, 15])
    model: str = Field(
        default="models/demo", description="Folder with detector.onnx, screen.json, scaling.json."
    )
    period: str = Field(default="2024")
    workers: int = Field(default=1, ge=1)
