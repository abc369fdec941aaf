"""CLI for the sharing hub: ``serve-taxii``, ``admin ...``, ``audit ...`` and ``share push|pull``.

Each command wraps the Python API (:class:`~cibscope.share.hub.Hub`, :mod:`~cibscope.share.audit`,
:mod:`~cibscope.share.client`).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from ..share import DEFAULT_HUB_DB
from ..text import plural
from .common import check_port, console, fail, out

HubDb = typer.Option(DEFAULT_HUB_DB, "--db", help="Hub database: SQLite file or SQLAlchemy URL.")

admin_app = typer.Typer(help="Create API roots, collections, organisations, users, tokens and rights.",
                        no_args_is_help=True)
audit_app = typer.Typer(help="Verify and export the hash-chained audit log.", no_args_is_help=True)
share_app = typer.Typer(help="Push bundles to and pull objects from a TAXII 2.1 server.", no_args_is_help=True)


def _hub(db: str):
    from ..share.hub import Hub
    return Hub(db)


def _admin(fn, *args, **kw):
    from ..share.auth import AdminError
    try:
        return fn(*args, **kw)
    except AdminError as exc:
        fail(str(exc))


@admin_app.command("add-root")
def add_root(name: str, title: str = typer.Option(..., "--title"), description: str = "",
             max_content_length: int = typer.Option(10 * 1024 * 1024, help="Bytes (413 above)."),
             db: str = HubDb) -> None:
    """Create an API root served at /NAME/."""
    _admin(_hub(db).add_api_root, name, title, description, max_content_length)
    out.print(f"API root {name}")


@admin_app.command("add-collection")
def add_collection(root: str, title: str, description: str = "",
                   collection_id: Optional[str] = typer.Option(None, "--id"), db: str = HubDb) -> None:
    """Create a collection under an API root; prints its id."""
    out.print(_admin(_hub(db).add_collection, root, title, description, collection_id))


@admin_app.command("add-org")
def add_org(name: str, sector: str = typer.Option(..., help="platform, government, law-enforcement, "
                                                            "civil-society or research"),
            db: str = HubDb) -> None:
    """Create an organisation in a sector."""
    _admin(_hub(db).add_org, name, sector)
    out.print(f"organisation {name} ({sector})")


@admin_app.command("add-user")
def add_user(name: str, org: str = typer.Option(..., "--org"),
             password: bool = typer.Option(False, "--password", help="Prompt for a password (HTTP Basic)."),
             db: str = HubDb) -> None:
    """Create a user of an organisation."""
    pw = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    _admin(_hub(db).add_user, name, org, pw)
    out.print(f"user {name} of {org}")


@admin_app.command("add-token")
def add_token(user: str, label: Optional[str] = None, db: str = HubDb) -> None:
    """Create an API token; it is printed once and only its hash is stored."""
    out.print(_admin(_hub(db).add_token, user, label), highlight=False)


@admin_app.command("revoke-tokens")
def revoke_tokens(user: str, db: str = HubDb) -> None:
    """Revoke every token of a user."""
    out.print(f"{plural(_admin(_hub(db).revoke_tokens, user), 'token')} revoked")


@admin_app.command("grant")
def grant(org: str, collection_id: str, read: bool = typer.Option(True, "--read/--no-read"),
          write: bool = typer.Option(False, "--write/--no-write"), db: str = HubDb) -> None:
    """Set an organisation's read/write rights on a collection."""
    _admin(_hub(db).grant, org, collection_id, read, write)
    out.print(f"{org} on {collection_id}: read={read} write={write}")


@admin_app.command("delete-object")
def delete_object(collection_id: str, object_id: str, admin_name: str = typer.Option(
        ..., "--admin", help="Who deletes (recorded in the audit log)."), db: str = HubDb) -> None:
    """Delete every version of an object, whoever owns it (audited as the admin operation delete-object)."""
    from ..share.hub import Filters, NotFound
    try:
        n = _hub(db).delete_object(collection_id, object_id, None, None, Filters(), admin=admin_name)
    except NotFound as exc:
        fail(str(exc))
    out.print(f"{plural(n, 'version')} of {object_id} deleted")


