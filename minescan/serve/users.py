"""``minescan users``: dashboard accounts in the store."""

from __future__ import annotations

import sys

import click

from minescan.store.accounts import ROLES

store_option = click.option(
    "--store", "target", required=True, help="The store: a .gpkg file or a postgresql:// URL."
)


@click.group(name="users")
def cli() -> None:
    """Dashboard users (roles admin and analyst), kept in the store."""


@cli.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@store_option
def add_command(name, role, target):
    """Add (or reset) user NAME; asks for the password, or reads one line from stdin."""
    from minescan.serve.accounts import add_user
    from minescan.store import open_store
    from minescan.store.audit import current_actor

    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with open_store(target, create=False) as backend:
        done = add_user(backend, name, role, password, by=current_actor())
    click.echo(f"user {done['user']} ({done['role']}) saved in {target}")


@cli.command("list")
@store_option
def list_command(target):
    """Every user with role and creation time."""
    from minescan.store import open_store
    from minescan.store.accounts import users

    with open_store(target, create=False) as backend:
        for user in users(backend):
            click.echo(f"{user['user']}\t{user['role']}\t{user['created']}")


@cli.command("remove")
@click.argument("name")
@store_option
def remove_command(name, target):
    """Remove user NAME and end their sessions."""
    from minescan.store import open_store
    from minescan.store.accounts import remove_user

    with open_store(target, create=False) as backend:
        remove_user(backend, name)  # audited under current_actor()
    click.echo(f"user {name} removed")
