from __future__ import annotations

import pytest

from benchmarks.stats import median, percentile


class TestStats:
    def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(self) -> None:
        assert median([4.0, 1.0, 3.0, 2.0]) == 2.5

    def test_the_nearest_rank_p95_of_twenty_samples_is_the_nineteenth(self) -> None:
        samples = [float(n) for n in range(1, 21)]
        assert percentile(samples, 95) == 19.0
        assert percentile(samples, 50) == 10.0

    def test_no_samples_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="no sample"):
            percentile([], 50)
