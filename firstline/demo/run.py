"""``python -m firstline.demo`` (``make demo``, ``firstline demo``): the whole story
on one machine, no AWS account needed.

    python -m firstline.demo [--json] [--keep] [--scale] [--home DIR]

Starts a Prefect server, the sandbox region with the scenario's instances
(``firstline.demo.scenario``), fake Slack and OpsGenie, and a fast runner serving
the deployment; then sends each instance's CloudWatch alarm through the relay's
Lambda handler as EventBridge would (some twice), shows the incidents as they
progress, and prints the outcome as a table (or JSON with ``--json``). ``--scale``
runs the same on PostgreSQL with two runner processes. ``--keep`` leaves it all
running until Ctrl-C, for a look at the Prefect UI.

Exit status: 0 when every verdict is the one the scenario promises, 1 when one
differs, 2 when the demo could not start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from firstline.demo.outcome import (
    IncidentOutcome,
    outcomes_as_json,
    pager_counts,
    pager_summary,
    render_table,
    slack_counts,
)
from firstline.demo.progress import IncidentLine, Progress
from firstline.demo.services import PrefectServer
from firstline.errors import FirstlineError

DEFAULT_HOME = Path(".demo")
VERDICT_TIMEOUT_SECONDS = 240.0
POLL_INTERVAL_SECONDS = 0.5
FINAL_STATE_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
DEPLOYMENT = "remediate-instance/on-alarm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the outcome as JSON on stdout"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the server, runners and sandbox running until Ctrl-C",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="PostgreSQL instead of SQLite, and two runner processes",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=DEFAULT_HOME,
        help="where each run keeps its Prefect home and logs (default: .demo)",
    )
    parser.add_argument(
        "--timeout-seconds",
        type=float,
        default=VERDICT_TIMEOUT_SECONDS,
        help="how long to wait for every verdict (default 240)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firstline.demo", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the demo as ``args`` asks; the exit status."""
    talk = sys.stderr if args.json else sys.stdout
    workdir = args.home / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"
    workdir = workdir.resolve()
    workdir.mkdir(parents=True)
    # Set explicitly: a process started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _database(args.scale, workdir, talk) as database_url:
            outcomes = _run_scenario(args, workdir, database_url, talk)
    except FirstlineError as exc:
        print(f"firstline demo: {exc}", file=sys.stderr)
        print(f"firstline demo: logs kept in {workdir}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "firstline demo: interrupted; everything it started is stopped", file=talk
        )
        return 130
    if all(outcome.as_promised for outcome in outcomes):
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print(
        f"firstline demo: a verdict differs from the scenario; logs in {workdir}",
        file=sys.stderr,
    )
    return 1


@contextlib.contextmanager
def _database(scale: bool, workdir: Path, talk: TextIO) -> Iterator[str | None]:
    if not scale:
        yield None
        return
    from sandbox.postgres import LocalPostgres

    with LocalPostgres() as postgres:
        print(f"PostgreSQL {postgres.version} on 127.0.0.1:{postgres.port}", file=talk)
        yield postgres.sqlalchemy_url("prefect")


