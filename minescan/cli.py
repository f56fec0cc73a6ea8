"""The ``minescan`` command: one entry point, one subcommand per pipeline stage.

Subcommands are imported only when called, so ``minescan --help`` stays fast
even though ``scan`` and ``train`` pull in torch and ultralytics.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from minescan import __version__
from minescan.kernel.errors import MinescanError, first_line

#: name -> (module holding a click command called ``cli``, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "grid": ("minescan.grid.cli", "Build positive/negative tile cells from known mine polygons."),
    "simulate": (
        "minescan.simulated.cli",
        "The simulated Sentinel-2 world: export its truth.",
    ),
    "datasets": ("minescan.datasets.cli", "Write chips, the YOLO dataset and the pixel table."),
    "train": ("minescan.train.cli", "Train the YOLO detector and the LASSO spectral screen."),
    "scan": ("minescan.detect.cli", "Sweep an area coarse-to-fine and write candidate mine boxes."),
    "monitor": (
        "minescan.monitor.cli",
        "Excavation history, no-go violations and alerts per mine.",
    ),
    "evaluate": (
        "minescan.evaluate.cli",
        "Score a model on your own labelled real imagery (AUC, sensitivity, specificity).",
    ),
    "store": (
        "minescan.store.cli",
        "The results store: runs, mines, periods and statistics in one database.",
    ),
    "serve": ("minescan.serve.cli", "The user and admin web dashboards over a store."),
    "users": ("minescan.serve.users", "Dashboard users (admin, analyst) in a store."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module_name, short_help = SUBCOMMANDS[name]
        try:
            command = importlib.import_module(module_name).cli
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return _not_built(name, short_help)
        command.short_help = command.short_help or short_help
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import torch: use the static one-line helps.
        with formatter.section("Commands"):
            formatter.write_dl([(name, helptext) for name, (_, helptext) in SUBCOMMANDS.items()])


def _not_built(name: str, short_help: str) -> click.Command:
    @click.command(name=name, help=f"{short_help}\n\nNot available in this build yet.")
    def placeholder() -> None:
        raise MinescanError(f"'minescan {name}' is not available in this build yet")

    return placeholder


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minescan")
def app() -> None:
    """Find surface mines in Sentinel-2 imagery at country scale, then watch each one over time.

    \b
    Typical sweep:
      minescan grid --polygons mines.gpkg --out grid/          # training cells
      minescan datasets chips --cells grid/cells.parquet --out chips/
      minescan train detector --data yolo/data.yaml --out models/mine
      minescan scan --aoi country:GHA --out runs/gha           # candidate boxes
      minescan monitor --candidates runs/gha/candidates.parquet --out runs/gha/monitor

    Every stage reads configs/default.yaml; --config FILE overrides it and flags override both.
    """


#: Set to 1 to get the full traceback of an unexpected error instead of its one line.
DEBUG_ENV = "MINESCAN_DEBUG"
#: What Ctrl-C prints: every stage keeps its finished work, so the same command resumes.
INTERRUPTED = "interrupted; rerun the same command to resume where it stopped"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure becomes one ``error:`` line on stderr and a non-zero exit.

    :class:`MinescanError` (bad input) and a bad flag exit 2; a failed write (full disk, no
    permission) names the file and exits 1; Ctrl-C says the rerun resumes and
    exits 130. Anything else is a bug, still shown on one line (with
    ``$MINESCAN_DEBUG=1`` it re-raises with its traceback) and exits 1.
    """
    from minescan.kernel.offline import point_caches

    point_caches()  # before any subcommand imports matplotlib or onnxruntime
    try:
        app.main(args=argv, prog_name="minescan", standalone_mode=False)
    except MinescanError as exc:
        click.echo(f"error: {first_line(exc)}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(INTERRUPTED, err=True)
        return 130
    except click.ClickException as exc:  # a bad flag: one line too, pointing at --help
        command = exc.ctx.command_path if getattr(exc, "ctx", None) else "minescan"
        click.echo(f"error: {first_line(exc.format_message())} (see '{command} --help')", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # the last line of defence: never a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        message, code = _unexpected(exc)
        click.echo(f"error: {message}", err=True)
        return code
    return 0


def _unexpected(exc: Exception) -> tuple[str, int]:
    """The one line and exit status for an exception no stage turned into a MinescanError."""
    if type(exc).__module__.startswith("rasterio"):  # GDAL could not read an input raster
        return f"cannot read raster data: {first_line(exc)} (a truncated or damaged GeoTIFF?)", 2
    if isinstance(exc, OSError):  # a full disk, a permission: say where, and that rerun resumes
        where = f" {exc.filename}" if exc.filename else ""
        return (
            f"cannot read or write{where}: {exc.strerror or first_line(exc)}; fix that and rerun "
            "the same command to resume",
            1,
        )
    return (
        f"unexpected {type(exc).__name__}: {first_line(exc)} (rerun with {DEBUG_ENV}=1 for the "
        "traceback)",
        1,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
