"""Settings of the dataset stage (section ``datasets:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class DatasetSettings(BaseModel):
    """Chip size, detector channels and splits."""

    model_config = ConfigDict(extra="forbid")

    size_px: int = Field(default=256, gt=0, description="Chip width and height in pixels.")
    channels: list[str] = Field(default=["B02", "B03", "B04", "B08", "B11", "B12"])
    split: str = Field(default="block", pattern="^(image|block)$")
