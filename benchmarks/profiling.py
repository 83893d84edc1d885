"""Peak memory that torch tensors take while a piece of code runs, from the profiler's allocation records."""

from __future__ import annotations

from collections.abc import Callable

from torch.profiler import ProfilerActivity, profile


def peak_allocated_bytes(run: Callable[[], object]) -> int:
    """Return the peak of the bytes allocated by tensors during ``run()`` on the CPU.

    The profiler records every allocation and release (``profile_memory=True``); the running sum of those
    records, in time order, peaks at the returned value. Tensors that exist before ``run`` starts are not
    counted, and allocator caches and fragmentation are not seen, so equal code gives equal numbers on every
    run, unlike the resident set size of the process.
    """
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    records = [event for event in prof.profiler.kineto_results.events() if event.name() == "[memory]"]
    records.sort(key=lambda event: event.start_ns())
    current = peak = 0
    for event in records:
        current += event.nbytes()
        peak = max(peak, current)
    return peak
