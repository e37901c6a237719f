"""`make mutation`: mutmut on each critical module against its own tests, scored into tests/MUTATION.md.

Order of work, for each target of tests/mutation_targets.toml (or only MODULE=<name> when given):
1. copy the repository's files (tracked and new, not ignored ones, and the compiled .mo translations) into
   var/mutation/<slug>/, so the worktree itself is never mutated and two targets never share mutmut's cache;
2. write there a [tool.mutmut] section naming the target's module(s) and its own test files, nothing else;
   in that copy, drop the decorators listed under strip_decorators (mutmut skips decorated functions);
3. run `mutmut run --max-children N` there (N = MUTATION_JOBS, default 1: the machines are shared), on the
   target's database: PostgreSQL (DATABASE_URL, a database of its own per target) for a target marked
   `postgresql = true`, SQLite for the others, whatever DATABASE_URL says;
4. read every mutant's verdict from mutmut's .meta files. A survivor listed in tests/mutation_equivalents.toml
   counts as equivalent only while mutmut still shows the recorded mutated line for it (a renumbered mutant is
   not excused silently) and the entry gives a reason;
5. rewrite tests/MUTATION.md: the score table (rows of targets not run this time are kept) and, per target,
   its equivalent mutants with their reasons and the diff of every survivor.

MODULE=a,b measures several targets. MUTATION_TARGETS_AT_ONCE=N measures N targets side by side (default 1),
each mutmut's output in var/mutation/<slug>.log: the whole list on a machine with N cores to spare.
Each target's section says on which database and at which commit it was measured, and whether the checkout had
uncommitted changes.

MUTATION_STALE=1 (make mutation STALE=1) measures only the targets whose section is missing, was measured with
uncommitted changes, or names a commit since which the module or its own test files changed.

MUTATION_RETEST=1 (make mutation MODULE=... RETEST=1) keeps the target's last run and re-runs only the mutants
it did not kill, with the current test files: the quick loop while writing tests for survivors.
MUTATION_SCORE_ONLY=1 rewrites the table from the kept runs (after editing tests/mutation_equivalents.toml).
Adding tests can only kill more, so the killed ones stand; a plain run redoes everything.

Score = killed / (mutants - equivalent). A timeout counts as killed (the change was noticed); "no tests" and
"suspicious" count as survived. Not part of `make test`: a full run takes long.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "tests" / "mutation_targets.toml"
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.toml"
REPORT = ROOT / "tests" / "MUTATION.md"
WORK = ROOT / "var" / "mutation"
TABLE_HEADER = "| module | mutants | killed | survived | equivalent | score |"
KILLED = {1, 3, 36, -24, 24, 152, 255}  # mutmut's exit codes for "killed" and "timeout"
SURVIVED_BELOW = 0.90
MEASURED_AT = "measured_at.txt"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def repository_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                             check=True, capture_output=True).stdout.decode().split("\0")
    return [path for path in listing if path and not path.startswith(("var/", "mutants/")) and (ROOT / path).is_file()]


def checkout_state() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    changes = subprocess.run(["git", "status", "--porcelain", "--", ".", ":(exclude)var",
                              f":(exclude){REPORT.relative_to(ROOT)}"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()  # the report is this tool's own output
    return f"commit {commit}" + (", with uncommitted changes" if changes else ", clean checkout")


def compiled_translations(paths: list[str]) -> list[str]:
    """The .mo files `make translations` compiled next to the repository's .po files. Git ignores them, yet a
    test reading the English UI needs them: without them it fails in the copy before any mutant runs."""
    compiled = [path[:-3] + ".mo" for path in paths if path.endswith(".po")]
    return [path for path in compiled if (ROOT / path).is_file()]


def test_paths(patterns: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, root_dir=ROOT)):
            if path not in found:
                found.append(path)
    return found


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


# mutmut runs pytest many times in one process (then in forks of it) on one test database kept between runs
# (--reuse-db): a transactional test's flush recreates the content types with new ids, which Django's
# in-process ContentType cache would not know. Cleared before each test, as a fresh process would start.
SESSION_PLUGIN = """
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
"""


def unwrap(module: Path, strip_decorators: list[dict]) -> None:
    """Drop, from the copy to be mutated, decorators that only change what an error report shows.

    mutmut never mutates a decorated function (other than a static or class method): without this, the
    signature checks and the outbound request, marked @sensitive_variables, would silently leave the score."""
    patterns = [re.compile(strip["pattern"]) for strip in strip_decorators]
    lines = module.read_text().splitlines(keepends=True)
    module.write_text("".join(line for line in lines if not any(pattern.match(line) for pattern in patterns)))


def prepare(target: dict, workdir: Path, skip_lines: list[dict], strip_decorators: list[dict]) -> list[str]:
    if workdir.exists():
        shutil.rmtree(workdir)
    files = repository_files()
    workdir.mkdir(parents=True)
    (workdir / MEASURED_AT).write_text(f"{database_kind(target)}, {checkout_state()}")
    for path in files + compiled_translations(files):
        destination = workdir / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, destination)
    for module in target["modules"]:
        unwrap(workdir / module, strip_decorators)
    tests = test_paths(target["tests"])
    top_level = sorted({module.split("/")[0] for module in target["modules"]} | {"apps", "config"})
    (workdir / "mutation_session.py").write_text(SESSION_PLUGIN)
    also_copy = [name for name in ("locale", "templates", "static", "manage.py", "mutation_session.py")
                 if (workdir / name).exists()]
    with open(workdir / "pyproject.toml", "a") as config:
        config.write(
            "\n[tool.mutmut]\n"
            f"source_paths = {toml_list(top_level)}\n"
            f"only_mutate = {toml_list(target['modules'])}\n"
            f"also_copy = {toml_list(also_copy)}\n"
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
            f"do_not_mutate_patterns = {toml_list([skip['pattern'] for skip in skip_lines])}\n"
            # One test database for all mutants (they run one after the other), built once.
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "mutation_session", "--reuse-db", "-m", "not e2e"]\n'
            "use_git_change_detection = false\n"
        )
    return tests


def refresh_tests(target: dict, workdir: Path) -> list[str]:
    """Retest mode: the current test files into the kept run (mutmut runs them from its mutants/ copy)."""
    for path in repository_files():
        if path.startswith("tests/"):
            for base in (workdir, workdir / "mutants"):
                destination = base / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / path, destination)
    tests = test_paths(target["tests"])
    config = (workdir / "pyproject.toml").read_text()
    config = re.sub(r"^pytest_add_cli_args_test_selection = .*$", f"pytest_add_cli_args_test_selection = "
                    f"{toml_list(tests)}", config, flags=re.M)
    (workdir / "pyproject.toml").write_text(config)
    shutil.copy2(workdir / "pyproject.toml", workdir / "mutants" / "pyproject.toml")
    return tests


def same_selection(target: dict, workdir: Path) -> bool:
    """Retest only when the target still names the same test files: mutmut drops every earlier verdict when
    its configuration changes, and the mutants not re-run would then count as survivors."""
    kept = re.search(r"^pytest_add_cli_args_test_selection = (.*)$", (workdir / "pyproject.toml").read_text(), re.M)
    if kept and kept.group(1) == toml_list(test_paths(target["tests"])):
        return True
    print(f"== {target['name']}: its test files changed since the kept run, so every mutant runs again",
          flush=True)
    return False


def postgresql_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def target_environment(target: dict) -> dict[str, str]:
    """The target's own databases: SQLite (the copy's own file) unless it is measured on PostgreSQL, where each
    target gets a database of its own, and a private Redis: targets measured side by side never share either."""
    environment = dict(os.environ)
    environment.pop("PYTEST_ADDOPTS", None)
    environment.pop("REDIS_URL", None)  # each run starts a Redis of its own (config/settings.py, under pytest)
    url = postgresql_url()
    if target.get("postgresql") and url:
        # Short: with --reuse-db each pytest session in mutmut's process (stats, clean run, forced fail, then
        # every mutant) prefixes the name it inherits with "test_" again, and PostgreSQL cuts names at 63.
        digest = hashlib.sha1(target["name"].encode()).hexdigest()[:8]
        environment["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/mutation_{digest}"))
    else:
        environment.pop("DATABASE_URL", None)
    return environment


def run_mutmut(target: dict, workdir: Path, jobs: int, names: list[str] | None = None, log: Path | None = None) -> None:
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *(names or [])]
    if log is None:
        subprocess.run(command, cwd=workdir, env=target_environment(target), check=True)
        return
    with open(log, "w") as output:
        subprocess.run(command, cwd=workdir, env=target_environment(target), check=True, stdout=output,
                       stderr=subprocess.STDOUT)


def verdicts(workdir: Path, modules: list[str]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for module in modules:
        meta = workdir / "mutants" / (module + ".meta")
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


DIFFS_SCRIPT = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name) for name in json.load(sys.stdin)}))
"""


