"""Settings of the grid stage (section ``grid:`` of the config)."""

from pydantic import BaseModel, ConfigDict, Field


class GridSettings(BaseModel):
    """How positive and negative cells are drawn from mine polygons.

    Types and checks only: every value comes from ``configs/default.yaml``
    (at the CLI level, ``config.section`` hands out one with defaults).
    """

    model_config = ConfigDict(extra="forbid")

    zooms: list[int] = Field(description="Web-mercator zooms, 0-20.")
    min_overlap: float = Field(ge=0, le=1, description="Overlap that makes a cell positive.")
    negatives: bool = Field(description="Draw one negative per positive per zoom.")
    land_negatives: bool = Field(description="Negatives must lie on land.")
    search_radius: int = Field(
        ge=1, le=1024, description="How far (in cells) to look for a free negative."
    )
    preview_max_cells: int = Field(
        ge=0, description="Most cells drawn in preview.html (the page stays light)."
    )
