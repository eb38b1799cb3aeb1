"""The segmentation wing's floors: what a package may import of another, as README's Layout says."""

import ast
from pathlib import Path

import segmentation

PACKAGE = Path(segmentation.__file__).parent
CLASSIFICATION_INTERNALS = ("segmentation.classification.compute", "segmentation.classification.models")
GROUND_FLOOR = ("company", "orderdays", "money.py", "types.py", "db.py")


def imported(path: Path) -> set[str]:
    """Every module `path` imports, with `from x import y` counted as both x and x.y (y may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def modules(*, outside: str = "", inside: tuple[str, ...] = ()) -> list[Path]:
    every = sorted(PACKAGE.rglob("*.py"))
    if inside:
        return [p for p in every if p.relative_to(PACKAGE).parts[0] in inside]
    return [p for p in every if p.relative_to(PACKAGE).parts[0] != outside]


def test_nothing_outside_classification_imports_its_internals() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in imported(path) if m.startswith(CLASSIFICATION_INTERNALS))
        for path in modules(outside="classification")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_ground_floor_imports_no_domain_package() -> None:
    domain = ("classification", "customers", "orders", "invoices", "interactions", "imports", "predictive")
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in imported(path) if any(m.startswith(f"segmentation.{d}") for d in domain)
        )
        for path in modules(inside=GROUND_FLOOR)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checks_see_the_modules() -> None:
    assert len(modules(inside=GROUND_FLOOR)) >= 8, "company/, orderdays/ and the ground-floor modules were found"
    assert "segmentation.company.schemas" in imported(PACKAGE / "money.py")