def diffs_of(workdir: Path, mutants: list[str]) -> dict[str, str]:
    """Every mutant's diff from one process (one `mutmut show` per mutant takes seconds each)."""
    if not mutants:
        return {}
    shown = subprocess.run([sys.executable, "-c", DIFFS_SCRIPT], cwd=workdir, input=json.dumps(mutants),
                           capture_output=True, text=True)
    if shown.returncode == 0:
        return {name: diff.strip() for name, diff in json.loads(shown.stdout).items()}
    return {name: diff_of(workdir, name) for name in mutants}


def diff_of(workdir: Path, mutant: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=workdir, capture_output=True,
                           text=True)
    lines = shown.stdout.splitlines()
    start = next((index for index, line in enumerate(lines) if line.startswith("---")), 0)
    return "\n".join(lines[start:]).strip()


def mutated_lines(diff: str) -> list[str]:
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def load_equivalents() -> dict[str, dict]:
    if not EQUIVALENTS.exists():
        return {}
    entries = tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])
    return {entry["mutant"]: entry for entry in entries if entry.get("reason", "").strip()}


def score_target(target: dict, workdir: Path) -> dict:
    equivalents = load_equivalents()
    measured_at = workdir / MEASURED_AT
    results = verdicts(workdir, target["modules"])
    killed = [name for name, code in results.items() if code in KILLED]
    equivalent: list[tuple[str, str, str]] = []
    survived: list[tuple[str, str]] = []
    not_killed = sorted(set(results) - set(killed))
    diffs = diffs_of(workdir, not_killed)
    for name in not_killed:
        diff = diffs[name]
        entry = equivalents.get(name)
        if entry and entry.get("line", "").strip() in mutated_lines(diff):
            equivalent.append((name, entry["reason"].strip(), diff))
        else:
            survived.append((name, diff))
    counted = len(results) - len(equivalent)
    return {
        "name": target["name"], "mutants": len(results), "killed": len(killed), "survived": len(survived),
        "equivalent": len(equivalent), "score": (len(killed) / counted) if counted else 1.0,
        "equivalents": equivalent, "survivors": survived,
        "measured_at": measured_at.read_text().strip() if measured_at.exists() else "a run that did not record it",
    }


