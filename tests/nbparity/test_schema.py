"""The schema module is the contract's key catalogue, key for key.

The contract is docs/design/trace-contract.md (a copy of the team's design note).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbparity import schema

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "design" / "trace-contract.md"


def _contract_rows() -> list[tuple[str, str, int, str]]:
    """(name, stage, arity, kind) for every key of the contract's tables, in document order."""
    rows = []
    stage = None
    for line in CONTRACT.read_text().splitlines():
        heading = re.match(r"^Stage `(\w+)`", line)
        if heading:
            stage = heading.group(1)
            continue
        if line.startswith("## ") and stage is not None and "catalogue" not in line:
            stage = None
        if stage is None or not line.startswith("| ") or line.startswith("| key") \
                or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = [n.strip() for n in cells[0].split(",")]
        count = cells[1]
        arity_match = re.match(r"^(\d+)", count)
        arity = int(arity_match.group(1)) if arity_match else 1
        kind = "word" if count.startswith("word") else ("int" if "int" in count else "real")
        for name in names:
            rows.append((name, stage, arity, kind))
    return rows


def test_contract_document_is_in_the_repository():
    assert CONTRACT.is_file()
    assert len(_contract_rows()) > 40


def test_catalogue_matches_contract_key_for_key():
    expected = _contract_rows()
    actual = [(k.name, k.stage, k.arity, k.kind) for k in schema.CATALOGUE]
    assert actual == expected


def test_names_are_unique():
    names = [k.name for k in schema.CATALOGUE]
    assert len(names) == len(set(names))


def test_stages_appear_in_pipeline_order_and_contiguously():
    ranks = [schema.stage_rank(k.stage) for k in schema.CATALOGUE]
    assert ranks == sorted(ranks)
    assert {k.stage for k in schema.CATALOGUE} == set(schema.STAGES)


def test_order_is_position_and_key_rank_agrees():
    for position, key in enumerate(schema.CATALOGUE):
        assert key.order == position
        assert schema.key_rank(key.name) == position
    assert schema.key_rank("not_a_contract_key") == len(schema.CATALOGUE)


@pytest.mark.parametrize("key", schema.CATALOGUE, ids=lambda k: k.name)
def test_arity_and_kind_are_valid(key):
    assert key.arity in (1, 2, 3)
    assert key.kind in schema.KINDS
    assert key.stage in schema.STAGES
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.name)


def test_meta_stage_comes_first_and_starts_with_trace_pixel():
    assert schema.CATALOGUE[0].name == "trace_pixel"
    assert schema.CATALOGUE[0].arity == 2 and schema.CATALOGUE[0].kind == "int"


def test_only_phi_stage_keys_are_step_lines():
    steps = {k.name for k in schema.CATALOGUE if k.is_step}
    assert steps == {k.name for k in schema.keys_in_stage("phi")}
    assert "I_term" in steps and "I_pixel_final" not in steps


def test_vectors_have_three_components():
    for name in ("fdet_vec", "pix0_vector_meters", "rot_a_angstroms", "scattering_vec_A_inv"):
        assert schema.by_name(name).is_vector
    assert not schema.by_name("hkl_rounded").is_vector  # integers compare exactly


def test_unknown_key_and_stage_are_rejected():
    with pytest.raises(KeyError):
        schema.by_name("F_lattice")
    with pytest.raises(ValueError):
        schema.keys_in_stage("postprocess")


def test_dependency_graph_names_catalogue_keys_in_pipeline_order():
    """Every key of the graph and every input is a catalogue key, and inputs come before the
    key they feed (the graph is acyclic and agrees with the catalogue's causal order)."""
    for key, inputs in schema.INPUTS.items():
        assert schema.is_known(key), key
        for parent in inputs:
            assert schema.is_known(parent), (key, parent)
            assert schema.key_rank(parent) < schema.key_rank(key), (key, parent)
    assert "rot_a_angstroms" in schema.ancestors("I_pixel_final")
    assert "pix0_vector_meters" in schema.ancestors("hkl_frac")
    assert schema.ancestors("fdet_vec") == frozenset()


def test_contract_documents_the_dependency_graph():
    text = CONTRACT.read_text()
    for key, inputs in schema.INPUTS.items():
        assert f"| {key} | {', '.join(inputs)} |" in text, key
