"""Create, list and revoke API keys: `python -m gateway.keys create --name erp --scope write`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from gateway.keys import service
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for


async def _run(args: argparse.Namespace, settings: GatewaySettings) -> int:
    engine = build_engine(settings, application_name="gateway-keys")
    try:
        async with sessionmaker_for(engine)() as session, session.begin():
            secret = settings.api_key_secret.get_secret_value()
            if args.action == "create":
                created = await service.create_key(session, secret, args.name, [Scope(s) for s in args.scope])
                if args.json:
                    print(created.model_dump_json())
                else:
                    print(f"API key {created.prefix}... ({created.name}, scopes {', '.join(created.scopes)})")
                    print(f"  {created.key}")
                    print("Store it now: it is shown only this once.")
                return 0
            if args.action == "list":
                keys = await service.list_keys(session, include_revoked=args.all)
                if args.json:
                    print(json.dumps([k.model_dump(mode="json") for k in keys]))
                for key in [] if args.json else keys:
                    state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                    print(f"{key.id}  {key.prefix}...  {','.join(key.scopes):<16} {state:<18} {key.name}")
                return 0
            revoked = await service.revoke_key(session, args.key)
            if not revoked:
                print(f"no active key with id or prefix {args.key!r}", file=sys.stderr)
                return 1
            for key in revoked:
                print(f"revoked {key.id} ({key.prefix}..., {key.name})")
            return 0
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    from servicekit.pg import ensure_database_url

    parser = argparse.ArgumentParser(prog="python -m gateway.keys", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses the key, e.g. 'erp-sync'")
    create.add_argument("--scope", action="append", choices=[s.value for s in Scope], required=True)
    create.add_argument("--json", action="store_true", help="print the key as JSON")
    listing = sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true")
    revoke = sub.add_parser("revoke", help="revoke a key by id or shown prefix")
    revoke.add_argument("key", help="the key's id or its prefix as listed (rk_xxxxxxxx)")
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    if not settings.database_url:
        settings = GatewaySettings(database_url=ensure_database_url())
    return asyncio.run(_run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
