"""The ``firstline`` command: run the remediation flow by hand.

    firstline run INSTANCE_ID --region REGION [--fleet FILE] [--dry-run]
    firstline demo [--json] [--keep]

Exit status: 0 healthy, recovered or dry-run; 1 escalated or held (a person must
look); 2 not-checked, or a usage or configuration error. ``firstline demo`` exits as
``python -m firstline.demo`` does (0: every verdict as the scenario promises).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from firstline.errors import FirstlineError
from firstline.models import IncidentReport, Verdict

EXIT_CODES = {
    Verdict.HEALTHY: 0,
    Verdict.RECOVERED: 0,
    Verdict.DRY_RUN: 0,
    Verdict.DUPLICATE: 0,
    Verdict.ESCALATED: 1,
    Verdict.HELD: 1,
    Verdict.NOT_CHECKED: 2,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firstline", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="check one instance and remediate it")
    run.add_argument("instance_id", help="EC2 instance id, e.g. i-0123456789abcdef0")
    run.add_argument("--region", required=True, help="AWS region, e.g. eu-west-1")
    run.add_argument(
        "--fleet",
        default=os.environ.get("FIRSTLINE_FLEET_FILE"),
        help="fleet file (default: $FIRSTLINE_FLEET_FILE)",
    )
    run.add_argument("--dry-run", action="store_true", help="check, but change nothing")
    run.add_argument(
        "--credentials-block",
        default=None,
        help="name of a prefect-aws AwsCredentials block (default: boto3's chain)",
    )

    demo = commands.add_parser(
        "demo", help="run the local demo: sandbox, Prefect server, alarms, verdicts"
    )
    demo.add_argument("--json", action="store_true", help="print the outcome as JSON")
    demo.add_argument(
        "--keep", action="store_true", help="leave everything running until Ctrl-C"
    )
    return parser


def _demo(args: argparse.Namespace) -> int:
    from firstline.demo.run import main as demo_main

    return demo_main(
        [*(["--json"] if args.json else []), *(["--keep"] if args.keep else [])]
    )


def print_report(report: IncidentReport) -> None:
    from firstline.report import render_report

    print(render_report(report))


def _run(args: argparse.Namespace) -> int:
    from firstline.fleet import check_target, load_fleet
    from flows.remediate import remediate_instance

    # Refused before any run starts: a bad target or fleet file is a usage error.
    check_target(args.region, args.instance_id)
    if args.fleet:
        load_fleet(args.fleet)
    state = remediate_instance(
        instance_id=args.instance_id,
        region=args.region,
        fleet_file=args.fleet,
        dry_run=args.dry_run,
        credentials_block=args.credentials_block,
        return_state=True,
    )
    if not state.is_completed():
        print(
            f"firstline: the run ended {state.name}: {state.message}", file=sys.stderr
        )
        return 1 if state.is_failed() else 2
    report = state.result()
    assert isinstance(report, IncidentReport)
    print_report(report)
    print(f"verdict: {report.verdict.value} — {report.reason}")
    return EXIT_CODES[report.verdict]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "demo":
            return _demo(args)
    except FirstlineError as exc:
        print(f"firstline: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
