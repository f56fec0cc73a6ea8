"""Settings of the training stage (section ``train:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class TrainSettings(BaseModel):
    """YOLO detector and LASSO screen training, and the area ``make train`` trains on.

    Types and checks only: every value comes from ``configs/default.yaml``
    (at the CLI level, ``config.section`` hands out one with defaults).
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="ultralytics model yaml, trained from scratch.")
    imgsz: int = Field(gt=0)
    epochs: int = Field(gt=0)
    device: str
    batch: int = Field(gt=0)
    workers: int = Field(ge=0, description="Data-loader worker processes.")
    patience: int = Field(gt=0, description="Epochs without improvement before stopping.")
    aoi: str = Field(
        description="make train: area of the simulated world whose mines make the training grid."
    )
    zooms: list[int] = Field(description="make train: grid zooms.")
    block_zoom: int = Field(
        ge=0, le=20, description="make train: tile zoom of the held-out split blocks."
    )
    chip_workers: int = Field(ge=1, description="make train: processes writing chips.")
