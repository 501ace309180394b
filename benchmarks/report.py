"""The results of one benchmark run: one object per measure, as JSON and markdown.

A measure's ``figures`` are the numbers it measured (medians, percentiles,
ratios; names carry their unit), its ``target`` says what it should reach, and
``met`` whether it did: None when the measure could not be judged (it failed,
or ran at a size other than its target's).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class MeasureResult:
    """What one measure found."""

    key: str
    title: str
    target: str
    met: bool | None
    figures: dict[str, Any]
    summary: str
    """One line for the markdown table: the headline figures against the target."""
    run_seconds: float
    notes: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_mb: int
    load_average_at_start: tuple[float, float, float]
    python_version: str
    prefect_version: str
    platform: str


@dataclass(frozen=True)
class BenchmarkRun:
    started_at: str
    machine: Machine
    arguments: dict[str, Any]
    measures: list[MeasureResult] = field(default_factory=list)
    run_seconds: float = 0.0


def describe_machine() -> Machine:
    """Cores, memory and load of this machine, and the versions that matter."""
    import prefect

    page_size = os.sysconf("SC_PAGE_SIZE")
    pages = os.sysconf("SC_PHYS_PAGES")
    one, five, fifteen = os.getloadavg()
    return Machine(
        cores=os.cpu_count() or 0,
        memory_mb=page_size * pages // (1024 * 1024),
        load_average_at_start=(round(one, 2), round(five, 2), round(fifteen, 2)),
        python_version=platform.python_version(),
        prefect_version=prefect.__version__,
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_results(
    run: BenchmarkRun, directory: Path = RESULTS_DIR
) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "latest.json"
    markdown_path = directory / "latest.md"
    json_path.write_text(
        json.dumps(asdict(run), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    markdown_path.write_text(render_markdown(run), encoding="utf-8")
    return json_path, markdown_path


def read_results(path: Path) -> BenchmarkRun:
    """The run stored in a ``latest.json`` that ``write_results`` wrote."""
    document = json.loads(path.read_text(encoding="utf-8"))
    machine = document["machine"]
    return BenchmarkRun(
        started_at=document["started_at"],
        machine=Machine(
            **{
                **machine,
                "load_average_at_start": tuple(machine["load_average_at_start"]),
            }
        ),
        arguments=document["arguments"],
        measures=[
            MeasureResult(**{**measure, "notes": tuple(measure["notes"])})
            for measure in document["measures"]
        ],
        run_seconds=document["run_seconds"],
    )


def merge_runs(earlier: BenchmarkRun, later: BenchmarkRun) -> BenchmarkRun:
    """``earlier`` with ``later``'s measures in place of those with the same key.

    The header (start, machine, command, total time) stays the earlier run's;
    each measure taken from ``later`` gets a note naming its own run, so the
    table never passes it off as part of the earlier one.
    """
    load = ", ".join(f"{value:g}" for value in later.machine.load_average_at_start)
    provenance = (
        f"measured in a later run started {later.started_at} "
        f"(`python -m benchmarks {later.arguments.get('argv', '')}`, load average "
        f"{load} at its start), merged into this one"
    )
    newer = {
        measure.key: replace(measure, notes=(*measure.notes, provenance))
        for measure in later.measures
    }
    measures = [newer.pop(measure.key, measure) for measure in earlier.measures]
    return replace(earlier, measures=[*measures, *newer.values()])


def render_markdown(run: BenchmarkRun) -> str:
    machine = run.machine
    load = ", ".join(f"{value:g}" for value in machine.load_average_at_start)
    lines = [
        "# firstline benchmarks: latest run",
        "",
        f"Run {run.started_at}, {run.run_seconds:.0f} s in all, on {machine.cores} "
        f"cores and {machine.memory_mb / 1024:.1f} GiB of memory, load average "
        f"{load} (1, 5, 15 min) at the start; {machine.platform}; Python "
        f"{machine.python_version}, Prefect {machine.prefect_version}.",
        f"Command: `python -m benchmarks {run.arguments.get('argv', '')}`".rstrip(),
        "",
        "| # | measure | result | target | met | run time |",
        "|---|---|---|---|---|---|",
    ]
    for number, measure in enumerate(run.measures, start=1):
        lines.append(
            f"| {number} | {_cell(measure.title)} | {_cell(measure.summary)} | "
            f"{_cell(measure.target)} | {_met(measure.met)} | "
            f"{measure.run_seconds:.0f} s |"
        )
    notes = [
        (measure.title, note)
        for measure in run.measures
        for note in (
            *measure.notes,
            *((f"error: {measure.error}",) if measure.error else ()),
        )
    ]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {title}: {note}" for title, note in notes]
    lines += ["", "Every figure is in `latest.json` beside this file.", ""]
    return "\n".join(lines)


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not judged"}[met]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def python_command_line() -> str:
    return " ".join(sys.argv[1:])
