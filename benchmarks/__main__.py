"""``python -m benchmarks``: run the measures and write benchmarks/results/.

    python -m benchmarks [--measures 1,2,3,4,5 | --only storm,...] [--merge]
        [--repetitions N] [--alarms N] [--boot-seconds 30,60,...]
        [--time-scale X] [--storm-alarms N] [--out DIR]

The defaults fit ``make bench`` in under 15 minutes on a 2-core machine. A
measure that fails is recorded with its error and the others still run; the
exit status is 1 if any measure failed or missed its target, else 0.
``--merge`` puts the measures of this run into the ``latest.json`` already in
``--out`` in place of their earlier results, keeps the others, and rewrites
``latest.md`` from the merged file.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.environment import make_workdir, prefect_server, prepare_process
from benchmarks.report import (
    RESULTS_DIR,
    BenchmarkRun,
    MeasureResult,
    describe_machine,
    merge_runs,
    now_iso,
    python_command_line,
    read_results,
    write_results,
)

logger = logging.getLogger("benchmarks")

TITLES = {
    1: "1. alarm to first check",
    2: "2. one pass of three checks",
    3: "3. time to verdict after a reboot",
    4: "4. orchestration overhead per incident",
    5: "5. alarm storm",
}
# Each measure's key in latest.json; also a name for it in --only.
KEYS = {
    1: "alarm_latency",
    2: "check_pass",
    3: "reboot_verdict",
    4: "overhead",
    5: "storm",
}
# The order they run in: the cheap, most-needed ones first.
ORDER = (2, 3, 4, 1, 5)
# Measures 1-4 share one SQLite Prefect server; measure 5 starts its own.
SHARED_SERVER = {1, 2, 3, 4}


def _numbers(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run firstline's benchmarks."
    )
    parser.add_argument(
        "--measures",
        default="1,2,3,4,5",
        help="which measures to run, by number (default: all, 1,2,3,4,5)",
    )
    parser.add_argument(
        "--only",
        help="which measures to run, by key or number (storm,1); overrides --measures",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="merge these measures into the latest.json already in --out",
    )
    parser.add_argument(
        "--repetitions", type=int, default=8, help="passes per case (measures 2, 4)"
    )
    parser.add_argument(
        "--alarms", type=int, default=50, help="alarms for measure 1 (default 50)"
    )
    parser.add_argument(
        "--boot-seconds",
        default="30,60,120,180,300",
        help="measure 3's boot times in sandbox seconds",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.1,
        help="measure 3: real seconds per sandbox second (default 0.1)",
    )
    parser.add_argument(
        "--storm-alarms",
        type=int,
        default=1000,
        help="measure 5: alarms in the storm (default 1000; the target's count)",
    )
    parser.add_argument(
        "--storm-regions", type=int, default=10, help="measure 5: regions (10)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="where latest.json/.md go"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # One INFO line per check and per request would bury the progress lines.
    for noisy in ("firstline", "httpx", "sandbox", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    chosen = _chosen(args.only or args.measures)
    if chosen is None:
        names = ", ".join(f"{n} ({key})" for n, key in KEYS.items())
        print(f"benchmarks: pick measures from {names}", file=sys.stderr)
        return 2
    earlier = None
    if args.merge:
        if not (args.out / "latest.json").exists():
            print(
                f"benchmarks: nothing to merge into: no {args.out / 'latest.json'}; "
                "run without --merge first",
                file=sys.stderr,
            )
            return 2
        earlier = read_results(args.out / "latest.json")

    workdir = make_workdir()
    prepare_process(workdir)
    run = BenchmarkRun(
        started_at=now_iso(),
        machine=describe_machine(),
        arguments={"argv": python_command_line(), **_plain(vars(args))},
    )
    started = time.monotonic()
    measures = _measures(args, workdir)
    with ExitStack() as stack:
        server = None
        order = [n for n in ORDER if n in chosen]
        for index, number in enumerate(order):
            if number in SHARED_SERVER and server is None:
                logger.info("starting a Prefect server (SQLite) for measures 1-4")
                server = stack.enter_context(prefect_server(workdir / "server"))
            run.measures.append(_run_one(number, partial(measures[number], server)))
            # Written after every measure, so an interrupted run keeps what it has.
            _write(run, started, args.out, earlier)
            if server is not None and not SHARED_SERVER & set(order[index + 1 :]):
                # The storm starts servers of its own; an idle one left running
                # took 7 % of a core from it.
                logger.info("stopping the Prefect server of measures 1-4")
                stack.close()
                server = None
    json_path, markdown_path = _write(run, started, args.out, earlier)
    print(markdown_path.read_text(encoding="utf-8"))
    print(f"results: {json_path} and {markdown_path}")
    failed = [m for m in run.measures if m.error is not None or m.met is False]
    return 1 if failed else 0


def _chosen(text: str) -> set[int] | None:
    """The measure numbers named in ``text`` (numbers or keys), None if any is
    unknown."""
    numbers = {key: number for number, key in KEYS.items()}
    chosen = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        number = numbers.get(part) or (int(part) if part.isdigit() else None)
        if number not in TITLES:
            return None
        chosen.add(number)
    return chosen


def _measures(
    args: argparse.Namespace, workdir: Path
) -> dict[int, Callable[[Any], MeasureResult]]:
    from benchmarks.alarm_latency import measure_alarm_latency
    from benchmarks.check_pass import measure_check_pass
    from benchmarks.overhead import measure_overhead
    from benchmarks.reboot_verdict import measure_reboot_verdict
    from benchmarks.storm import measure_storm

    return {
        1: lambda server: measure_alarm_latency(server, args.alarms, workdir / "m1"),
        2: lambda server: measure_check_pass(args.repetitions),
        3: lambda server: measure_reboot_verdict(
            _numbers(args.boot_seconds), args.time_scale, workdir / "m3"
        ),
        4: lambda server: measure_overhead(args.repetitions, workdir / "m4"),
        5: lambda server: measure_storm(
            args.storm_alarms, args.storm_regions, workdir / "m5"
        ),
    }


def _run_one(number: int, measure: Callable[[], MeasureResult]) -> MeasureResult:
    logger.info("measure %s: starting", TITLES[number])
    started = time.monotonic()
    try:
        result = measure()
    except Exception as exc:
        logger.exception("measure %s failed", TITLES[number])
        return MeasureResult(
            key=KEYS[number],
            title=TITLES[number],
            target="",
            met=None,
            figures={},
            summary="failed; see the error note",
            run_seconds=time.monotonic() - started,
            error="".join(traceback.format_exception_only(exc)).strip(),
        )
    logger.info(
        "measure %s: %s (%.0f s)", TITLES[number], result.summary, result.run_seconds
    )
    return result


def _write(
    run: BenchmarkRun, started: float, out: Path, earlier: BenchmarkRun | None
) -> tuple[Path, Path]:
    finished = BenchmarkRun(
        started_at=run.started_at,
        machine=run.machine,
        arguments=run.arguments,
        measures=run.measures,
        run_seconds=time.monotonic() - started,
    )
    if earlier is not None:
        finished = merge_runs(earlier, finished)
    return write_results(finished, out)


def _plain(values: dict[str, object]) -> dict[str, object]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main())
