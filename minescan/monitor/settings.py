"""Settings of per-mine monitoring (section ``monitor:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class MonitorSettings(BaseModel):
    """Excavation method and no-go handling."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(default="ours", pattern="^(ours|iforest|change|ndvi)$")
