"""Every command sample in README.md and docs/*.md runs as written.

A sample is a line of a fenced ```sh block whose first word is the CLI, `build/release/blecrypt`
(the one path the docs use: where ./scripts/demo puts it). Each one runs with bash, with that word
replaced by the CLI under test (BLECRYPT_CLI), from a scratch folder that links the repository's
top-level entries (so `docs/...`, `tests/vectors/...` resolve and written files stay out of the
tree), stdin closed, 300 s at most, and must exit 0.

Markers, in a trailing comment of the sample line (docs/cli.md, "Samples in the docs"):
  # doc-test: skip (REASON)   not run (needs hardware, a radio, a second terminal...); REASON required
  # doc-test: exit N          must exit with N instead of 0 (to show an error case)
A `\\` at the end of a line continues the sample on the next line. Lines of a ```sh block that
do not start with the CLI (cmake, python3, ./scripts/...) are not run here: scripts/test runs
those paths itself. A sample that names the CLI by another path (`blecrypt`, `build/dev/blecrypt`)
fails, and so does a fenced block without a language that holds a CLI line (tag it ```sh, or
```text when it is output). A block preceded by `<!-- doc-test: same-as PATH -->` must equal the
repository file PATH, or its part between `// doc-example begin` and `// doc-example end` lines
(how docs/architecture.md keeps its C++ example compiled). Every relative Markdown link must
resolve, and no path may point outside the repository (the project's sibling folders, `/work/...`).

Environment: BLECRYPT_CLI (required), BLECRYPT_DOC (one file relative to the repository; default:
README.md and every docs/*.md), BLECRYPT_SOURCE_DIR (default: two folders up).
"""

import os
import pathlib
import re
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(os.environ.get("BLECRYPT_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
CLI_PATH = "build/release/blecrypt"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
SAME_AS = re.compile(r"<!--\s*doc-test:\s*same-as\s+(\S+)\s*-->\s*$")
SKIP = re.compile(r"#\s*doc-test:\s*skip\s*\((?P<reason>[^)]+)\)")
EXIT = re.compile(r"#\s*doc-test:\s*exit\s+(?P<code>\d+)")
# A word that is some path to the CLI, or the bare name, at the start of a command.
OTHER_CLI = re.compile(r"^(?:\S*/)?blecrypt(?:\s|$)")


def short(cmd):
    """A readable test id: the command without its trailing comment."""
    return re.sub(r"\s+#.*$", "", cmd)[:80]


def doc_files():
    one = os.environ.get("BLECRYPT_DOC")
    if one:
        return [ROOT / one]
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def collect():
    """(id, kind, payload) for every sample line, sameness check and misplaced CLI line."""
    items = []
    for path in doc_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        for m in FENCE.finditer(text):
            lang = m.group("lang").strip()
            first_line = text.count("\n", 0, m.start()) + 2  # line number of the block's first line
            body = m.group("body")
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            same = SAME_AS.search(before)
            if same:
                items.append((f"{rel}:{first_line - 1} same-as {same.group(1)}", "same", (body, same.group(1))))
                continue
            lines = body.split("\n")
            i = 0
            while i < len(lines):
                start = i
                line = lines[i]
                while line.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    line = line[:-1] + " " + lines[i].strip()
                i += 1
                cmd = line.strip()
                lineno = first_line + start
                if lang in ("sh", "bash", "shell", "console"):
                    if cmd.startswith(CLI_PATH + " ") or cmd == CLI_PATH:
                        items.append((f"{rel}:{lineno} {short(cmd)}", "run", cmd))
                    elif OTHER_CLI.match(cmd):
                        items.append((f"{rel}:{lineno} {short(cmd)}", "path", cmd))
                elif lang == "" and OTHER_CLI.match(cmd):
                    items.append((f"{rel}:{lineno} {short(cmd)}", "untagged", cmd))
    return items


ITEMS = collect()


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="blecrypt-doc-") as d:
        for entry in ROOT.iterdir():
            if entry.name not in (".git", "build"):
                os.symlink(entry, pathlib.Path(d) / entry.name)
        yield pathlib.Path(d)


def test_there_are_samples():
    if os.environ.get("BLECRYPT_DOC"):
        pytest.skip("one file checked; it may hold no sample")
    assert any(kind == "run" for _, kind, _ in ITEMS), "no runnable sample found in README.md or docs/"


@pytest.mark.parametrize("kind,payload", [(k, p) for _, k, p in ITEMS], ids=[i for i, _, _ in ITEMS])
def test_sample(kind, payload, scratch):
    if kind == "path":
        pytest.fail(f"the docs name the CLI {CLI_PATH} (docs/cli.md); this sample uses another path: {payload}")
    if kind == "untagged":
        pytest.fail(f"a CLI sample in a fenced block without a language: tag it ```sh (or ```text for output): {payload}")
    if kind == "same":
        body, rel = payload
        want = (ROOT / rel).read_text()
        if "// doc-example begin" in want:  # only the marked region of a source file
            want = want.split("// doc-example begin\n", 1)[1].split("// doc-example end", 1)[0]
        assert body.strip("\n") == want.strip("\n"), f"the block differs from {rel}: copy the file into the doc again"
        return
    skip = SKIP.search(payload)
    if skip:
        pytest.skip(skip.group("reason"))
    expected = int(EXIT.search(payload).group("code")) if EXIT.search(payload) else 0
    cli = os.environ.get("BLECRYPT_CLI")
    assert cli and os.access(cli, os.X_OK), "BLECRYPT_CLI must name the built blecrypt executable"
    command = os.path.abspath(cli) + payload[len(CLI_PATH):]
    proc = subprocess.run(["bash", "-c", command], cwd=scratch, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == expected, (
        f"exit {proc.returncode}, expected {expected}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-2000:]}")


LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s#]+)(?:#[^)]*)?\)")
OUTSIDE = re.compile(r"(?<![\w.])(?:\.\./shared/|/work/|\.\./\.\./)\S*")


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_stay_in_the_repository(path):
    """Relative links resolve to files of the repository, and no path points outside it."""
    text = path.read_text()
    problems = [f"broken link {m.group(1)}" for m in LINK.finditer(text)
                if not (path.parent / m.group(1)).resolve().exists()]
    problems += [f"path outside the repository: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not problems, "; ".join(problems)
