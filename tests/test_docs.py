"""The documentation: the README is a short user's guide, links resolve, and no file points outside
the repository for a fact it relies on. Fast: reads files, runs ``git ls-files`` and nothing else."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"

# Built by concatenation so that this file does not contain what it forbids.
FORBIDDEN_NAMES = (".." + "/shared", "DESIGN" + ".md", "STACK" + ".md")
ISSUE_NUMBER = re.compile("(?i)" + r"\b" + "iss" + r"ues?\s*#?\d+")

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def first_fenced_block(text: str) -> list[str]:
    lines, inside, block = text.splitlines(), False, []
    for line in lines:
        if FENCE.match(line.strip()):
            if inside:
                return block
            inside = True
            continue
        if inside:
            block.append(line)
    raise AssertionError("README.md has no closed fenced code block")


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where brackets are not links."""
    kept, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if not inside:
            kept.append(INLINE_CODE.sub("", line))
    return "\n".join(kept)


def repository_text_files() -> list[Path]:
    """Tracked files and untracked ones git does not ignore, that exist and are not binary."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode("utf-8", "surrogateescape")
    files = []
    for name in sorted(set(filter(None, listed.split("\0")))):
        path = REPO / name
        if not path.is_file():  # deleted in the working tree, or a submodule
            continue
        if b"\0" in path.read_bytes()[:8192]:
            continue
        files.append(path)
    return files


def test_readme_is_short_and_starts_with_its_title():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"
    assert lines[0].startswith("# "), lines[0]


def test_readme_first_code_block_is_the_two_newcomer_commands():
    block = first_fenced_block(README.read_text(encoding="utf-8"))
    commands = [line.split("#", 1)[0].strip() for line in block]
    commands = [command for command in commands if command]
    assert commands == ["make run", "make test"], block


def test_no_file_names_notes_outside_the_repository_or_an_issue_number():
    offenders = []
    for path in repository_text_files():
        text = path.read_text(encoding="utf-8", errors="ignore")
        for number, line in enumerate(text.splitlines(), 1):
            found = [name for name in FORBIDDEN_NAMES if name in line]
            if ISSUE_NUMBER.search(line):
                found.append("an issue number")
            if found:
                offenders.append(f"{path.relative_to(REPO)}:{number}: {', '.join(found)}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_relative_links_point_at_existing_files(path):
    broken = []
    for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # a URL, mailto: or an anchor in the same file
        file = target.split("#", 1)[0]
        if not (path.parent / file).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(REPO)}: {broken}"


@pytest.mark.parametrize("path", sorted((DOCS / "results").glob("2*.md")), ids=lambda path: path.name)
def test_every_measurement_record_is_dated_and_names_its_machine(path):
    """docs/results/<date>-<topic>.md: the title carries the file's date, a line names the machine."""
    date = re.match(r"\d{4}-\d{2}-\d{2}", path.name)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert date and lines[0].startswith("# ") and date.group() in lines[0], lines[0]
    assert any(line.startswith("**Machine:**") for line in lines), f"{path.name} names no machine"


def test_the_reliability_section_names_tests_that_exist():
    """Each guarantee in docs/usage.md's reliability table names tests (``file.py::name``, or
    ``…::name`` for the file named before it on the line) that are in the suite."""
    text = (REPO / "docs" / "usage.md").read_text()
    section = text.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    named = 0
    for line in section.splitlines():
        module = None
        for file, name in re.findall(r"`(test_\w+\.py|…)::(test_\w+)`", line):
            module = module if file == "…" else file
            assert re.search(rf"(?m)^def {name}\(", (REPO / "tests" / module).read_text()), f"{module}::{name}"
            named += 1
    assert named >= 15
