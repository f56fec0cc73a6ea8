"""``minescan serve``: the user and admin dashboards over a results store."""

from __future__ import annotations

import click


@click.command(name="serve")
@click.option(
    "--store", "target", required=True, help="The store: a .gpkg file or a postgresql:// URL."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--work",
    default="runs/serve",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the jobs' runs and the downloads.",
)
def cli(target, host, port, work):
    """Serve the dashboards: the map and mine pages for everyone, /admin after login.

    \b
    Users are added with 'minescan users add NAME --role admin --store S'.
    It listens on 127.0.0.1 unless --host says otherwise.
    """
    import uvicorn

    from minescan.serve.app import create_app

    app = create_app(target, work)
    click.echo(f"minescan serve: http://{host}:{port}/ (admin: /admin)")
    uvicorn.run(app, host=host, port=port, log_level="info")
