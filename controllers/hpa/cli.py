"""``tailstorm hpa``: the HPA decision as a JSON filter.

    python -m controllers.hpa decide [--file STATE.json]   # one sync: state in, decision out
    python -m controllers.hpa replay [--file REPLAY.json]  # {"start": state, "syncs": [...]} -> decisions

Input comes from ``--file`` or stdin; the decision is printed to stdout as JSON. Bad input exits with
status 2 and one line on stderr that names the field; nothing else is printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from controllers.hpa import codec, horizontal, replaying

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run one subcommand; returns the exit status (0, or 2 for bad input)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    arguments = _parser().parse_args(argv)
    try:
        document = _read_json(arguments.file, stdin=stdin)
        result = _run(arguments.command, document)
    except (codec.InputError, _UnreadableInput) as e:
        print(f"error: {e}", file=stderr)
        return EXIT_BAD_INPUT
    json.dump(result, stdout, indent=2)
    stdout.write("\n")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailstorm hpa", description="The Kubernetes HPA algorithm as a JSON filter.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in (
        ("decide", "decide one sync: an HPA state on stdin (or --file), the decision on stdout"),
        ("replay", "replay syncs: {\"start\": state, \"syncs\": [...]} in, the decisions in order out"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument("--file", metavar="PATH", help="read the JSON input from PATH instead of stdin")
    return parser


class _UnreadableInput(Exception):
    """The input could not be read or is not JSON."""


def _read_json(path: str | None, *, stdin: TextIO) -> Any:
    try:
        if path is None:
            text = stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as e:
        raise _UnreadableInput(f"cannot read {path}: {e.strerror}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        source = path or "stdin"
        raise _UnreadableInput(f"{source} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e


def _run(command: str, document: Any) -> Any:
    try:
        if command == "decide":
            return codec.encode_decision(horizontal.reconcile(codec.decode_state(document)))
        start, observations = codec.decode_replay(document)
        decisions = replaying.replay(start=start, observations=observations)
        return [codec.encode_decision(decision) for decision in decisions]
    except ValueError as e:
        if isinstance(e, codec.InputError):
            raise
        # Invariants checked on construction (e.g. ControllerSettings) surface as bad input too.
        raise codec.InputError("input", str(e)) from e