def kept_rows(names_run: set[str]) -> dict[str, str]:
    """Rows (and detail sections) of targets not run this time, from the existing report."""
    if not REPORT.exists():
        return {}
    rows: dict[str, str] = {}
    for line in REPORT.read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \|", line)
        if match and match.group(1) not in names_run and "not run yet" not in line:
            rows[match.group(1)] = line
    return rows


def kept_sections(names_run: set[str]) -> dict[str, str]:
    if not REPORT.exists():
        return {}
    text = REPORT.read_text()
    sections: dict[str, str] = {}
    for match in re.finditer(r"^### `([^`]+)`\n.*?(?=^### `|\Z)", text, flags=re.S | re.M):
        if match.group(1) not in names_run:
            sections[match.group(1)] = match.group(0).rstrip() + "\n"
    return sections


def row(result: dict) -> str:
    return (f"| `{result['name']}` | {result['mutants']} | {result['killed']} | {result['survived']} | "
            f"{result['equivalent']} | {result["score"]:.1%} |")


def database_kind(target: dict) -> str:
    return "PostgreSQL" if target.get("postgresql") and postgresql_url() else "SQLite"


def section(result: dict) -> str:
    parts = [f"### `{result['name']}`\n", f"Measured on {result['measured_at']}.\n"]
    if result["equivalents"]:
        parts.append("Equivalent (no behaviour changes; reasons from tests/mutation_equivalents.toml):\n")
        for name, reason, _diff in result["equivalents"]:
            parts.append(f"- `{name}`: {reason}")
        parts.append("")
    if result["survivors"]:
        parts.append("Survivors (each one needs a test, or an equivalence with its reason):\n")
        for name, diff in result["survivors"]:
            parts.append(f"`{name}`\n\n```diff\n{diff}\n```\n")
    if not result["equivalents"] and not result["survivors"]:
        parts.append("Every mutant killed.\n")
    return "\n".join(parts).rstrip() + "\n"


