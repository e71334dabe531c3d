"""The `tracker` command line."""

from __future__ import annotations

import argparse
import sys

import orjson

from tracker import __version__
from tracker.config import ConfigError, load_config
from tracker.runtime.lifecycle import setup_logging


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tracker", description=__doc__)
    p.add_argument("--version", action="version", version=f"tracker {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve (config: CONFIG, else ./config.json, else defaults)")
    check = sub.add_parser("check", help="validate a config and print the effective settings")
    schema = sub.add_parser("schema", help="create or migrate every table in every store")
    prune = sub.add_parser("prune", help="apply the retention policy")
    prune.add_argument("--logs-only", action="store_true")
    prune.add_argument("--dry-run", action="store_true")
    for name in ("erase", "export"):
        cmd = sub.add_parser(name, help=f"{name} every row of a visitor or user")
        who = cmd.add_mutually_exclusive_group(required=True)
        who.add_argument("--vid")
        who.add_argument("--uid")
        cmd.add_argument("config", nargs="?")
    for cmd in (run, check, schema, prune):
        cmd.add_argument("config", nargs="?")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    strict = args.command == "check"
    try:
        config, warnings = load_config(args.config, strict=strict)
    except ConfigError as e:
        for problem in e.problems:
            print(f"config: {problem}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, "tracker")
    for warning in warnings:
        print(f"config warning: {warning}", file=sys.stderr)

    if args.command == "check":
        sys.stdout.write(orjson.dumps(config.as_json(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return 0
    if args.command == "schema":
        from tracker.runtime.supervisor import ensure_schema
        from tracker.sinks.base import SinkError

        config.data_directory.mkdir(parents=True, exist_ok=True)
        try:
            for name in ensure_schema(config):
                print(f"schema: {name} is up to date")
        except SinkError as e:
            print(f"schema: {e}", file=sys.stderr)
            return 1
        return 0
    if args.command == "run":
        from tracker.runtime.supervisor import Supervisor

        return Supervisor(config).run()
    print(f"tracker {args.command}: not available in this version yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
