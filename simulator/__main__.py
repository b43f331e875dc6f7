"""Allow ``python -m simulator``."""

from simulator.cli import console_main

if __name__ == "__main__":
    console_main()
