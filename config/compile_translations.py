"""Compile the gettext catalogs (.po -> .mo) without GNU gettext: `python -m config.compile_translations`.

Run at install time (`make run`, `make test`, a production build); .mo files are not committed.
Pure Python (Babel), so a machine with only Python can build the English catalog. Fuzzy entries
are left out, as msgfmt does.
"""

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

BASE_DIR = Path(__file__).resolve().parent.parent


def catalogs(base_dir: Path = BASE_DIR):
    yield from sorted(base_dir.glob("locale/*/LC_MESSAGES/*.po"))
    yield from sorted(base_dir.glob("apps/*/locale/*/LC_MESSAGES/*.po"))


def compile_catalog(po_path: Path) -> Path:
    mo_path = po_path.with_suffix(".mo")
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=po_path.parent.parent.name)
    with mo_path.open("wb") as mo_file:
        write_mo(mo_file, catalog, use_fuzzy=False)
    return mo_path


def main() -> int:
    compiled = [compile_catalog(po_path) for po_path in catalogs()]
    for mo_path in compiled:
        print(f"compilé : {mo_path.relative_to(BASE_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
