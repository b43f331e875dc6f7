"""The torch engine's trace key table follows the contract's catalogue, key for key."""

from nbparity.schema import CATALOGUE
from simulator.trace import TRACE_KEYS


def test_trace_key_table_is_the_catalogue_in_order():
    assert [key for key, _, _ in TRACE_KEYS] == [key.name for key in CATALOGUE]


def test_trace_key_sections_are_the_catalogue_stages():
    stages = {key.name: key.stage for key in CATALOGUE}
    wrong = [(key, section) for key, section, _ in TRACE_KEYS if stages[key] != section]
    assert not wrong


def test_integer_keys_print_as_integers():
    # the catalogue's int keys must not print as reals (N_cells is the one real printed as a
    # count: a tensor that may carry a gradient, whole numbers on the command line)
    kinds = {key.name: key.kind for key in CATALOGUE}
    formats = {key: fmt for key, _, fmt in TRACE_KEYS}
    assert all(formats[k] == "int" for k, kind in kinds.items() if kind == "int")
    assert {k for k, f in formats.items() if f == "int" and kinds[k] != "int"} == {"N_cells"}
