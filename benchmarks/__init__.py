"""nbparity benchmarks: speed and memory of both engines and of the toolkit (``make bench``).

Not timed tests: run ``python -m benchmarks`` (or ``make bench``); see benchmarks/README.md.
"""
