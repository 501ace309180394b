from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import _chosen, main


class TestChosen:
    def test_measures_are_named_by_key_or_number(self) -> None:
        assert _chosen("storm") == {5}
        assert _chosen("check_pass, 3") == {2, 3}

    def test_an_unknown_name_or_number_is_refused(self) -> None:
        assert _chosen("storm,latency") is None
        assert _chosen("6") is None


class TestMain:
    def test_merge_without_an_earlier_file_stops_before_measuring(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["--only", "storm", "--merge", "--out", str(tmp_path)]) == 2
        assert "nothing to merge into" in capsys.readouterr().err
        assert not (tmp_path / "latest.json").exists()

    def test_an_unknown_measure_stops_before_measuring(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["--only", "storms", "--out", str(tmp_path)]) == 2
        assert "pick measures from" in capsys.readouterr().err
