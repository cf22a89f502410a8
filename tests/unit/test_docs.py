"""The docs: the site builds strictly (a broken link or anchor fails), offline, and the README stays short.

`make docs` runs the same build. The site's navigation (docs/.nav.yml) must take pages written later without an
edit, so a new page is built into a copy of the docs here and must show up in the navigation.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import markdown
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
README = PROJECT_ROOT / "README.md"
MAX_README_LINES = 150
# Plugins that build from local files only: material's social cards and privacy plugin download fonts,
# images and assets at build time, which an offline build (CI, a fresh clone) cannot.
OFFLINE_PLUGINS = {"search", "awesome-nav"}
# [text](target) and ![alt](target), not inside code spans; the target ends at whitespace or ')'.
LINK_RE = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


class _Loader(yaml.SafeLoader):
    """mkdocs.yml's `!relative` tag (pymdownx.snippets' base path) read as a plain string."""


_Loader.add_constructor("!relative", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # Not --quiet: mkdocs counts warnings for --strict only at the levels it logs.
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"), "-d", str(site)],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def copy_of_the_docs(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copy(README, root / "README.md")
    shutil.copytree(PROJECT_ROOT / "docs", root / "docs")
    return root


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    done = build(PROJECT_ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    pages = {p.name for p in (tmp_path / "site").glob("*.html")}
    expected = {f"{p.stem}.html" for p in (PROJECT_ROOT / "docs").glob("*.md")}
    assert expected <= pages
    # The measured figures come from the README (one source): the snippet was included, not left as text.
    testing = (tmp_path / "site" / "testing.html").read_text(encoding="utf-8")
    assert "--8&lt;--" not in testing and "--8<--" not in testing
    assert "round trips to the jsii runtime per construct" in testing


@pytest.mark.parametrize(
    ("page", "text", "complaint"),
    [
        ("level-0.md", "\nSee [the missing page](no-such-page.md).\n", "no-such-page.md"),
        ("level-0.md", "\nSee [a missing section](level-1.md#no-such-heading).\n", "no-such-heading"),
        ("testing.md", '\n--8<-- "README.md:no-such-section"\n', "no-such-section"),
    ],
)
def test_a_broken_link_anchor_or_snippet_fails_the_build(tmp_path: Path, page: str, text: str, complaint: str) -> None:
    root = copy_of_the_docs(tmp_path)
    with (root / "docs" / page).open("a", encoding="utf-8") as f:
        f.write(text)
    done = build(root, tmp_path / "site")
    assert done.returncode != 0
    assert complaint in done.stdout + done.stderr


def test_a_new_page_joins_the_navigation_without_editing_it(tmp_path: Path) -> None:
    # Pages other sessions add (docs/rag.md, or any new topic) must build and be reachable from the navigation.
    root = copy_of_the_docs(tmp_path)
    (root / "docs" / "rag.md").write_text("# Knowledge base\n\nSee [LLMOps](llmops.md).\n", encoding="utf-8")
    (root / "docs" / "brand-new-topic.md").write_text("# A brand-new topic\n", encoding="utf-8")
    done = build(root, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="rag.html"' in home
    assert 'href="brand-new-topic.html"' in home


def test_the_build_uses_offline_plugins_only() -> None:
    config = yaml.load((PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
    plugins = {next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]}
    assert plugins <= OFFLINE_PLUGINS, plugins - OFFLINE_PLUGINS
    assert config["theme"]["font"] is False  # material would link Google Fonts otherwise


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"


def _heading_ids(page: Path) -> set[str]:
    md = markdown.Markdown(extensions=["toc", "tables", "fenced_code"])
    md.convert(page.read_text(encoding="utf-8"))

    def ids(tokens: list[dict[str, object]]) -> set[str]:
        found: set[str] = set()
        for token in tokens:
            found.add(str(token["id"]))
            found |= ids(token["children"])  # type: ignore[arg-type]
        return found

    return ids(md.toc_tokens)  # type: ignore[attr-defined]


def relative_links(text: str) -> list[str]:
    """The relative link targets of a Markdown text, outside fenced code blocks and code spans."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK_RE.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def broken_links(page: Path) -> list[str]:
    problems: list[str] = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in _heading_ids(resolved)):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


def test_every_relative_link_of_the_readme_resolves() -> None:
    links = relative_links(README.read_text(encoding="utf-8"))
    assert any(link.startswith("docs/") for link in links)  # it points into the docs
    assert broken_links(README) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Real heading\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md) [ok](docs/a.md#real-heading) [gone](docs/b.md) [bad](docs/a.md#nope)\n"
        "`[code](not-a-link.md)` [web](https://example.com/x.md)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["docs/b.md: no such file", "docs/a.md#nope: no heading #nope in a.md"]
