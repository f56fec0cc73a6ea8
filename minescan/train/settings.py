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
    batch: int = Field(default=16, gt=0)
    workers: int = Field(default=2, ge=0, description="Data-loader worker processes.")
    patience: int = Field(
        default=100, gt=0, description="Epochs without improvement before stopping."
    )
