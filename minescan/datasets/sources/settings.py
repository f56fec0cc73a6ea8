"""Settings of the imagery source (section ``source:`` of the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minescan.kernel.errors import MinescanError
from minescan.kernel.period import parse_day


class SourceSettings(BaseModel):
    """Which imagery source to read, and that source's own knobs.

    Only the fields of the chosen ``kind`` are used; the rest keep their defaults.

    Types and checks only: every value comes from ``configs/default.yaml``
    (at the CLI level, ``config.section`` hands out one with defaults).
    """

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^(simulated|earthengine|stac|geotiff)$")

    # --- simulated: the embedded default world
    seed: int = Field(description="World seed of the simulator.")
    mines: str | None = Field(description="Polygon file of mines to place in the simulated world.")
    mine_density: float = Field(
        ge=0, description="Simulator-drawn mines per km2 when no file is given."
    )
    clouds: bool = Field(description="Clouds and shadows in per-date observations.")
    revisit_days: int = Field(gt=0, description="Days between simulated overpasses.")

    # --- geotiff: the user's own mosaics
    files: list[str] = Field(description="One multi-band file, or one file per band.")
    bands: list[str] = Field(description="Band names in file band order (multi-band file).")
    band_files: dict[str, str] = Field(description="Band name -> file, one band per file.")
    scale: float = Field(description="Stored value x scale + offset = reflectance.")
    offset: float
    nodata: float | None = Field(description="Overrides the files' own nodata value.")
    dated_files: dict[str, str] = Field(
        description="ISO date -> multi-band file (source.bands order), for per-date series."
    )

    # --- stac: an open STAC API, no account
    stac_url: str
    collection: str
    max_cloud: float = Field(ge=0, le=100, description="Scene cloud cover filter, percent.")
    stac_assets: dict[str, str] = Field(
        description="Band (or SCL) -> asset key; default: Earth Search c1 names or B02-style keys."
    )

    # --- earthengine: the user's own account
    ee_project: str | None = Field(description="Earth Engine cloud project (else $EE_PROJECT).")
    ee_collection: str
    cloud_mask: str = Field(pattern="^(cs_plus|scl)$")
    cs_cdf_threshold: float = Field(ge=0, le=1, description="Cloud Score+ cs_cdf clear threshold.")

    # --- fetching and cache (earthengine, stac)
    cache_dir: str | None = Field(description="On-disk chip cache; default <cache>/sources.")

    @field_validator("dated_files")
    @classmethod
    def _dated_keys_are_dates(cls, value: dict[str, str]) -> dict[str, str]:
        # Checked here so a typo in a key is one line before any file is opened.
        for key in value:
            try:
                parse_day(key)
            except MinescanError:
                raise ValueError(f"key {key!r} is not a date; use YYYY-MM-DD: FILE") from None
        return value

    max_concurrency: int = Field(ge=1)
    retries: int = Field(ge=0)
    backoff_s: float = Field(ge=0)
