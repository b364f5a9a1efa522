"""Issue 8: no module of the four layers grows past 500 lines. A module that does is holding more
than one responsibility; split it (projections/queries.py became queries, positions and reports)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "projections", "api")
LIMIT = 500


def modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def too_long(paths: list[Path], limit: int = LIMIT) -> dict[str, int]:
    sizes = {
        p.name if not p.is_relative_to(ROOT) else str(p.relative_to(ROOT)): len(
            p.read_text().splitlines()
        )
        for p in paths
    }
    return {name: n for name, n in sizes.items() if n > limit}


def test_every_layer_has_modules_to_check() -> None:
    # A moved or renamed package would otherwise make the size check pass on nothing.
    for layer in LAYERS:
        assert list((ROOT / layer).rglob("*.py")), layer


def test_no_module_of_the_layers_is_over_500_lines() -> None:
    assert too_long(modules()) == {}


@pytest.mark.parametrize(("lines", "over"), [(LIMIT, False), (LIMIT + 1, True)])
def test_the_check_fails_on_a_module_one_line_too_long(
    tmp_path: Path, lines: int, over: bool
) -> None:
    module = tmp_path / "big.py"
    module.write_text("x = 1\n" * lines)
    assert bool(too_long([module])) is over
