"""The type → file tables of docs/architecture.md and chat/README.md against the tree: every file
a row names exists, and every source file of chat/ is named by a row of chat/README.md. A file
renamed, split or removed without its row (or a new one without a row) fails here, so the tables
stay a map a new contributor can trust."""

import pathlib
import re

import pytest

pytestmark = pytest.mark.no_asan

ROOT = pathlib.Path(__file__).resolve().parents[2]


def file_column(doc):
    """The second cell of every table row (the file column), skipping headers and rules."""
    for line in doc.read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) < 5 or set(cells[2]) <= set("-: ") or cells[2] in ("file", "files"):
            continue
        yield cells[2]


def expand(name):
    """`a.{h,cc}` is a.h and a.cc."""
    braces = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", name)
    if not braces:
        return [name]
    head, alternatives, tail = braces.groups()
    return [head + alternative + tail for alternative in alternatives.split(",")]


def named_paths(cell, base):
    """The paths a file cell names: items separated by commas and semicolons, each a path (from the
    root, or from the directory of the cell's first path), with any words after it ignored."""
    cell = re.sub(r"\([^()]*\)", "", re.sub(r"\([^()]*\)", "", cell))  # Asides, nested once.
    directory = None
    for item in re.split(r"[,;](?![^{]*\})", cell):
        words = item.replace("`", "").split()
        if not words or not re.search(r"\.(h|cc|py|js|md)\b|\}|/$", words[0]):
            continue
        name = words[0]
        if "<" in name:  # A pattern such as <family>_wire.cc: not a file.
            continue
        path = base / name if "/" in name and not name.startswith(("chat/", "core/", "proto/",
                                                                      "storage/", "server/")) \
            else (ROOT / name if "/" in name else (directory or base) / name)
        if directory is None:
            directory = path.parent
        yield from (pathlib.Path(expanded) for expanded in expand(str(path)))


def rows(doc, base):
    for cell in file_column(doc):
        yield cell, list(named_paths(cell, base))


@pytest.mark.parametrize("doc,base", [
    (ROOT / "docs" / "architecture.md", ROOT),
    (ROOT / "chat" / "README.md", ROOT / "chat"),
])
def test_every_file_a_row_names_exists(doc, base):
    missing = []
    for cell, paths in rows(doc, base):
        for path in paths:
            found = any(path.parent.glob(path.name)) if "*" in path.name else path.exists()
            if not found:
                missing.append(f"{path.relative_to(ROOT)} (row: {cell[:60]})")
    assert not missing, f"{doc.relative_to(ROOT)} names files that are not there:\n" + \
        "\n".join(missing)


def names_in(text):
    """The file names a text mentions anywhere (a.{h,cc} is a.h and a.cc), without folders."""
    names = set()
    for token in re.findall(r"[\w./-]+\.(?:\{[\w,]+\}|(?:cc|h)\b)", text):
        names.update(pathlib.PurePath(name).name for name in expand(token))
    return names


def test_every_chat_source_file_is_named_by_the_chat_readme_or_its_folders():
    """chat/README.md's table, or the README of the file's own folder (chat/ops/, chat/auth/)."""
    readme = (ROOT / "chat" / "README.md").read_text()
    unnamed = []
    for path in sorted((ROOT / "chat").rglob("*.cc")):
        own = path.parent / "README.md"
        text = readme + (own.read_text() if own.exists() and own.parent != ROOT / "chat" else "")
        if path.name not in names_in(text):
            unnamed.append(str(path.relative_to(ROOT)))
    assert not unnamed, "no README names:\n" + "\n".join(unnamed)


def test_the_schema_doc_names_the_newest_version_of_each_store():
    """storage/SCHEMA.md's title says which schema version each store migrates to: one SQL file a
    version (cmake/EmbedMigrations.cmake), so the newest is the count of files."""
    title = (ROOT / "storage/SCHEMA.md").read_text().splitlines()[0]
    named = re.fullmatch(
        r"# Chat schema: SQLite \(version (\d+)\) and PostgreSQL \(version (\d+)\)", title)
    assert named, title
    for store, version in zip(("sqlite_migrations", "pg_migrations"), named.groups()):
        files = sorted((ROOT / "storage" / store).glob("v*.sql"))
        assert int(version) == len(files), (store, title, [f.name for f in files][-1])
