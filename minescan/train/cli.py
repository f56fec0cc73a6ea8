"""``minescan train``: the YOLO detector and the LASSO spectral screen."""

from __future__ import annotations

from pathlib import Path

import click

from minescan.clitools import (
    config_option,
    label_column_option,
    parse_classes,
    quiet_option,
    with_default,
)
from minescan.kernel.bands import parse_bands
from minescan.kernel.model import SCREEN, VERIFIER, VERIFIER_NET


@click.group(name="train")
def cli() -> None:
    """Train the YOLO detector and the LASSO spectral screen into a model folder.

    \b
    A model folder (what `minescan scan --model` reads) holds:
      detector.pt, detector.onnx, scaling.json, model_card.md/.json  (train detector)
      screen.json, lasso_path.csv, lasso_path.png                    (train screen)
    """


def labelled_patch_options(func):
    """``--labels``, ``--label-column``, ``--classes`` and ``--bands``: the labelled real
    patches that ``train finetune`` and ``train verifier`` both learn from."""
    for option in reversed(
        [
            click.option(
                "--labels",
                required=True,
                type=click.Path(dir_okay=False),
                help="Table (CSV or vector) with a 'file' column, paths relative to it, and a class "
                "column.",
            ),
            label_column_option,
            click.option(
                "--classes",
                default=None,
                help="Train only on rows whose class is one of these, comma-separated "
                "(e.g. mine,no_mine_hard_negative).",
            ),
            click.option(
                "--bands", default=None, help="Band names when the files' descriptions lack them."
            ),
        ]
    ):
        func = option(func)
    return func


@cli.command()
@click.option(
    "--data",
    "data_yaml",
    required=True,
    type=click.Path(dir_okay=False),
    help="YOLO set's data.yaml (from `minescan datasets yolo`); scaling.json sits beside it.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Model folder to write (training runs go to OUT/_runs).",
)
@click.option(
    "--model",
    default=None,
    help=with_default("ultralytics model yaml (from scratch) or a .pt.", "train.model"),
)
@click.option(
    "--imgsz",
    type=int,
    default=None,
    help=with_default("Training image size in pixels.", "train.imgsz"),
)
@click.option(
    "--epochs", type=int, default=None, help=with_default("Training epochs.", "train.epochs")
)
@click.option("--batch", type=int, default=None, help=with_default("Batch size.", "train.batch"))
@click.option(
    "--device", default=None, help=with_default("cpu, or a CUDA index such as 0.", "train.device")
)
@click.option(
    "--channels",
    default=None,
    help="Expected bands, e.g. B02,B03,B04,B08,B11,B12; an error when the YOLO set differs.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run from OUT/_runs/train/weights/last.pt.",
)
@click.option("--force", is_flag=True, help="Overwrite a detector already in OUT.")
@config_option("train")
def detector(
    data_yaml, out_dir, model, imgsz, epochs, batch, device, channels, resume, force, config_file
):
    """Train the YOLO detector on N-channel TIFFs, export ONNX and write the model card.

    Runs offline, from a model yaml (no pretrained download). The model card
    holds mAP50, mAP50-95, precision and recall on val and on the held-out
    test split, the data hash, training time, device and this exact command.
    """
    from minescan.config import load_settings
    from minescan.train import run

    s = load_settings(
        config_file,
        {
            "train": {
                "model": model,
                "imgsz": imgsz,
                "epochs": epochs,
                "batch": batch,
                "device": device,
            }
        },
    ).train
    card = run.detector(
        s,
        data_yaml,
        out_dir,
        resume=resume,
        force=force,
        channels=parse_bands(channels) if channels else None,
    )
    for split, groups in card["metrics"].items():
        for key, m in groups.items():
            click.echo(
                f"{split} {key}: mAP50 {m['mAP50']:.3f}  mAP50-95 {m['mAP50-95']:.3f}  "
                f"P {m['precision']:.3f}  R {m['recall']:.3f}  ({m['images']} images)"
            )
    click.echo(f"detector written to {out_dir} in {card['training_seconds'] / 60:.1f} min")


