"""Alignment of two logs under the trace contract's tolerance model (``nbparity.tolerance``).

``compare_logs(reference, candidate, tolerance)`` joins two parsed logs record by record and
returns a ``Comparison``: one row per record (a key at a pixel and loop indices; the components
of a vector form one record) with the reference value, the candidate value, abs and rel error,
and a status:

- ``pass`` / ``fail``: the contract's test, scalar ``|x - r| <= atol + rtol |r|``, vector
  ``||x - r|| <= atol + rtol ||r||``; integers and words compare exactly;
- ``precision-limited``: a log printed fewer digits than the tolerance needs, and the values
  agree within what was printed (half a unit in the last printed digit of each side, as the
  reader inferred each log's precision) and within ``PRECISION_LIMITED_MAX_REL``;
- ``both-nan``: NaN on both sides (a failure unless ``nan_equal``); numbers only: words
  (``MOSFLM``, ``CUSTOM``) compare as text, equal or not, whatever ``nan_equal`` says;
- ``ambiguous``: the values agree, but a log printed the record more than once with
  different values (its first is compared); not a failure, never a plain pass;
- ``missing-candidate`` / ``missing-reference``: the record is on one side only;
- ``not-comparable``: a stock printout's last-iteration values, where the candidate's trace
  cannot say which step was last (several sub-pixels, sources or layers).

The reference is the C log (``r``), the candidate the other (``x``). Records are joined and put
in pipeline order through one packed int64 key per record (pixel, stage rank, loop indices, key
rank; see ``_align``), with no pandas merge or sort. A record that one log holds twice after
alignment (only a last-iteration record mapped onto a step that log also holds can be) is a
structural mismatch.

Size: the logs are read column by column where they are (a contract log's compact records,
``nbparity.parse.columns._StepRecords``, are never made a frame), the statuses are computed a
block of records at a time, and the comparison keeps per record only its row in each log, its
key and stage codes, its status and its relative error. ``Comparison.records`` (one row per record,
all columns) is built when first asked for; ``failed``, ``missing``, ``worst()``,
``incomplete``, the counts and ``select`` build only the rows they return.

Modules: ``align`` (the join and pipeline order), ``statuses`` (the tolerance model applied,
record by record), ``comparison`` (``Comparison``, ``compare_logs``).
"""
from nbparity.compare.align import RECORD_COLUMNS, StructuralMismatch
from nbparity.compare.comparison import Comparison, compare_logs, values
from nbparity.compare.statuses import STATUSES

__all__ = ["RECORD_COLUMNS", "STATUSES", "Comparison", "StructuralMismatch", "compare_logs",
           "values"]
