"""The benchmark suite of webchat-async: the SDK's cost against raw httpx and websockets.

Run it with ``python -m benchmarks`` (``--quick`` for a short pass, ``--only NAME`` for
one benchmark). Results go to ``benchmarks/results/latest.json`` and ``latest.md``.

Every benchmark talks to the simulator running in a separate process (see
:mod:`benchmarks._server`), so the CPU time of the client is its own. Each figure is a
median over several runs with its spread; each SDK/baseline ratio is taken pair by pair
within one run, the order alternating, so that the drift of a noisy machine cancels.
"""
