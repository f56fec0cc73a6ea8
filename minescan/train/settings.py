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


class VerifierSettings(BaseModel):
    """The real-imagery verifier (``minescan train verifier``; section ``verifier:``).

    Types and checks only: the values, and how they were chosen, are in ``configs/default.yaml``.
    """

    model_config = ConfigDict(extra="forbid")

    holdout_fraction: float = Field(
        ge=0,
        lt=0.5,
        description="Share of each class held out as whole 5-degree regions (0: fit every region).",
    )
    seed: int = Field(description="Seed of the region hold-out and of the networks.")
    folds: int = Field(ge=2, description="Region-grouped cross-validation folds.")
    members: int = Field(ge=1, description="Networks in the shipped ensemble.")
    epochs: int = Field(gt=0, description="Training epochs of each network.")
    width: int = Field(gt=0, description="Channels of the first convolution (doubling twice).")
    batch_size: int = Field(ge=2, description="Patches per training step.")
    learning_rate: float = Field(gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(ge=0, description="AdamW weight decay.")
    augment_offset: float = Field(
        ge=0, description="Std of a random per-band log shift (a gain) added in training."
    )
    augment_noise: float = Field(ge=0, description="Std of per-pixel noise added in training.")
    augment_shift_px: int = Field(
        ge=0,
        description="Training windows are cut this many px smaller, at a random offset per batch.",
    )
    balance_regions: bool = Field(
        description="Weigh each region's mines and each region's other patches the same."
    )
    sensitivity: float | None = Field(
        gt=0,
        le=1,
        description="Share of training mines, out of fold, its threshold keeps (None: Youden's J).",
    )
    window_m: float = Field(gt=0, description="Ground size of the window around a scan candidate.")
    res_m: float = Field(gt=0, description="Ground pixel the verifier reads (finer is averaged).")
    max_pixel_m: float = Field(
        gt=0, description="Coarsest ground pixel the verifier is applied to."
    )
    floor: float = Field(gt=0, lt=1, description="Weakest detector box the verifier judges.")
