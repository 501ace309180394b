"""firstline's benchmarks: ``python -m benchmarks`` (``make bench``).

Each measure runs on the sandbox and writes one object into
``benchmarks/results/latest.json`` and one row into ``latest.md``. The Step
Functions design firstline replaces is modelled in ``benchmarks.baseline``,
for these comparisons only.
"""
