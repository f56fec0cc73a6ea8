"""Settings of the dataset stage (section ``datasets:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minescan.kernel.bands import sentinel2_period


class DatasetSettings(BaseModel):
    """Chips, the YOLO set, its splits and the pixel table; CLI flags override each field.

    Types and checks only: every value comes from ``configs/default.yaml``
    (at the CLI level, ``config.section`` hands out one with defaults).
    """

    model_config = ConfigDict(extra="forbid")

    size_px: int = Field(gt=0, description="Chip width and height in pixels.")
    period: str = Field(description="Composite period of the chips.")

    _period_is_sentinel2 = field_validator("period")(sentinel2_period)
    min_valid_fraction: float = Field(
        ge=0, le=1, description="Chips with fewer clear pixels are flagged empty."
    )
    channels: list[str]
    split: str = Field(pattern="^(image|block)$")
    block_zoom: int = Field(ge=0, le=24, description="Tile zoom of a held-out block.")
    split_column: str | None = Field(
        description="Hold out whole values of this chip tag (block split)."
    )
    val: float = Field(ge=0, lt=1)
    test: float = Field(ge=0, lt=1)
    seed: int = Field(description="Seed of the split shuffle and pixel sampling.")
    min_box_px: int = Field(ge=1, description="Mine parts smaller are not labelled.")
    sample: int = Field(ge=0, description="Pixels per chip in the table; 0 = all.")
