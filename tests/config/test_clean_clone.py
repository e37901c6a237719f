"""A clean clone is enough: the tests read vendor files from the repository, and `make test` installs the browser."""

import re
import subprocess

from django.conf import settings

from tests.contracts import CONTRACTS

OUTSIDE_READS = re.compile(r"VENDOR_SPECS_DIR|\.\./shared|/work/shared|parent\s*/\s*[\"']shared[\"']")


def test_no_code_or_test_reads_vendor_files_from_outside_the_repository():
    offenders = []
    for folder in ("apps", "config", "tests"):
        for path in (settings.BASE_DIR / folder).rglob("*.py"):
            if path.name != "test_clean_clone.py" and OUTSIDE_READS.search(path.read_text()):
                offenders.append(str(path.relative_to(settings.BASE_DIR)))
    assert offenders == []


def test_every_contract_folder_names_its_source_and_holds_the_files_the_tests_read():
    folders = [path for path in CONTRACTS.iterdir() if path.is_dir() and not path.name.startswith("__")]
    assert {"invoiceninja", "revolut", "mautic"} <= {folder.name for folder in folders}
    for folder in folders:
        source = (folder / "SOURCE.md").read_text()
        for data_file in folder.iterdir():
            if data_file.name != "SOURCE.md":
                assert f"`{data_file.name}`" in source, (folder.name, data_file.name)


def test_make_test_installs_chromium_when_it_is_missing():
    plan = subprocess.run(["make", "-n", "test", "CHROMIUM=/nonexistent/chromium"], cwd=settings.BASE_DIR,
                          capture_output=True, text=True, check=True).stdout
    assert "apt-get install -y chromium" in plan
    assert plan.index("apt-get install -y chromium") < plan.index("-m pytest")
