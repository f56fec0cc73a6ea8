"""Options and parsers shared by several subcommands, so each flag means one thing everywhere."""

from __future__ import annotations

import os

import click

from minescan.kernel.errors import MinescanError


def parse_zooms(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """``"13,14,15"`` to a sorted list of distinct zooms in 0-20.

    Examples
    --------
    >>> parse_zooms("15,13,14")
    [13, 14, 15]
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        zooms = sorted({int(str(z).strip()) for z in items if str(z).strip()})
    except ValueError:
        raise MinescanError(f"bad zoom list {text!r}; expected integers such as 13,14,15") from None
    if not zooms:
        raise MinescanError("no zoom given")
    bad = [z for z in zooms if not 0 <= z <= 20]
    if bad:
        raise MinescanError(f"zoom {bad[0]} is out of range; zooms go from 0 to 20")
    return zooms


def shown(value) -> str:
    """A setting's value as a flag would take it: lists comma-joined, YAML's true, false and none.

    Examples
    --------
    >>> shown([13, 14, 15]), shown(True), shown(None), shown(0.001)
    ('13,14,15', 'true', 'none', '0.001')
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def with_default(text: str, setting: str) -> str:
    """``text`` for --help, ending in the default.yaml value of ``setting`` (``"section.key"``).

    A flag that overrides a setting defaults to None, so that a value from
    --config stands unless the flag is given; its help still shows what a run
    without either uses, read from the one place defaults live.

    Examples
    --------
    >>> with_default("Training epochs.", "train.epochs")
    'Training epochs.  [default: 65 (train.epochs)]'
    """
    from minescan.config import defaults

    section, key = setting.split(".")
    value = getattr(getattr(defaults(), section), key)
    return f"{text}  [default: {shown(value)} ({setting})]"


def config_option(section: str | None = None):
    """``--config FILE`` (parameter ``config_file``): YAML merged over configs/default.yaml.

    ``section`` names where the command's own settings sit in that file, for the help text.
    """
    where = f" (settings under {section}:)" if section else ""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"YAML file merged over configs/default.yaml{where}.",
    )


#: ``--label-column``: the class column of a labelled-patch table (evaluate, train finetune).
label_column_option = click.option(
    "--label-column",
    default="label",
    show_default=True,
    help="Class column; mine, 1, true, yes and positive mean mine.",
)


def parse_classes(text: str | None) -> tuple[str, ...] | None:
    """``--classes a,b`` as a tuple of class values, None when not given.

    Examples
    --------
    >>> parse_classes(" mine, no_mine "), parse_classes(None)
    (('mine', 'no_mine'), None)
    """
    return tuple(c.strip() for c in text.split(",") if c.strip()) if text else None


#: ``--quiet``: no progress bar on stderr.
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")


def _set_ee_project(ctx, param, value):
    # The earthengine source reads $MINESCAN_EE_PROJECT first, then source.ee_project, then
    # $EE_PROJECT; so every command gets the flag without a parameter of its own.
    if value:
        os.environ["MINESCAN_EE_PROJECT"] = value
    return value


def source_options(func):
    """``--source``, ``--config`` and ``--ee-project``: every command that reads imagery takes them."""
    from minescan.datasets.sources import SOURCES

    func = click.option(
        "--ee-project",
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_set_ee_project,
        help="Earth Engine cloud project for --source earthengine [source.ee_project, else "
        "$EE_PROJECT]; authenticate once with `earthengine authenticate`.",
    )(func)
    func = config_option("source")(func)
    func = click.option(
        "--source",
        type=click.Choice(list(SOURCES)),
        default=None,
        help=with_default("Imagery source.", "source.kind"),
    )(func)
    return func
