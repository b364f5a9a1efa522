"""docs/architecture.md stays true: every module and test its rule table names exists, and so does
every module its text names (a rename without updating the map fails here)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def table_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`") and cells[2].startswith("`"):
            rows.append((cells[0], cells[1].strip("`"), cells[2].strip("`")))
    return rows


def named_paths(text: str) -> set[str]:
    return set(
        re.findall(r"`((?:domain|application|projections|api|tests|migrations)/[\w/.]+)`", text)
    )


def test_the_rule_table_is_there() -> None:
    rules = {rule for rule, _, _ in table_rows()}
    for rule in ("price limit", "hold computation", "maker-checker", "hash chain", "refund shares"):
        assert any(r.startswith(rule) for r in rules), rule
    assert len(rules) >= 25


def test_every_module_and_test_of_the_rule_table_exists() -> None:
    missing = [
        (rule, path)
        for rule, module, test in table_rows()
        for path in (module, test)
        if not (ROOT / path).is_file()
    ]
    assert missing == []


def test_the_modules_of_the_rule_table_are_in_their_layers_and_tests_are_tests() -> None:
    for rule, module, test in table_rows():
        assert module.split("/")[0] in ("domain", "application", "projections", "api"), rule
        assert test.startswith("tests/"), rule
        assert Path(test).name.startswith("test_"), rule


def test_every_path_the_map_names_exists() -> None:
    paths = named_paths(DOC.read_text())
    assert len(paths) > 30
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []


def test_the_checks_see_a_missing_file() -> None:
    text = "| a rule | `domain/gone.py` | `tests/unit/test_gone.py` |"
    assert named_paths(text) == {"domain/gone.py", "tests/unit/test_gone.py"}
    assert not (ROOT / "domain/gone.py").exists()


def test_the_readme_links_the_map() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()


def test_the_decisions_index_lists_every_record() -> None:
    folder = ROOT / "docs" / "decisions"
    index = (folder / "README.md").read_text()
    records = sorted(p.name for p in folder.glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert records
    assert [r for r in records if f"({r})" not in index] == []
