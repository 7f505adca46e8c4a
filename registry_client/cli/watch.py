"""``registry watch``: follow changes as they commit, one line (or JSON object)
per event, optionally running a command for each (a deploy hook)."""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import EMPTY, fmt_time, printable, to_jsonable
from registry_client.cli._parsing import Result, command, non_negative_int, positive_int
from registry_client.cli.history import _KINDS, _change
from registry_client.types import ModelEvent

__all__ = ["add", "event_environment", "event_line"]

#: Prefix of the variables a --exec command gets; inherited ones are removed
#: first, so a watch started from another hook cannot pass stale values on.
ENV_PREFIX = "REGISTRY_EVENT_"

_DESCRIPTION = (
    "Follow changes as they commit: print one line per event, oldest first, and wait\n"
    "for more until stopped. With NAME, the changes to that model (deleted and\n"
    "re-created models too, by name); without, the changes to every model you may\n"
    "read. --alias and --kind narrow the stream (combined with AND).\n\n"
    "Where it starts: by default with the changes committed from now on; --after ID\n"
    "continues after event ID (the last event id you handled: nothing is lost or\n"
    "repeated); --from-beginning replays every recorded change first.\n\n"
    "The stream survives server restarts, failovers and network drops: the watch\n"
    "reconnects by itself (with backoff, saying so on stderr) and resumes after the\n"
    "last event it printed. It ends after --limit events, with Ctrl-C (exit status\n"
    "130, without a message), when stdout is closed (`| head`, exit 1), or on an error\n"
    "that would not pass by retrying (a bad kind, an unknown model, no permission:\n"
    "exit 1).\n\n"
    "Output: EVENT TIME MODEL VERSION KIND ACTOR CHANGE per line (text from the\n"
    "registry is shown with control characters escaped); with the global --output\n"
    "json, JSON Lines: one object per event (the fields of `registry --output json\n"
    "history`), written and flushed as it arrives.\n\n"
    "--exec CMD runs CMD once per event, waiting for it before the next event. CMD is\n"
    "split like a shell would split it (quotes, backslashes) but no shell runs it:\n"
    "for pipes, variables or ||, write --exec 'sh -c \"...\"'. It gets the event as\n"
    "one JSON object (and a newline) on stdin, and in its environment:\n"
    "  REGISTRY_EVENT_ID, REGISTRY_EVENT_KIND, REGISTRY_EVENT_MODEL,\n"
    "  REGISTRY_EVENT_VERSION (empty for a change to the model itself),\n"
    "  REGISTRY_EVENT_ACTOR, REGISTRY_EVENT_TIMESTAMP (epoch ms),\n"
    "  REGISTRY_EVENT_ALIAS (only for an event about an alias),\n"
    "  REGISTRY_EVENT_CURSOR (pass it to --after to continue after this event),\n"
    "  REGISTRY_EVENT_JSON (the same object as on stdin),\n"
    "plus the environment of `registry watch` itself. Its stdout and stderr go to\n"
    "the watch's stderr, so stdout keeps only the event lines. A command that fails\n"
    "(exits non-zero, is killed, cannot be started) is reported on stderr; with\n"
    "--exec-fail continue (the default) the watch goes on with the next event, with\n"
    "--exec-fail stop it exits 1 and says which --after gives that event again.\n"
    "A slow command delays the events behind it but loses none (the server may drop\n"
    "a stream that is not read for long; the watch then resumes where it was).\n\n"
    "Kinds of change, for --kind:\n" + _KINDS + ", protection_changed, grant_set,\n"
    "grant_deleted, token_created, token_revoked, access_denied, imported."
)


def add(sub: Any) -> None:
    p = command(
        sub,
        "watch",
        watch,
        "follow changes as they commit (and run a command per change)",
        _DESCRIPTION,
        [
            "registry watch fraud-detector",
            "registry watch fraud-detector --alias champion --exec ./deploy.sh",
            "registry --output json watch --kind version_stage_changed --kind alias_set",
            "registry watch fraud-detector --after 1200 --exec-fail stop \\\n"
            "    --exec 'sh -c \"./roll-out.sh $REGISTRY_EVENT_VERSION\"'",
            "registry --output json watch fraud-detector --from-beginning --limit 10",
        ],
        check=check_watch,
    )
    p.add_argument(
        "name", metavar="NAME", nargs="?", default=None, help="model name (default: every model)"
    )
    p.add_argument("--alias", metavar="ALIAS", help="only moves and deletions of this alias")
    p.add_argument(
        "--kind",
        dest="kinds",
        action="append",
        metavar="KIND",
        help="only changes of this kind (e.g. alias_set); repeat for several",
    )
    p.add_argument(
        "--after",
        type=non_negative_int,
        default=0,
        metavar="EVENT_ID",
        help="start after this event id (the last one handled) instead of from now",
    )
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="start with the first change ever recorded instead of from now",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="exit (status 0) after N events (default: watch until stopped)",
    )
    p.add_argument(
        "--exec",
        dest="exec_command",
        metavar="CMD",
        help="run CMD for each event, the event on its stdin and in REGISTRY_EVENT_*\n"
        "variables (see above)",
    )
    p.add_argument(
        "--exec-fail",
        choices=("continue", "stop"),
        default="continue",
        help="when CMD fails: report it and go on (continue, the default) or exit 1 (stop)",
    )


