"""Settings of the training stage (section ``train:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class TrainSettings(BaseModel):
    """YOLO detector and LASSO screen training, and the area ``make train`` trains on."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="yolo11n.yaml", description="ultralytics model yaml, trained from scratch."
    )
    imgsz: int = Field(default=256, gt=0)
    epochs: int = Field(default=65, gt=0)
    device: str = Field(default="cpu")
    batch: int = Field(default=16, gt=0)
    workers: int = Field(default=2, ge=0, description="Data-loader worker processes.")
    patience: int = Field(
        default=100, gt=0, description="Epochs without improvement before stopping."
    )
    aoi: str = Field(
        default="bbox:-2.5,6.0,-1.5,6.5",
        description="make train: area of the simulated world whose mines make the training grid.",
    )
    zooms: list[int] = Field(default=[13, 14], description="make train: grid zooms.")
    block_zoom: int = Field(
        default=11, ge=0, le=20, description="make train: tile zoom of the held-out split blocks."
    )
    chip_workers: int = Field(default=2, ge=1, description="make train: processes writing chips.")
