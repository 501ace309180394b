from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.runners import MemorySampler, RunnerProcess


def _sleeper(tmp_path: Path, name: str) -> RunnerProcess:
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        start_new_session=True,
    )
    return RunnerProcess(process, log)


class TestMemorySampler:
    def test_it_keeps_the_peak_of_the_sum_and_of_each_runner(
        self, tmp_path: Path
    ) -> None:
        runners = [_sleeper(tmp_path, "a"), _sleeper(tmp_path, "b")]
        sampler = MemorySampler(runners)
        try:
            sampler.start()
            deadline = time.monotonic() + 10.0
            while min(sampler.peak_bytes_each) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sampler.stop()
            for runner in runners:
                runner.stop()
        assert len(sampler.peak_bytes_each) == 2
        assert min(sampler.peak_bytes_each) > 0
        assert sampler.peak_bytes >= max(sampler.peak_bytes_each)

    def test_stopping_a_sampler_that_never_started_is_harmless(self) -> None:
        sampler = MemorySampler([])
        sampler.stop()
        assert sampler.peak_bytes == 0
