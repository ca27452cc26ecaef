"""A run's duration and last update, from its records (the runs tables of the UI and of
``flightlog ls``)."""

from __future__ import annotations

from .state import RunState


def run_times(state: RunState) -> tuple[float | None, float | None]:
    """(duration in seconds, last update as epoch seconds): the last update is the run's
    finish, else the time of its last history row, else its creation."""
    last: float | None = state.finished_at
    if last is None and state.chunks:
        last = float(state.chunks[-1].times[-1])
    if last is None:
        last = state.created
    if state.created is None or last is None:
        return None, last
    return max(0.0, last - state.created), last
