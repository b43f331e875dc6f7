"""Exit codes of the trace contract, shared by every command that compares."""

PARITY = 0  # all records within tolerance
DIVERGED = 1  # values diverge
USAGE = 2  # usage error, unreadable or malformed input (message names file:line)
STRUCTURAL = 3  # different pixels, nothing comparable, duplicates (or a missing key with --strict)
ENGINE_FAILED = 4  # an engine failed to run: missing binary, crash, time-out
