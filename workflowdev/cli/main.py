"""The `workflowdev` command: one parser, and the command module that handles each sub-command.

Building the parser imports no more than argparse and the command modules, which import their
machinery (configuration, database, engine, console) only when their command runs: an operator
typing `workflowdev --version` or `--help` waits for Python, not for SQLAlchemy or Textual.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

import workflowdev
from workflowdev.cli import backfill
from workflowdev.cli import console
from workflowdev.cli import credentials
from workflowdev.cli import failures
from workflowdev.cli import flow_tests
from workflowdev.cli import flows
from workflowdev.cli import purge
from workflowdev.cli import replay
from workflowdev.cli import server
from workflowdev.cli import users


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other failure (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(failures.USAGE, failures.one_line(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workflowdev", description="Workflow orchestration with a terminal operations console.")
    parser.add_argument("--version", action="version", version=f"workflowdev {workflowdev.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    server.add_parsers(commands)
    flows.add_parsers(commands)
    replay.add_parsers(commands)
    backfill.add_parsers(commands)
    purge.add_parsers(commands)
    flow_tests.add_parsers(commands)
    console.add_parsers(commands)
    credentials.add_parsers(commands)
    users.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever stops it is told in one line on stderr (`failures`)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if failures.debugging():
            raise
        line, status = failures.explain(exc)
        print(failures.one_line(f"workflowdev: {line}"), file=sys.stderr)
        return status


OWN_FLAGS = ("-h", "--help", "--version")
"""Flags of `workflowdev` itself; any other flag before a command belongs to the default, `up`."""


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    implied_up = not given or (given[0].startswith("-") and given[0] not in OWN_FLAGS)
    if implied_up and not (sys.stdin.isatty() and sys.stdout.isatty()):  # no terminal to draw on
        if given:
            parser.error("the console needs a terminal; for a node without one, use `workflowdev server`")
        parser.print_help()
        return 0
    args = parser.parse_args(["up", *given] if implied_up else given)
    status: int = args.handler(args)
    return status