def write_report(targets: list[dict], results: list[dict]) -> None:
    names_run = {result["name"] for result in results}
    old_rows, old_sections = kept_rows(names_run), kept_sections(names_run)
    fresh_rows = {result["name"]: row(result) for result in results}
    fresh_sections = {result["name"]: section(result) for result in results}
    order = [target["name"] for target in targets]
    lines = [
        "# Mutation testing",
        "",
        "Written by `make mutation` (tools/mutation.py, mutmut): every module below is mutated one small change at a",
        "time and only its own tests (tests/mutation_targets.toml) are run against each change. Score = killed /",
        "(mutants - equivalent); the bar is 90 % per module. Equivalent mutants are listed in",
        "tests/mutation_equivalents.toml, each with the reason it cannot change behaviour. Refresh a row with",
        "`make mutation MODULE=<module>` after changing that module or its tests. Each module's section below",
        "names the database and the commit it was measured at.",
        "",
        TABLE_HEADER,
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [fresh_rows.get(name) or old_rows.get(name) or f"| `{name}` | not run yet | | | | |" for name in order]
    lines += ["", "## Details", ""]
    lines += [fresh_sections.get(name) or old_sections[name] for name in order
              if name in fresh_sections or name in old_sections]
    REPORT.write_text("\n".join(lines).rstrip() + "\n")


def measure_target(target: dict, skip_lines: list[dict], strip_decorators: list[dict], jobs: int,
                   quiet: bool) -> dict:
    workdir = WORK / slug(target["name"])
    log = WORK / f"{slug(target['name'])}.log" if quiet else None
    if target.get("postgresql") and not postgresql_url():
        print(f"ATTENTION : {target['name']} se mesure sur PostgreSQL (DATABASE_URL) : sur SQLite ses tests de "
              "verrous sont sautés et leurs mutants survivent.", file=sys.stderr)
    if os.environ.get("MUTATION_SCORE_ONLY") and (workdir / "mutants").exists():
        print(f"== {target['name']}: scoring the last run again (no mutant run)", flush=True)
    elif os.environ.get("MUTATION_RETEST") and (workdir / "mutants").exists() and same_selection(target, workdir):
        tests = refresh_tests(target, workdir)
        kept = workdir / MEASURED_AT
        first_run = kept.read_text().split(";")[0].strip() if kept.exists() else ""
        kept.write_text(f"{first_run}; its mutants not killed then run again at {checkout_state()}")
        names = [name for name, code in verdicts(workdir, target["modules"]).items() if code not in KILLED]
        print(f"== {target['name']}: {len(names)} mutants again, against {' '.join(tests)}", flush=True)
        if names:
            run_mutmut(target, workdir, jobs, names, log)
    else:
        tests = prepare(target, workdir, skip_lines, strip_decorators)
        output = f" (output in {log.relative_to(ROOT)})" if log else ""
        print(f"== {target['name']} against {' '.join(tests)}{output}", flush=True)
        run_mutmut(target, workdir, jobs, log=log)
    return score_target(target, workdir)


def recorded_commits() -> dict[str, list[str]]:
    """Per target, the commits its section says it was measured at (the run's, then a retest's), when clean."""
    if not REPORT.exists():
        return {}
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"^### `([^`]+)`\n\nMeasured on (.*)$", REPORT.read_text(), flags=re.M):
        if "uncommitted" not in match.group(2):
            found[match.group(1)] = re.findall(r"commit ([0-9a-f]{7,40})", match.group(2))
    return found


def unchanged_since(commit: str, paths: list[str]) -> bool:
    return subprocess.run(["git", "diff", "--quiet", commit, "HEAD", "--", *paths], cwd=ROOT,
                          capture_output=True).returncode == 0


def is_stale(target: dict, commits: list[str]) -> bool:
    if not commits:
        return True
    return not (unchanged_since(commits[0], target["modules"])
                and unchanged_since(commits[-1], test_paths(target["tests"])))


def main() -> int:
    config = tomllib.loads(TARGETS.read_text())
    targets, skip_lines = config["target"], config.get("skip_lines", [])
    strip_decorators = config.get("strip_decorators", [])
    wanted = [name.strip() for name in os.environ.get("MODULE", "").split(",") if name.strip()]
    chosen = [target for target in targets if not wanted or set(wanted) & {target["name"], *target["modules"]}]
    unknown = [name for name in wanted if not any(name in (t["name"], *t["modules"]) for t in targets)]
    if unknown:
        print(f"MODULE={','.join(unknown)} n'est pas dans {TARGETS.relative_to(ROOT)}.", file=sys.stderr)
        return 2
    if os.environ.get("MUTATION_STALE"):
        commits = recorded_commits()
        chosen = [target for target in chosen if is_stale(target, commits.get(target["name"], []))]
        print("Stale: " + (", ".join(target["name"] for target in chosen) or "none"), flush=True)
    jobs = int(os.environ.get("MUTATION_JOBS") or "1")
    at_once = max(1, int(os.environ.get("MUTATION_TARGETS_AT_ONCE") or "1"))
    results: list[dict] = []
    reporting = threading.Lock()

    def measure(target: dict) -> None:
        result = measure_target(target, skip_lines, strip_decorators, jobs, quiet=at_once > 1)
        with reporting:
            results.append(result)
            write_report(targets, results)
            print(row(result), flush=True)

    if at_once == 1:
        for target in chosen:
            measure(target)
    else:
        # The largest modules first, so that no long one is left running alone at the end.
        largest_first = sorted(chosen, key=lambda target: -sum((ROOT / m).stat().st_size for m in target["modules"]))
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            for future in [pool.submit(measure, target) for target in largest_first]:
                future.result()
    below = [result["name"] for result in results if result["score"] < SURVIVED_BELOW]
    if below:
        print("Under 90 %: " + ", ".join(below), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
