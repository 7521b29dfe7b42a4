"""``safeguarding db``: the store's schema, and starting over with a new key."""

from __future__ import annotations

import typer

from safeguarding.access import audit
from safeguarding.cli.common import console, print_json, store
from safeguarding.config import SECRET_NAMES
from safeguarding.store import keys

app = typer.Typer(
    help="The database: schema status and migrations, and its keys.", no_args_is_help=True
)


@app.command()
def upgrade() -> None:
    """Apply every pending migration.

    Example: safeguarding db upgrade
    """
    with store(on_outdated="ignore") as opened:
        applied = opened.upgrade()
        if applied:
            console.print(f"upgraded {opened.display_url}: now at {', '.join(applied)}")
        else:
            console.print(f"{opened.display_url} is already at the current schema")


@app.command()
def status(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the database, its schema revisions and whether it is current, and how each key
    file stands against the store (matches, differs, missing, not recorded).

    Example: safeguarding db status --json
    """
    with store(on_outdated="ignore", must_exist=True) as opened:
        current, heads = opened.current_revisions(), opened.head_revisions()
        info = {
            "database": opened.display_url,
            "dialect": opened.dialect,
            "current": sorted(current),
            "heads": sorted(heads),
            "up_to_date": current == heads,
            "keys": keys.key_states(opened),
        }
    if json_out:
        print_json(info)
    else:
        for key, value in info.items():
            console.print(f"{key}: {value}")


@app.command()
def rekey(
    name: str = typer.Argument(..., metavar="NAME", help=f"The key: {', '.join(SECRET_NAMES)}."),
) -> None:
    """Start over with a new key: record the key now in the data directory as the store's own.

    For when the original <home>/secrets/NAME.key is lost for good; restoring it is always
    better. What the old key protected stays as it was: pseudonyms made under it will not link
    to new ones, records sealed under it can no longer be opened. The key file is made if it is
    missing. Recorded in the audit log with the fingerprints replaced and recorded.

    Example: safeguarding db rekey pseudonym
    """
    if name not in SECRET_NAMES:
        raise typer.BadParameter(f"must be one of {', '.join(SECRET_NAMES)}", param_hint="NAME")
    with store(must_exist=True) as opened:
        settings = opened.settings
        path = settings.secret_file(name)
        made = settings.existing_secret(name) is None
        key = settings.secret(name)
        with opened.session() as session:
            previous = keys.record_fingerprint(session, name, key)
            recorded = keys.fingerprint(name, key)
            if previous != recorded:
                detail = {
                    "previous": previous or "none",
                    "fingerprint": recorded,
                    "key_file": "made" if made else "kept",
                }
                audit.record(session, audit.cli_actor(), "db.rekey", "key", name, detail)
        if previous == recorded:
            console.print(
                f"{path} is already the {name} key of {opened.display_url}; nothing changed",
                soft_wrap=True,
            )
            return
        console.print(
            f"recorded {path}{' (made now)' if made else ''} as the {name} key of "
            f"{opened.display_url}: {keys.CONSEQUENCES[name]}",
            soft_wrap=True,
        )