@admin_app.command("purge-expired")
def purge_expired(db: str = HubDb) -> None:
    """Delete object versions past their retention."""
    out.print(f"{plural(_hub(db).purge_expired(), 'expired object version')} deleted")


Checkpoints = typer.Option(None, "--checkpoints", envvar="CIBSCOPE_AUDIT_CHECKPOINTS",
                           help="Signed checkpoint file (JSON Lines) written by `audit checkpoint` or the server.")
PublicKey = typer.Option(None, "--public-key", envvar="CIBSCOPE_AUDIT_PUBLIC_KEY",
                         help="Ed25519 public key (PEM) the checkpoints are signed with.")


@contextmanager
def _audit_log(db: str) -> Iterator:
    """The hub database's engine, opened as found (a typo in --db is an error, not a new empty log certified
    or exported); disposed on exit."""
    from ..share import audit
    try:
        engine = audit.open_existing(db)
    except ValueError as exc:
        fail(f"--db: {exc}")
    try:
        yield engine
    finally:
        engine.dispose()


@audit_app.command("verify")
def audit_verify(file: Optional[Path] = typer.Option(None, "--file", help="Verify a JSON Lines export "
                                                                          "instead of the database."),
                 checkpoints: Optional[Path] = Checkpoints, public_key: Optional[Path] = PublicKey,
                 db: str = HubDb) -> None:
    """Check the hash chain and the signed checkpoints; exit 1 and list the problems if any.

    Problems: an entry edited, removed or reordered, trailing entries removed, or the store dropped or
    truncated."""
    from ..share import audit
    if (checkpoints is None) != (public_key is None):
        fail("--checkpoints and --public-key go together")
    try:
        items = audit.read_export(file) if file else audit.stored_entries(db)
        if checkpoints is not None:
            cps, cp_problems = audit.read_checkpoints(checkpoints, public_key)
            res = audit.verify_checkpointed(items, cps)
            res.problems[:0] = cp_problems
            res.ok = res.ok and not cp_problems
        else:
            res = audit.verify(items)
    except (OSError, ValueError) as exc:
        out.print(f"[red]{exc}[/red]", highlight=False)
        out.print("audit log BROKEN: cannot be read")
        raise typer.Exit(code=1)
    if res.ok:
        latest = f", latest signed checkpoint at entry {cps[-1]['seq']} ({cps[-1]['ts']})" if checkpoints else ""
        out.print(f"audit log OK: {plural(res.checked, 'entry', 'entries')}, chain intact{latest}")
        if checkpoints is None:
            console.print("[yellow]warning:[/yellow] no --checkpoints/--public-key: removed trailing entries, a "
                          "dropped or truncated store and a full re-hash cannot be detected", highlight=False)
        return
    for p in res.problems:
        out.print(f"[red]{p}[/red]", highlight=False)
    out.print(f"audit log BROKEN: {plural(len(res.problems), 'problem')} in {plural(res.checked, 'entry', 'entries')}")
    raise typer.Exit(code=1)


@audit_app.command("keygen")
def audit_keygen(private_key: Path = typer.Option(..., "--private-key", help="Where to write the private key "
                                                  "(mode 0600; never next to the hub database)."),
                 public_key: Path = typer.Option(..., "--public-key", help="Where to write the public key.")) -> None:
    """Create the Ed25519 key pair that signs audit checkpoints."""
    from ..share import audit
    try:
        kid = audit.keygen(private_key, public_key)
    except FileExistsError:
        fail(f"{private_key} exists; a key is never overwritten")
    out.print(f"key {kid}: private {private_key}, public {public_key}")


@audit_app.command("checkpoint")
def audit_checkpoint(key: Path = typer.Option(..., "--key", help="Ed25519 private key (PEM) from `audit keygen`."),
                     out_file: Path = typer.Option(..., "--out", help="Checkpoint file to append to."),
                     db: str = HubDb) -> None:
    """Verify the chain, sign its head and append the checkpoint to --out."""
    from ..share import audit
    with _audit_log(db) as engine:
        try:
            cp = audit.checkpoint(engine, key, out_file)
        except (OSError, ValueError) as exc:
            fail(str(exc))
    out.print(f"checkpoint: entry {cp['seq']} hash {cp['hash'][:16]}... signed by {cp['key_id']} -> {out_file}")


