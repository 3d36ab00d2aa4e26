"""docs/cli.md names every verb and every option the CLI has (walks `blecrypt ... --help`).

A verb added to tools/blecrypt, or an option added to a verb, fails this test until docs/cli.md
documents it: the verb path in backquotes (`bluetti read`) and the option as a word (`--count`).
Environment: BLECRYPT_CLI (the built CLI), BLECRYPT_SOURCE_DIR (default: two folders up).
"""

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(os.environ.get("BLECRYPT_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
CLI = os.environ.get("BLECRYPT_CLI", "")
SECTION = re.compile(r"^(\w[\w ]*):\s*$")
ALWAYS = {"--help", "--version"}


def help_of(path):
    out = subprocess.run([CLI, *path, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{' '.join(path)} --help exited {out.returncode}: {out.stderr}"
    subcommands, options, section = [], [], None
    for line in out.stdout.splitlines():
        m = SECTION.match(line)
        if m:
            section = m.group(1).lower()
            continue
        if not line.startswith("  ") or line.startswith("   " * 10):
            continue
        first = line.split()[0] if line.split() else ""
        if section == "subcommands":
            subcommands.append(first)
        elif section == "options":
            options += [o for o in re.findall(r"--[\w-]+", first)]
    return subcommands, options


def walk():
    found = []
    todo = [[]]
    while todo:
        path = todo.pop()
        subs, opts = help_of(path)
        found.append((path, opts))
        todo += [path + [s] for s in subs]
    return found


@pytest.fixture(scope="module")
def tree():
    if not (CLI and os.access(CLI, os.X_OK)):
        pytest.fail("BLECRYPT_CLI must name the built blecrypt executable")
    return walk()


@pytest.fixture(scope="module")
def doc():
    return (ROOT / "docs" / "cli.md").read_text()


def test_the_walk_finds_the_verbs(tree):
    paths = {" ".join(p) for p, _ in tree}
    assert {"demo", "crypto self-test", "bench crypto"} <= paths


def test_every_verb_and_option_is_documented(tree, doc):
    missing = []
    for path, options in tree:
        if path and f"`{' '.join(path)}" not in doc:
            missing.append(f"verb `{' '.join(path)}`")
        for o in options:
            if o not in ALWAYS and not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", doc):
                missing.append(f"option {o} of `{' '.join(path) or 'blecrypt'}`")
    assert not missing, "docs/cli.md lacks: " + ", ".join(missing)
