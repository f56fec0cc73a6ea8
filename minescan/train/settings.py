"""Settings of the training stage (section ``train:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class TrainSettings(BaseModel):
    """YOLO detector and LASSO screen training."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="yolo11n.yaml", description="ultralytics model yaml, trained from scratch."
    )
    imgsz: int = Field(default=256, gt=0)
    epochs: int = Field(default=60, gt=0)
    device: str = Field(default="cpu")
