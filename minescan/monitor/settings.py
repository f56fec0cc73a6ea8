"""Settings of per-mine monitoring (section ``monitor:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minescan.monitor.detection import method_name


class MonitorSettings(BaseModel):
    """Excavation method, its rules, no-go zones and execution.

    Types and checks only: every value comes from ``configs/default.yaml``
    (at the CLI level, ``config.section`` hands out one with defaults).
    """

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="Excavation method (``ours`` is an alias of ``disturbance``).")
    seed: int = Field(description="Random seed of Isolation Forest and KMeans.")

    # --- shared rules
    persistence: int = Field(
        ge=1, description="Consecutive clear dates a pixel must look excavated."
    )
    min_component_px: int = Field(
        ge=1, description="Smallest excavated patch kept, in 10 m pixels."
    )

    # --- iforest: Isolation Forest (Liu, Ting and Zhou 2008)
    n_estimators: int = Field(ge=1)
    contamination: float = Field(
        gt=0, le=0.5, description="Share of observations the forest calls anomalous."
    )

    # --- change: consecutive-date differencing, drops of NDVI, NBR, NDMI and rise of BSI between clear dates
    change_threshold: float = Field(
        gt=0, description="Index change between consecutive clear dates."
    )
    change_votes: int = Field(ge=1, le=4, description="How many of the 4 indices must change.")

    # --- ndvi baseline
    ndvi_threshold: float = Field(description="NDVI below this is excavated.")

    # --- disturbance
    score_threshold: float = Field(
        gt=0, description="Disturbance score (robust z vs stable pixels) to flag."
    )
    min_spread: float = Field(
        gt=0, description="Smallest per-pixel index spread (sensor noise floor)."
    )
    min_after_fraction: float = Field(
        gt=0, le=1, description="Share of later clear dates that must agree."
    )

    # --- the footprint already excavated at the start (every method)
    screen: str | None = Field(
        description="Spectral screen (model folder or screen.json) that finds ground already "
        "excavated at the start; null: report only what is dug within the period."
    )
    footprint_logit: float = Field(
        description="Screen log-odds a pixel needs to join the starting footprint (0 = even odds)."
    )
    baseline_days: int = Field(
        ge=1, description="First days of the period the starting footprint is read from."
    )

    # --- forecast of the area profile
    forecast_window_months: int = Field(
        ge=2, description="Recent months the growth rate is fitted on."
    )
    forecast_damping: float = Field(
        gt=0, le=1, description="Share of the rate kept each month ahead (1: none)."
    )

    # --- synthetic no-go zones: forest and water read from the baseline
    forest_quantile: float = Field(gt=0, lt=1)
    water_quantile: float = Field(gt=0, lt=1)
    nogo_buffer_px: int = Field(ge=0, description="Buffer around zones, ~50 m.")

    # --- execution
    workers: int = Field(ge=1, description="Local processes, one mine each.")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        """Refuse an unknown method before any work; store the registered name."""
        from minescan.kernel.errors import MinescanError

        try:
            return method_name(value)
        except MinescanError as exc:
            raise ValueError(str(exc)) from None
