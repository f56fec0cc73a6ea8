"""Settings of per-mine monitoring (section ``monitor:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class MonitorSettings(BaseModel):
    """Excavation method, its rules, no-go zones and execution."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(default="ours", pattern="^(ours|iforest|change|ndvi)$")
    seed: int = Field(default=0, description="Random seed of Isolation Forest and KMeans.")

    # --- shared rules
    persistence: int = Field(
        default=2, ge=1, description="Consecutive clear dates a pixel must look excavated."
    )
    min_component_px: int = Field(
        default=10, ge=1, description="Smallest excavated patch kept, in 10 m pixels."
    )

    # --- iforest (seed 000)
    n_estimators: int = Field(default=100, ge=1)
    contamination: float = Field(
        default=0.1, gt=0, le=0.5, description="Share of observations the forest calls anomalous."
    )

    # --- change (seed 003): drops of NDVI, NBR, NDMI and rise of BSI between clear dates
    change_threshold: float = Field(
        default=0.15, gt=0, description="Index change between consecutive clear dates."
    )
    change_votes: int = Field(
        default=3, ge=1, le=4, description="How many of the 4 indices must change."
    )

    # --- ndvi baseline
    ndvi_threshold: float = Field(default=0.3, description="NDVI below this is excavated.")

    # --- ours
    score_threshold: float = Field(
        default=3.0, gt=0, description="Disturbance score (robust z vs stable pixels) to flag."
    )
    min_spread: float = Field(
        default=0.01, gt=0, description="Smallest per-pixel index spread (sensor noise floor)."
    )
    min_after_fraction: float = Field(
        default=0.6, gt=0, le=1, description="Share of later clear dates that must agree."
    )

    # --- the footprint already excavated at the start (every method)
    screen: str | None = Field(
        default="models/demo",
        description="Spectral screen (model folder or screen.json) that finds ground already "
        "excavated at the start; null: report only what is dug within the period.",
    )
    footprint_logit: float = Field(
        default=0.0,
        description="Screen log-odds a pixel needs to join the starting footprint (0 = even odds).",
    )
    baseline_days: int = Field(
        default=120,
        ge=1,
        description="First days of the period the starting footprint is read from.",
    )

    # --- forecast of the area profile
    forecast_window_months: int = Field(
        default=6, ge=2, description="Recent months the growth rate is fitted on."
    )
    forecast_damping: float = Field(
        default=0.8, gt=0, le=1, description="Share of the rate kept each month ahead (1: none)."
    )

    # --- synthetic no-go zones (seed 000 section 4.3)
    forest_quantile: float = Field(default=0.9, gt=0, lt=1)
    water_quantile: float = Field(default=0.1, gt=0, lt=1)
    nogo_buffer_px: int = Field(default=5, ge=0, description="Buffer around zones, ~50 m.")

    # --- execution
    workers: int = Field(default=1, ge=1, description="Local processes, one mine each.")
