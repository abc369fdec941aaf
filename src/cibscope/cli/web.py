"""CLI of the web app: ``cibscope serve``, ``cibscope web user add|list|passwd`` and ``web hub ...``.

(The sharing hub's server is ``cibscope serve-taxii``; the two never share a name or a port default.)
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..web import DEFAULT_WEB_DB, ROLES
from .common import DbOption, check_port, console, fail, out

web_app = typer.Typer(help="Web app administration (users and roles).", no_args_is_help=True)
user_app = typer.Typer(help="Web app users: analyst, reviewer, admin.", no_args_is_help=True)
web_app.add_typer(user_app, name="user")
WebDb = typer.Option(DEFAULT_WEB_DB, "--web-db", help="Web state file (users, outbox, audit log): SQLite path "
                                                     "or SQLAlchemy URL.")


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(name: str, role: str = typer.Option("analyst", "--role", help=f"One of {', '.join(ROLES)}."),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the "
                                                                                  "first line of standard input."),
             web_db: str = WebDb) -> None:
    """Create a user (the password is prompted for, or read from stdin; stored as an Argon2id hash)."""
    from ..web.state import StateError, WebState
    try:
        WebState(web_db).add_user(name, role, _password(password_stdin))
    except StateError as exc:
        fail(str(exc))
    out.print(f"user {escape(name)} ({role})")


@user_app.command("passwd")
def user_passwd(name: str, password_stdin: bool = typer.Option(False, "--password-stdin"),
                web_db: str = WebDb) -> None:
    """Set a user's password."""
    from ..web.state import StateError, WebState
    try:
        WebState(web_db).set_password(name, _password(password_stdin))
    except StateError as exc:
        fail(str(exc))
    out.print(f"password of {escape(name)} changed")


hub_app = typer.Typer(help="TAXII hubs shares may be pushed to (nothing else is ever contacted).",
                      no_args_is_help=True)
web_app.add_typer(hub_app, name="hub")


@hub_app.command("add")
def hub_add(name: str, url: str, web_db: str = WebDb) -> None:
    """Register a hub by its API root URL, e.g. https://hub.example.org/hub/."""
    from ..web.state import StateError, WebState
    try:
        WebState(web_db).add_hub(name, url)
    except StateError as exc:
        fail(str(exc))
    out.print(f"hub {escape(name)}")


@hub_app.command("remove")
def hub_remove(name: str, web_db: str = WebDb) -> None:
    """Unregister a hub."""
    from ..web.state import StateError, WebState
    try:
        WebState(web_db).remove_hub(name)
    except StateError as exc:
        fail(str(exc))
    out.print(f"hub {escape(name)} removed")


@hub_app.command("list")
def hub_list(web_db: str = WebDb) -> None:
    """List registered hubs."""
    from ..web.state import WebState
    t = Table("hub", "API root URL", "registered (UTC)")
    for h in WebState(web_db).hubs():
        t.add_row(escape(h["name"]), escape(h["url"]), h["created"])
    out.print(t)


@user_app.command("list")
def user_list(web_db: str = WebDb) -> None:
    """List users and roles."""
    from ..web.state import WebState
    t = Table("user", "role", "created (UTC)")
    for u in WebState(web_db).users():
        t.add_row(escape(u["name"]), u["role"], u["created"])
    out.print(t)


def serve(db: Path = DbOption, web_db: str = WebDb,
          host: str = typer.Option("127.0.0.1", "--host"),
          port: int = typer.Option(8000, "--port", min=1, max=65535),
          read_only: bool = typer.Option(False, "--read-only", help="Open the store read-only (no jobs)."),
          org: str = typer.Option("cibscope", "--org", help="Your organisation (producer of shares)."),
          sector: str = typer.Option("platform", "--sector", help="Your organisation's sector: platform, "
                                     "government, law-enforcement, civil-society or research."),
          secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Session cookie only over "
                                              "HTTPS (behind a TLS proxy)."),
          data_root: Path = typer.Option(None, "--data-root", help="The only folder ingest jobs started "
                                         "from the web may read (none: no ingest from the web).")) -> None:
    """Run the investigator web app (pages, JSON API under /api/) on the store."""
    import duckdb
    import uvicorn

    from ..store.db import StoreLockedError
    from ..web.app import Settings, create_app
    check_port(host, port, "serve")
    if read_only and not db.exists():
        fail(f"{db}: no such store")
    if not db.exists():
        typer.echo(f"{db}: no such store yet; starting on a new, empty one (ingest from the Jobs page, "
                   f"or check --db)", err=True)
    try:
        if data_root is not None and not data_root.is_dir():
            fail(f"--data-root {data_root}: not a folder")
        application = create_app(Settings(str(db), web_db, read_only=read_only, org=org, sector=sector,
                                          secure_cookies=secure_cookies,
                                          data_root=str(data_root.resolve()) if data_root else None))
    except StoreLockedError as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"{db}: cannot open the store: {str(exc).splitlines()[0]}")
    except ValueError as exc:
        fail(str(exc))
    console.print(f"cibscope web app on http://{host}:{port}/ (store {db}, users in {web_db})")
    from ..share.http_limits import uvicorn_options
    uvicorn.run(application, host=host, port=port, log_level="warning", **uvicorn_options())