def _run_scenario(
    args: argparse.Namespace, workdir: Path, database_url: str | None, talk: TextIO
) -> list[IncidentOutcome]:
    server = PrefectServer(workdir / "server", database_url)
    # This process's own Prefect client (secrets, reads) talks to that server;
    # set before anything imports prefect.
    from firstline.demo.stack import client_environment

    (workdir / "client").mkdir()
    client_environment(server.api_url, workdir / "client")
    from firstline.demo.stack import DemoStack

    with DemoStack(workdir, server, runners=2 if args.scale else 1) as stack:
        stack.start(lambda line: print(line, file=talk, flush=True))
        first_sent = _send_alarms(stack, talk)
        _follow(stack, first_sent, args.timeout_seconds, talk)
        outcomes = _outcomes(stack, first_sent)

        if args.json:
            print(outcomes_as_json(outcomes), flush=True)
        else:
            print("\n" + render_table(outcomes))
        print(pager_summary(stack.opsgenie), file=talk)
        print(f"Slack: {len(stack.slack.messages)} message(s) in #ops", file=talk)
        print(f"Prefect UI: {server.url}/runs", file=talk, flush=True)
        if args.keep:
            print("everything stays up until Ctrl-C", file=talk, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    signal.pause()
    return outcomes


def _send_alarms(stack: Any, talk: TextIO) -> dict[str, datetime]:
    """Each instance's alarm through the relay handler; the storm's first, all
    deliveries of one event back to back. Returns each first delivery's time."""
    from deployments.alarm_events import cpu_alarm_event

    # The relay is the Lambda's code in infra/, not an installed package: import
    # it from the repository this package was installed from (editable install).
    repository = str(Path(__file__).resolve().parents[2])
    if repository not in sys.path:
        sys.path.append(repository)
    from infra.relay import handler as relay

    relay._relay_for.cache_clear()
    ordered = sorted(stack.instances.values(), key=lambda pair: not pair[0].storm)
    first_sent: dict[str, datetime] = {}
    for spec, instance in ordered:
        event = cpu_alarm_event(
            instance.instance_id, instance.region, stack.sandbox.account_id
        )
        first_sent[instance.instance_id] = datetime.now(UTC)
        for _ in range(spec.deliveries):
            decision = relay.handler(event, None)
            if decision["decision"] != "posted":
                print(
                    f"relay {decision['decision']} the alarm of {instance.instance_id}:"
                    f" {decision['reason']}",
                    file=talk,
                )
    deliveries = sum(spec.deliveries for spec, _ in ordered)
    print(
        f"sent {deliveries} EventBridge deliveries of {len(ordered)} alarms "
        "through the relay",
        file=talk,
        flush=True,
    )
    return first_sent


def _flow_runs(api_url: str) -> dict[str, list[Any]]:
    """The deployment's flow runs, by instance id."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        runs = client.read_flow_runs(limit=200)
    found: dict[str, list[Any]] = {}
    for flow_run in runs:
        instance_id = (flow_run.parameters or {}).get("instance_id")
        if isinstance(instance_id, str) and flow_run.deployment_id is not None:
            found.setdefault(instance_id, []).append(flow_run)
    return found


def _follow(
    stack: Any, first_sent: dict[str, datetime], timeout_seconds: float, talk: TextIO
) -> None:
    """Show each incident's state until every one has a verdict or time is up."""
    progress = Progress(talk)
    deadline = time.monotonic() + timeout_seconds
    while True:
        runs = _flow_runs(stack.server.api_url)
        lines = []
        for instance_id, (spec, _) in stack.instances.items():
            state, seconds = _state_of(
                runs.get(instance_id, []), first_sent[instance_id]
            )
            lines.append(
                IncidentLine(spec.name, instance_id, spec.region, state, seconds)
            )
        progress.show(lines)
        done = all(_is_final(runs.get(i, [])) for i in stack.instances)
        if done or time.monotonic() >= deadline:
            return
        time.sleep(POLL_INTERVAL_SECONDS)


def _is_final(runs: list[Any]) -> bool:
    return bool(runs) and all(
        run.state is not None and run.state.type.value in FINAL_STATE_TYPES
        for run in runs
    )


def _state_of(runs: list[Any], sent: datetime) -> tuple[str, float | None]:
    if not runs or runs[0].state is None:
        return "alarm sent", None
    flow_run = runs[0]
    if flow_run.state.type.value in FINAL_STATE_TYPES and flow_run.end_time:
        return flow_run.state.name, (flow_run.end_time - sent).total_seconds()
    return flow_run.state.name, (datetime.now(UTC) - sent).total_seconds()


def _outcomes(stack: Any, first_sent: dict[str, datetime]) -> list[IncidentOutcome]:
    runs = _flow_runs(stack.server.api_url)
    slack = slack_counts(stack.slack, stack.instances)
    pages = pager_counts(stack.opsgenie)
    outcomes = []
    for instance_id, (spec, _) in stack.instances.items():
        found = runs.get(instance_id, [])
        final = _is_final(found)
        verdict, seconds = _state_of(found, first_sent[instance_id])
        counts = pages.get(instance_id)
        outcomes.append(
            IncidentOutcome(
                instance_id=instance_id,
                name=spec.name,
                region=spec.region,
                expected_verdict=spec.expected.state_name,
                verdict=verdict if final else None,
                reboots=len(stack.sandbox.reboots(instance_id)),
                slack_messages=slack[instance_id],
                pages_opened=counts.opened if counts else 0,
                pages_retriggered=counts.retriggered if counts else 0,
                pages_closed=counts.closed if counts else 0,
                page_alias=counts.alias if counts else None,
                alarm_deliveries=spec.deliveries,
                flow_runs=len(found),
                seconds_to_verdict=seconds if final else None,
                flow_run_url=(
                    f"{stack.server.url}/runs/flow-run/{found[0].id}" if found else None
                ),
            )
        )
    return outcomes


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