@cli.command()
@click.option(
    "--pixels",
    "pixels_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="pixels.parquet from `minescan datasets pixels`.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Model folder: screen.json, lasso_path.csv and lasso_path.png go here.",
)
@click.option(
    "--chips",
    "chips_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Chips folder (DIR/z{z}/{cell}.tif) for tile calibration. "
    "Default: recorded in the table, else chips/ beside it.",
)
@click.option(
    "--max-rows",
    type=int,
    default=60_000,
    show_default=True,
    help="Training pixels sampled for the L1 paths (inside/outside kept in proportion).",
)
@click.option("--force", is_flag=True, help="Overwrite a screen already in OUT.")
def screen(pixels_path, out_dir, chips_dir, max_rows, force):
    """Fit the LASSO and L1-logistic paths on 78 spectral features and calibrate the tile rule.

    Lambda is the sparsest model within 1% of the best validation score. The
    tile rule keeps at least 99% of validation tiles holding a mine.
    """
    from minescan.train import run
    from minescan.train.screen import summary

    result = run.screen(pixels_path, out_dir, chips_dir, max_rows, force)
    click.echo(summary(result))
    click.echo(f"screen written to {Path(out_dir) / SCREEN}")


@cli.command()
@config_option()
@click.option(
    "--build",
    "build_dir",
    default="build/train",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Work folder: truth, grid, chips, YOLO set, pixel table, model/.",
)
@click.option(
    "--ship",
    "ship_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Also copy the finished model here (e.g. models/demo).",
)
@click.option("--force", is_flag=True, help="Replace a model already in --ship.")
def demo(config_file, build_dir, ship_dir, force):
    """Everything `make train` does: truth -> grid -> chips -> YOLO set + pixels -> screen -> detector.

    Rerun the same command after an interruption: finished steps are kept and
    the detector resumes from its last epoch. A profile such as
    configs/quick.yaml (--config) makes a small model in seconds.
    """
    import json

    from minescan.kernel.io import ensure_dir
    from minescan.pipeline import figures, run

    if ship_dir is not None:
        ensure_dir(ship_dir)  # an unwritable --ship fails now, not after an hour of training
    record = run(config_file, build_dir, ship_dir, force)
    model = Path(ship_dir) if ship_dir else Path(build_dir) / "model"
    click.echo(json.dumps({**figures(Path(build_dir) / "model"), **record}, indent=1))
    click.echo(
        f"model in {model}" + ("" if ship_dir else " (make train FORCE=1 ships it to models/demo)")
    )


@cli.command()
@labelled_patch_options
@click.option(
    "--outlines",
    type=click.Path(dir_okay=False),
    default=None,
    help="Mine polygons (any CRS): one box per connected part; a mine patch without "
    "outlines is boxed whole.",
)
@click.option("--outlines-layer", default=None, help="Layer of --outlines that holds the polygons.")
@click.option(
    "--base",
    default="models/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Model folder to start from: its detector.pt, scaling and screen.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="New model folder (mosaics in OUT/_data, runs in OUT/_runs).",
)
@click.option(
    "--holdout-fraction",
    type=click.FloatRange(0.05, 0.5),
    default=0.25,
    show_default=True,
    help="Share of each class held out, as whole 5-degree regions, for the test split only.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Hold-out and mosaic seed.")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True)
@click.option(
    "--lr0",
    type=click.FloatRange(0, min_open=True),
    default=0.0005,
    show_default=True,
    help="AdamW learning rate: small, so the base weights are refined, not overwritten.",
)
@click.option(
    "--freeze",
    type=click.IntRange(1),
    default=None,
    help="Keep the first N layers fixed (10: yolo11n's backbone), so the base keeps its features.",
)
@click.option(
    "--copies",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Times each training patch appears per epoch, each in a new mosaic, turned and flipped.",
)
@click.option(
    "--tile-px",
    type=click.IntRange(8),
    default=64,
    show_default=True,
    help="Tile per patch in a mosaic: smaller patches reflect-padded, larger ones cropped.",
)
@click.option(
    "--gain-jitter",
    type=click.FloatRange(0, 0.5),
    default=0.0,
    show_default=True,
    help="Random brightness gain 1 +- this (and half of it per band) on training tiles, "
    "so a region's colour is a weaker cue than the mine itself.",
)
@click.option(
    "--sim-data",
    type=click.Path(dir_okay=False),
    default=None,
    help="A simulated YOLO set's data.yaml to mix in, so the simulated world does not get worse.",
)
@click.option(
    "--sim-images",
    type=click.IntRange(0),
    default=None,
    help="Simulated training images mixed in. Default: as many as real training mosaics.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, or a CUDA index such as 0.")
