"""Live progress: one line per incident, rewritten in place on a terminal.

Elsewhere (a pipe, a log file, CI) a line is printed each time an incident's
state changes, so the output reads as a log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class IncidentLine:
    name: str
    instance_id: str
    region: str
    state: str
    seconds: float | None

    def render(self) -> str:
        elapsed = "" if self.seconds is None else f"{self.seconds:6.1f} s"
        return (
            f"{self.name:<9} {self.instance_id:<20} {self.region:<15} "
            f"{self.state:<14} {elapsed}"
        )


class Progress:
    """Shows the incidents' lines on ``stream``."""

    def __init__(self, stream: TextIO, *, in_place: bool | None = None) -> None:
        self._stream = stream
        self._in_place = stream.isatty() if in_place is None else in_place
        self._shown = 0
        self._last: dict[str, str] = {}

    def show(self, lines: Sequence[IncidentLine]) -> None:
        if self._in_place:
            self._rewrite(lines)
        else:
            self._append_changes(lines)
        self._stream.flush()

    def _rewrite(self, lines: Sequence[IncidentLine]) -> None:
        if self._shown:
            # Back to the first line of the block, then rewrite each line whole.
            self._stream.write(f"\x1b[{self._shown}F")
        for line in lines:
            self._stream.write("\x1b[2K" + line.render() + "\n")
        self._shown = len(lines)

    def _append_changes(self, lines: Sequence[IncidentLine]) -> None:
        for line in lines:
            if self._last.get(line.instance_id) != line.state:
                self._last[line.instance_id] = line.state
                self._stream.write(line.render().rstrip() + "\n")
