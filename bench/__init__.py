"""pairsearch benchmarks: ``python -m bench [--quick] [--only NAME[,NAME]]``.

Every figure is a ratio (or a rate) measured in one run of this package, through the same
code paths a user runs (``pairsearch tune``, ``final-run``, the budget loop), and is written
to ``bench/results/latest.json`` and as one dated row of ``bench/RESULTS.md``.

This module imports nothing heavy: worker processes that multiprocessing spawns import it.
"""
