from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from benchmarks.report import (
    BenchmarkRun,
    Machine,
    MeasureResult,
    merge_runs,
    read_results,
    write_results,
)

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


class TestReadResults:
    def test_a_written_run_reads_back_equal(self, tmp_path: Path) -> None:
        json_path, _ = write_results(_run(), tmp_path)
        assert read_results(json_path) == _run()


class TestMergeRuns:
    def _later(self) -> BenchmarkRun:
        storm = MeasureResult(
            key="storm",
            title="5. alarm storm",
            target="1,000 alarms",
            met=None,
            figures={"measured_alarms": 100},
            summary="100 alarms",
            run_seconds=600.0,
            notes=("not judged",),
        )
        return BenchmarkRun(
            started_at="2026-02-01T00:00:00+00:00",
            machine=replace(MACHINE, load_average_at_start=(3.0, 2.0, 1.0)),
            arguments={"argv": "--only storm --merge"},
            measures=[storm],
            run_seconds=600.0,
        )

    def test_a_later_measure_replaces_the_one_with_its_key_and_keeps_the_others(
        self,
    ) -> None:
        merged = merge_runs(_run(), self._later())
        assert [m.key for m in merged.measures] == ["check_pass", "storm"]
        assert merged.measures[0] == _run().measures[0]
        assert merged.measures[1].figures == {"measured_alarms": 100}
        assert merged.measures[1].error is None

    def test_a_merged_measure_says_which_run_it_came_from(self) -> None:
        merged = merge_runs(_run(), self._later())
        notes = merged.measures[1].notes
        assert notes[0] == "not judged"
        assert "2026-02-01T00:00:00+00:00" in notes[1]
        assert "--only storm --merge" in notes[1]
        assert "load average 3, 2, 1" in notes[1]

    def test_the_header_stays_the_earlier_runs(self) -> None:
        merged = merge_runs(_run(), self._later())
        assert merged.started_at == _run().started_at
        assert merged.arguments == _run().arguments
        assert merged.run_seconds == 13.0

    def test_a_measure_the_earlier_run_lacked_is_appended(self) -> None:
        earlier = replace(_run(), measures=_run().measures[:1])
        merged = merge_runs(earlier, self._later())
        assert [m.key for m in merged.measures] == ["check_pass", "storm"]

    def test_a_merged_file_renders_from_the_merged_json(self, tmp_path: Path) -> None:
        write_results(_run(), tmp_path)
        earlier = read_results(tmp_path / "latest.json")
        _, markdown_path = write_results(merge_runs(earlier, self._later()), tmp_path)
        text = markdown_path.read_text()
        assert "550 ms \\| fast" in text
        assert "100 alarms" in text
        assert "error: RuntimeError: boom" not in text