def check_watch(a: argparse.Namespace) -> str | None:
    if a.after and a.from_beginning:
        return "--after and --from-beginning exclude each other"
    if a.exec_command is not None:
        try:
            argv = shlex.split(a.exec_command)
        except ValueError as exc:
            return f"--exec: {exc}"
        if not argv:
            return "--exec needs a command"
    elif a.exec_fail != "continue":
        return "--exec-fail needs --exec"
    return None


# -- output ------------------------------------------------------------------------


def event_line(event: ModelEvent) -> str:
    """One event on one line for people; text from the registry escaped."""
    fields = [
        str(event.event_id),
        fmt_time(event.timestamp),
        printable(event.model_name) or EMPTY,
        str(event.version) if event.version else EMPTY,
        printable(event.kind),
        printable(event.actor) or EMPTY,
        _change(event) or EMPTY,
    ]
    return "  ".join(fields)


def event_json(event: ModelEvent) -> str:
    """The event as one line of JSON (the object `history --output json` lists)."""
    return json.dumps(to_jsonable(event), ensure_ascii=False)


def _alias_of(event: ModelEvent) -> str | None:
    for values in (event.after, event.before):
        alias = values.get("alias")
        if isinstance(alias, str):
            return alias
    return None


def event_environment(
    event: ModelEvent, cursor: int, base: Mapping[str, str], document: str
) -> dict[str, str]:
    """``base`` without inherited REGISTRY_EVENT_* variables, plus this event's."""
    env = {k: v for k, v in base.items() if not k.startswith(ENV_PREFIX)}
    values = {
        "ID": str(event.event_id),
        "KIND": event.kind,
        "MODEL": event.model_name,
        "VERSION": str(event.version) if event.version else "",
        "ACTOR": event.actor,
        "TIMESTAMP": str(event.timestamp),
        "CURSOR": str(cursor),
        "JSON": document,
    }
    alias = _alias_of(event)
    if alias is not None:
        values["ALIAS"] = alias
    # An environment cannot hold NUL; the JSON (escaped) keeps the exact text.
    env.update({ENV_PREFIX + k: v.replace("\0", "\\x00") for k, v in values.items()})
    return env


# -- the command -------------------------------------------------------------------


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None  # a replaced stderr (tests): the command's output is copied


def _run_hook(argv: list[str], event: ModelEvent, cursor: int, document: str) -> str | None:
    """Run the --exec command for one event; what went wrong, or None."""
    env = event_environment(event, cursor, os.environ, document)
    fd = _stderr_fd()
    try:
        done = subprocess.run(
            argv,
            input=(document + "\n").encode(),
            env=env,
            stdout=fd if fd is not None else subprocess.PIPE,
            stderr=fd if fd is not None else subprocess.STDOUT,
            check=False,
        )
    except OSError as exc:
        return f"could not be started: {exc}"
    if fd is None and done.stdout:
        sys.stderr.write(done.stdout.decode(errors="replace"))
    if done.returncode < 0:
        return f"was killed by signal {-done.returncode}"
    if done.returncode:
        return f"exited with status {done.returncode}"
    return None


def watch(c: RegistryClient, a: argparse.Namespace) -> Result:
    as_json = a.output == "json"
    hook = shlex.split(a.exec_command) if a.exec_command is not None else None
    count = 0
    with c.watch_model_events(
        a.name,
        after_event_id=a.after,
        kinds=a.kinds or (),
        alias=a.alias,
        from_beginning=a.from_beginning,
    ) as events:
        # On stderr in both modes: for people, and for a script that waits
        # until the stream is open before it makes the change to watch for.
        print(f"watching after event {events.cursor} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        before = events.cursor
        try:
            for event in events:
                document = event_json(event)
                print(document if as_json else event_line(event), flush=True)
                if hook is not None:
                    problem = _run_hook(hook, event, events.cursor, document)
                    if problem is not None:
                        what = printable(shlex.join(hook))
                        print(
                            f"error: --exec command {what} {problem} for event {event.event_id}",
                            file=sys.stderr,
                        )
                        if a.exec_fail == "stop":
                            again = f"--after {before}" if before else "--from-beginning"
                            print(f"to handle it again, watch with {again}", file=sys.stderr)
                            return Result(None, "", failed=True, streamed=True)
                before = events.cursor
                count += 1
                if a.limit is not None and count >= a.limit:
                    break
        except BrokenPipeError:
            # The reader went away (`registry watch | head -1`), as in main:
            # no traceback, and no second failure at the interpreter's flush.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return Result(None, "", failed=True, streamed=True)
        if not as_json:
            print(f"to continue: --after {events.cursor}", file=sys.stderr)
    return Result(None, "", streamed=True)
