"""The README and docs/ stay true: the Python example runs, tables and links match the tree.

- the README's "From Python" example runs as written;
- "Where things are" lists every subpackage of ``audits/``, and every path it names exists;
- every relative link and image in README.md and docs/*.md points to an existing file
  (and, with ``#anchor``, to an existing heading), and every repository path written in
  backticks exists;
- every ``fairpanel`` command, subcommand and option is in docs/cli.md.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from audits.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
#: Top-level folders whose paths, written in backticks, must exist.
REPO_FOLDERS = ("audits/", "app/", "tests/", "benchmarks/", "scripts/", "datasets/", "docs/")
REPO_PATH = re.compile(rf"`((?:{'|'.join(map(re.escape, REPO_FOLDERS))})[\w./-]*)`")
COMMAND_LINE = re.compile(r"^ {4}([a-z][a-z-]*)(?:\s|$)", re.MULTILINE)
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def _section(text: str, title: str) -> str:
    """The body of the section whose heading is ``title`` (any level), up to the next one."""
    match = re.search(rf"^(#+)\s+{re.escape(title)}\s*$", text, re.MULTILINE)
    assert match, f"README.md has no section {title!r}"
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}}\s", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        slug = _slug(match.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(path: Path) -> Iterator[str]:
    for match in LINK.finditer(_prose(path.read_text())):
        target = match.group(1)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # skip http:, https:, mailto:
            yield target


# --- (a) the "From Python" example runs -------------------------------------------------


def test_from_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    section = _section(README.read_text(), "From Python")
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "the 'From Python' section should hold one python block"
    code = blocks[0]
    assert len(code.splitlines()) <= 20, "keep the 'From Python' example short"
    exec(compile(code, "README.md (From Python)", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert "0.444" in printed  # the agreement of the ratings table, as the comment says


# --- (b) "Where things are" matches the tree --------------------------------------------


def _where_things_are() -> list[str]:
    section = _section(README.read_text(), "Where things are")
    paths = re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)
    assert paths, "the 'Where things are' table has no rows"
    return paths


def test_where_things_are_lists_every_subpackage() -> None:
    subpackages = {
        f"audits/{p.parent.name}/" for p in (ROOT / "audits").glob("*/__init__.py")
    }
    missing = sorted(subpackages - set(_where_things_are()))
    assert not missing, f"README 'Where things are' lacks {missing}"


def test_where_things_are_paths_exist() -> None:
    for path in _where_things_are():
        assert (ROOT / path).exists(), f"README 'Where things are' names missing {path}"
    top = {"app/", "datasets/", "tests/", "benchmarks/", "docs/", "scripts/"}
    assert top <= set(_where_things_are())


# --- (c) links, images and paths point to existing files --------------------------------


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_exist(page: Path) -> None:
    for target in _links(page):
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.exists(), f"{page.name}: link to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: no heading for {target}"


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_in_backticks_exist(page: Path) -> None:
    for path in REPO_PATH.findall(page.read_text()):
        assert (ROOT / path).exists(), f"{page.name} names {path}, which does not exist"


# --- (d) every command, subcommand and option is in docs/cli.md -------------------------


def _help(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return out.getvalue()


def _commands() -> list[tuple[str, ...]]:
    """Every command and subcommand ``fairpanel --help`` leads to, as argv tuples."""
    found: list[tuple[str, ...]] = []
    for command in COMMAND_LINE.findall(_help()):
        found.append((command,))
        helptext = _help(command)
        if re.search(r"^\w+ commands:$", helptext, re.MULTILINE):
            found += [(command, sub) for sub in COMMAND_LINE.findall(helptext)]
    return found


def test_every_command_and_option_is_in_the_cli_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # fewer wrapped lines in the help texts
    reference = CLI_DOC.read_text()
    commands = _commands()
    assert ("audit",) in commands and ("queue", "build") in commands
    for argv in commands:
        name = "fairpanel " + " ".join(argv)
        assert f"`{name}`" in reference, f"docs/cli.md does not document {name}"
        for option in set(OPTION.findall(_help(*argv))) - {"--help"}:
            assert option in reference, f"docs/cli.md lacks {name} {option}"
    for option in set(OPTION.findall(_help())) - {"--help"}:
        assert option in reference, f"docs/cli.md lacks fairpanel {option}"
