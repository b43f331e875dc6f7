"""nbparity: align, compare and gate traces of two nanoBragg engines (C reference and torch).

Library modules (every command of the CLI is also a function here):
``schema`` (the trace contract's key catalogue), ``parse`` (trace readers), ``cases`` (named
cases). The command line lives in ``nbparity.cli``.
"""

__version__ = "0.1.0"
