"""What every solve benchmark's row reports: how many runs, how many solved, and their time."""

from __future__ import annotations


class SolveCounts:
    """Rate and mean time of a row with `n`, `solved` and `seconds` (mixed into the benchmarks' rows)."""

    n: int
    solved: int
    seconds: list[float]

    @property
    def rate(self) -> float:
        return self.solved / self.n if self.n else 0.0

    @property
    def mean_seconds(self) -> float:
        return sum(self.seconds) / len(self.seconds) if self.seconds else 0.0
