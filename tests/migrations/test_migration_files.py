"""Every component's migration files, listed by name, are its migrations in the order they run: one line from the
first to the newest, each named date_NNNN_slug with NNNN its place in that line (the README says how to name one)."""

import re
import shutil
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from servicekit.migrations import alembic_config

from .test_migrations import COMPONENTS

FILE_NAME = re.compile(r"\d{4}_\d{2}_\d{2}_(\d{4})_\w+\.py")


def files_in_chain_order(component_dir: Path) -> list[str]:
    """The migration files from the first (no down_revision) to the head, following down_revision."""
    scripts = ScriptDirectory.from_config(alembic_config(component_dir))
    assert len(scripts.get_bases()) == 1, "one first migration"
    assert len(scripts.get_heads()) == 1, "one head: no branches"
    newest_first = list(scripts.walk_revisions())
    assert all(not isinstance(s.down_revision, tuple | list) for s in newest_first), "no merges"
    return [Path(s.path).name for s in reversed(newest_first)]


def files_by_name(component_dir: Path) -> list[str]:
    return sorted(path.name for path in (component_dir / "migrations" / "versions").glob("*.py"))


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_migration_files_sorted_by_name_are_in_chain_order(component: str) -> None:
    in_chain_order = files_in_chain_order(COMPONENTS[component])
    assert files_by_name(COMPONENTS[component]) == in_chain_order
    for place, name in enumerate(in_chain_order, start=1):
        match = FILE_NAME.fullmatch(name)
        assert match, f"{name} is not named date_NNNN_slug.py"
        assert int(match[1]) == place, f"{name} is migration {place:04d} of {component}"


def test_a_file_named_out_of_chain_order_is_caught(tmp_path: Path) -> None:
    capacity, component_dir = COMPONENTS["capacity"], tmp_path / "capacity"
    shutil.copytree(capacity / "migrations", component_dir / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(capacity / "alembic.ini", component_dir)
    versions = component_dir / "migrations" / "versions"
    # The reservations (0004) named as if they came before the baseline forecasts (0003) they follow.
    (versions / "2026_11_23_0004_reservations.py").rename(versions / "2026_11_23_0002_reservations.py")

    assert files_by_name(component_dir) != files_in_chain_order(component_dir)
