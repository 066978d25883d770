"""tests/mutations.txt stays plantable: every entry's line is in the code once, and its test exists.
(Whether each planted bug is caught is for tests/replay_mutations.py, which runs the suite per entry.)"""

from __future__ import annotations

import ast

from tests.helpers import REPO
from tests.replay_mutations import read_entries


def test_every_mutation_names_a_line_of_the_code_and_a_test_of_the_suite():
    entries = read_entries(REPO / "tests" / "mutations.txt")
    assert len(entries) >= 14 and len({entry["id"] for entry in entries}) == len(entries)
    for entry in entries:
        assert set(entry) == {"id", "file", "original", "mutated", "test"}, entry
        lines = [line.strip() for line in (REPO / entry["file"]).read_text().splitlines()]
        assert lines.count(entry["original"]) == 1, entry["id"]
        assert entry["mutated"] != entry["original"], entry["id"]
        path, function = entry["test"].split("::")
        tree = ast.parse((REPO / path).read_text())
        assert function in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}, entry["id"]
