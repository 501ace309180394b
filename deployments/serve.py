"""Apply ``remediate-instance/on-alarm`` and its trigger, and serve it.

    python -m deployments.serve [--fleet FILE] [--mode fast|process] [--no-apply]
        [--concurrency N] [--poll-interval-seconds S] [--shutdown-grace-seconds S]

against the Prefect server in ``PREFECT_API_URL``. ``--mode fast`` (the default)
runs each flow run in a thread of this process (``deployments.fast_runner``);
``--mode process`` is Prefect's own ``flow.serve``, one process per run, polling
every ``PREFECT_RUNNER_POLL_FREQUENCY`` seconds (10 unless set). With
``--no-apply`` a fast runner serves the deployment as it is on the server: start
one runner that applies and any number that do not.

The first line on standard output says the runner is serving. SIGTERM or Ctrl-C
stops claiming runs and waits for those in flight; a second one stops waiting.
Exit status: 0 after a clean stop, 1 if the Prefect API could not be reached to
apply or read the deployment, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from uuid import UUID

import httpx

from firstline.errors import ConfigError, FirstlineError

logger = logging.getLogger("firstline.deployments.serve")

MODES = ("fast", "process")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deployments.serve",
        description="Apply remediate-instance/on-alarm with its trigger and serve it.",
    )
    parser.add_argument(
        "--fleet",
        default=os.environ.get("FIRSTLINE_FLEET_FILE"),
        help="fleet file for every run (default: $FIRSTLINE_FLEET_FILE)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="fast",
        help="fast: runs in threads of this process (default); process: flow.serve",
    )
    parser.add_argument(
        "--no-apply",
        action="store_true",
        help="serve the deployment already on the server (fast mode only)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="runs at once")
    parser.add_argument(
        "--poll-interval-seconds",
        type=float,
        default=0.25,
        help="fast mode: how often to look for scheduled runs (default 0.25)",
    )
    parser.add_argument(
        "--shutdown-grace-seconds",
        type=float,
        default=60.0,
        help="fast mode: how long a stop waits for runs in flight (default 60)",
    )
    parser.add_argument(
        "--prefect-file",
        type=Path,
        default=None,
        help="the prefect.yaml to read (default: the one beside this module)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One INFO line per API request or AWS client would bury the runner's lines.
    for chatty in ("httpx", "botocore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        _check_environment(args)
        if args.mode == "process":
            _serve_in_processes(args)
        else:
            _serve_in_threads(args)
    except FirstlineError as exc:
        print(f"deployments.serve: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(
            "deployments.serve: the Prefect API in PREFECT_API_URL "
            f"({os.environ['PREFECT_API_URL']}) failed: {exc}; check that the server "
            "is running and reachable",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_environment(args: argparse.Namespace) -> None:
    from firstline.fleet import load_fleet

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "PREFECT_API_URL is not set; set it to the server's API, e.g. "
            "http://127.0.0.1:4200/api (start one with `prefect server start`)"
        )
    if args.no_apply and args.mode != "fast":
        raise ConfigError("--no-apply needs --mode fast; flow.serve always applies")
    if args.fleet:
        fleet_file = Path(args.fleet).resolve()
        load_fleet(str(fleet_file))
        # Every run, in this process or a child, reads the fleet file from here.
        os.environ["FIRSTLINE_FLEET_FILE"] = str(fleet_file)


def _serve_in_threads(args: argparse.Namespace) -> None:
    from deployments.fast_runner import FastRunner, FastRunnerSettings
    from deployments.spec import PREFECT_FILE, apply_deployment, load_spec
    from flows.remediate import remediate_instance

    settings = FastRunnerSettings(
        concurrency=args.concurrency,
        poll_interval_seconds=args.poll_interval_seconds,
        shutdown_grace_seconds=args.shutdown_grace_seconds,
    )
    spec = load_spec(args.prefect_file or PREFECT_FILE)
    if args.no_apply:
        deployment_id = _existing_deployment_id(remediate_instance.name, spec.name)
    else:
        deployment_id = apply_deployment(remediate_instance, spec)
    runner = FastRunner(remediate_instance, deployment_id, settings)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("received signal %d; stopping the fast runner", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(
        f"serving {remediate_instance.name}/{spec.name} (deployment "
        f"{deployment_id}) in fast mode as {runner.name}: up to "
        f"{settings.concurrency} runs at once, polling every "
        f"{settings.poll_interval_seconds:g} s",
        flush=True,
    )
    abandoned = runner.serve()
    if abandoned:
        logger.warning(
            "%d runs were reported Crashed; ending the process now, before their "
            "threads change their state again",
            abandoned,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _serve_in_processes(args: argparse.Namespace) -> None:
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from deployments.spec import PREFECT_FILE, load_spec
    from flows.remediate import remediate_instance

    # What flow.serve does, with the starting line printed once the deployment
    # and its trigger are applied.
    spec = load_spec(args.prefect_file or PREFECT_FILE)
    runner = Runner(name=spec.name, pause_on_shutdown=False, limit=args.concurrency)
    deployment_id = runner.add_flow(
        remediate_instance,
        name=spec.name,
        description=spec.description or None,
        tags=list(spec.tags),
        parameters=dict(spec.parameters),
        triggers=spec.triggers(),
    )
    print(
        f"serving {remediate_instance.name}/{spec.name} (deployment {deployment_id}) "
        f"with Prefect's Runner: one process per run, up to {args.concurrency} at "
        "once, polling every PREFECT_RUNNER_POLL_FREQUENCY seconds",
        flush=True,
    )
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        logger.info("%s: Prefect's Runner stopped", type(exc).__name__)


def _existing_deployment_id(flow_name: str, deployment_name: str) -> UUID:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(
                f"{flow_name}/{deployment_name}"
            )
        except ObjectNotFound as exc:
            raise ConfigError(
                f"the server has no deployment {flow_name}/{deployment_name}; start "
                "one runner without --no-apply, or run `prefect deploy`"
            ) from exc
    return deployment.id


if __name__ == "__main__":
    sys.exit(main())