@audit_app.command("export")
def audit_export(path: Path, db: str = HubDb) -> None:
    """Write the audit log as JSON Lines for oversight."""
    from ..share import audit
    with _audit_log(db) as engine:
        try:
            n = audit.export(engine, path)
        except OSError as exc:
            fail(f"{path}: {exc.strerror}")
    out.print(f"{plural(n, 'entry', 'entries')} -> {path}")


def _conn_opts(token: Optional[str], user: Optional[str], password: Optional[str]) -> dict:
    return {"token": token, "user": user, "password": password}


Server = typer.Option(..., "--server", help="API root URL, e.g. http://127.0.0.1:9000/hub/")
Collection = typer.Option(..., "--collection", help="Collection id.")
Purpose = typer.Option(..., "--purpose", help="Declared purpose.")
Token = typer.Option(None, "--token", envvar="CIBSCOPE_TOKEN", help="API token (or CIBSCOPE_TOKEN).")
User = typer.Option(None, "--user", help="HTTP Basic user (instead of a token).")
Password = typer.Option(None, "--password", envvar="CIBSCOPE_PASSWORD", help="HTTP Basic password.")


@share_app.command("push")
def push(bundle: Path, server: str = Server, collection: str = Collection, purpose: str = Purpose,
         token: Optional[str] = Token, user: Optional[str] = User, password: Optional[str] = Password) -> None:
    """Post a STIX bundle; prints the status and exits 1 when any object was rejected."""
    from ..share.client import ShareError, push as do_push
    try:
        status = do_push(bundle, server, collection, purpose, **_conn_opts(token, user, password))
    except ShareError as exc:
        fail(str(exc))
    out.print(f"{status['success_count']} stored, {status['failure_count']} rejected "
              f"({plural(status['envelopes'], 'envelope')}, status {', '.join(status['status_ids'])})")
    for f in status.get("failures", []):
        out.print(f"  [yellow]rejected[/yellow] {f['id']}: {f.get('message', '')}", highlight=False)
    if status["failure_count"]:
        raise typer.Exit(code=1)


@share_app.command("pull")
def pull(folder: Path, server: str = Server, collection: str = Collection, purpose: str = Purpose,
         token: Optional[str] = Token, user: Optional[str] = User, password: Optional[str] = Password,
         added_after: Optional[str] = typer.Option(None, help="Override the saved high-water mark.")) -> None:
    """Fetch new object versions into FOLDER (bundle files plus a state file for incremental pulls)."""
    from ..share.client import ShareError, pull as do_pull
    try:
        res = do_pull(folder, server, collection, purpose, added_after=added_after,
                      **_conn_opts(token, user, password))
    except ShareError as exc:
        fail(str(exc))
    out.print(f"{plural(res.count, 'object version')} -> {res.path or '(nothing new)'}; next added_after {res.last}")


def serve_taxii(db: str = HubDb, host: str = typer.Option("127.0.0.1", "--host"),
                port: int = typer.Option(9000, "--port", min=1, max=65535),
                checkpoint_key: Optional[Path] = typer.Option(
                    None, "--checkpoint-key", help="Ed25519 private key (`audit keygen`) signing the audit "
                                                   "log's head; keep it outside the hub database's folder."),
                checkpoint_file: Optional[Path] = typer.Option(
                    None, "--checkpoint-file", help="File the signed checkpoints are appended to."),
                checkpoint_every: float = typer.Option(60.0, "--checkpoint-every", min=1.0,
                                                       help="Seconds between checkpoints.")) -> None:
    """Run the TAXII 2.1 server (FastAPI + Uvicorn)."""
    if (checkpoint_key is None) != (checkpoint_file is None):
        fail("--checkpoint-key and --checkpoint-file go together")
    from ..share.serve import StartupError, check_checkpoint_options, serve
    if checkpoint_key is not None:
        try:  # refuse to start rather than run without checkpoints, only logging failures
            check_checkpoint_options(checkpoint_key, checkpoint_file)
        except StartupError as exc:
            fail(str(exc))
    check_port(host, port, "serve-taxii")
    serve(db, host, port, checkpoint_key=checkpoint_key, checkpoint_file=checkpoint_file,
          checkpoint_every=checkpoint_every)
