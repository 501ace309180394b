from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import BenchmarkRun, Machine, MeasureResult, write_results

MACHINE = Machine(
    cores=2,
    memory_mb=24_000,
    load_average_at_start=(1.5, 2.0, 2.25),
    python_version="3.11.7",
    prefect_version="3.9.1",
    platform="Linux x86_64",
)


def _run() -> BenchmarkRun:
    return BenchmarkRun(
        started_at="2026-01-01T00:00:00+00:00",
        machine=MACHINE,
        arguments={"argv": "--measures 2"},
        measures=[
            MeasureResult(
                key="check_pass",
                title="2. one pass of three checks",
                target="within 100 ms of the slowest check",
                met=True,
                figures={"first_pass_seconds": 0.55},
                summary="550 ms | fast",
                run_seconds=12.0,
                notes=("medians",),
            ),
            MeasureResult(
                key="storm",
                title="5. alarm storm",
                target="",
                met=None,
                figures={},
                summary="failed",
                run_seconds=1.0,
                error="RuntimeError: boom",
            ),
        ],
        run_seconds=13.0,
    )


class TestWriteResults:
    def test_the_json_holds_one_object_per_measure_with_target_and_verdict(
        self, tmp_path: Path
    ) -> None:
        json_path, _ = write_results(_run(), tmp_path)
        document = json.loads(json_path.read_text())
        assert [m["key"] for m in document["measures"]] == ["check_pass", "storm"]
        first = document["measures"][0]
        assert first["figures"] == {"first_pass_seconds": 0.55}
        assert first["target"] == "within 100 ms of the slowest check"
        assert first["met"] is True
        assert document["measures"][1]["met"] is None
        assert document["machine"]["cores"] == 2

    def test_the_markdown_describes_the_machine_and_escapes_table_cells(
        self, tmp_path: Path
    ) -> None:
        _, markdown_path = write_results(_run(), tmp_path)
        text = markdown_path.read_text()
        assert "2 cores" in text
        assert "load average 1.5, 2, 2.25" in text
        assert "Python 3.11.7, Prefect 3.9.1" in text
        assert "550 ms \\| fast" in text
        assert "| not judged |" in text
        assert "error: RuntimeError: boom" in text