@click.option("--force", is_flag=True, help="Rebuild the mosaics and restart training.")
@quiet_option
def finetune(
    labels, label_column, classes, outlines, outlines_layer, bands, base, out_dir,
    holdout_fraction, seed, epochs, batch, lr0, freeze, copies, tile_px, gain_jitter, sim_data,
    sim_images, device, force, quiet,
):  # fmt: skip
    """Fine-tune a model's detector on your labelled real patches, at native resolution.

    \b
    minescan train finetune --labels scenes.csv --label-column group \\
        --classes mine,no_mine_hard_negative --outlines labels.gpkg \\
        --outlines-layer mine_polygons --base models/demo --out models/real

    Patches are tiled, never upsampled, into mosaics of the base model's input
    size; whole regions are held out for the test split and listed in
    OUT/heldout.csv, so `minescan evaluate --labels OUT/heldout.csv` scores
    exactly them. Rerun the same command after an interruption to resume.
    """
    from minescan.train.finetune import FinetuneOptions, Labels
    from minescan.train.finetune import finetune as run

    card = run(
        Labels(
            labels,
            label_column,
            parse_classes(classes),
            outlines,
            outlines_layer,
            bands,
        ),
        base,
        out_dir,
        FinetuneOptions(
            holdout_fraction=holdout_fraction,
            seed=seed,
            tile_px=tile_px,
            copies=copies,
            gain_jitter=gain_jitter,
            sim_images=sim_images,
            epochs=epochs,
            lr0=lr0,
            freeze=freeze,
            batch=batch,
            device=device,
        ),
        sim_yaml=sim_data,
        force=force,
        progress=not quiet,
    )
    held = card["finetune"]["patches"]["test"]
    click.echo(
        f"held out {held['mine']} mine and {held['other']} other patches in "
        f"{', '.join(held['regions'])}: score them with "
        f"`minescan evaluate --labels {out_dir}/heldout.csv --label-column {label_column} "
        f"--model {out_dir}`"
    )
    click.echo(f"fine-tuned model written to {out_dir} in {card['training_seconds'] / 60:.1f} min")


@cli.command()
@labelled_patch_options
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Model folder that receives verifier.json and verifier.onnx (scan and evaluate read it from there).",
)
@click.option(
    "--holdout-fraction",
    type=float,
    default=None,
    help=with_default(
        "Share of each class held out as whole regions; 0 fits every region (to ship a "
        "validated recipe).",
        "verifier.holdout_fraction",
    ),
)
@click.option(
    "--seed", type=int, default=None, help=with_default("Hold-out seed.", "verifier.seed")
)
@click.option(
    "--folds",
    type=int,
    default=None,
    help=with_default("Region-grouped cross-validation folds.", "verifier.folds"),
)
@click.option(
    "--members",
    type=int,
    default=None,
    help=with_default("Networks in the ensemble.", "verifier.members"),
)
@click.option(
    "--epochs",
    type=int,
    default=None,
    help=with_default("Training epochs of each network.", "verifier.epochs"),
)
@click.option(
    "--sensitivity",
    type=float,
    default=None,
    help=with_default(
        "Share of training mines (out of fold) the verifier's threshold keeps; "
        "unset: the threshold maximising sensitivity + specificity.",
        "verifier.sensitivity",
    ),
)
@quiet_option
@config_option("verifier")
def verifier(labels, label_column, classes, bands, out_dir, holdout_fraction, seed, folds, members,
             epochs, sensitivity, quiet, config_file):  # fmt: skip
    """Fit the real-imagery verifier: small CNNs on window-relative log reflectance.

    \b
    minescan train verifier --labels scenes.csv --label-column group \\
        --classes mine,no_mine_hard_negative --out models/demo

    Whole 5-degree regions are held out first and never fitted or tuned on
    (named in verifier.json, so `minescan evaluate` on them is honest);
    cross-validation over folds of whole training regions reports the AUC to
    expect elsewhere. Once satisfied, refit with --holdout-fraction 0 to use
    every region (models/demo ships that). Writes verifier.json and
    verifier.onnx. On real sources the scan and `minescan evaluate` then
    score each candidate by the verifier's verdict on its window. A few minutes on CPU.
    """
    from minescan.config import load_settings
    from minescan.train.verifier import PatchLabels, train_verifier

    overrides = {"holdout_fraction": holdout_fraction, "seed": seed, "folds": folds}
    overrides |= {"members": members, "epochs": epochs, "sensitivity": sensitivity}
    settings = load_settings(config_file, {"verifier": overrides})
    fitted = train_verifier(
        PatchLabels(
            labels, label_column, parse_classes(classes), parse_bands(bands) if bands else None
        ),
        out_dir,
        settings.verifier,
        progress=not quiet,
    )
    cv, held = fitted.info["cv"], fitted.info["holdout"]
    kept_out = (
        f"held out {held['mine']} mine and {held['other']} other patches in "
        f"{', '.join(held['regions'])}"
        if held["regions"]
        else "nothing held out: every region fitted"
    )
    click.echo(f"region-grouped CV AUC {cv['out_of_fold_auc']} ({cv['folds']} folds); {kept_out}")
    click.echo(f"verifier written to {Path(out_dir) / VERIFIER} and {VERIFIER_NET}")
