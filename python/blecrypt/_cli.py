"""The ``blecrypt`` console command of a pip install: runs the CLI binary built with the package
(blecrypt/_bin/blecrypt, the same program as build/release/blecrypt; docs/cli.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional


def binary() -> Optional[Path]:
    """The bundled CLI, or None when this copy of the package was not built with it (a build
    tree on PYTHONPATH: use build/<preset>/blecrypt there)."""
    path = Path(__file__).resolve().parent / "_bin" / "blecrypt"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    exe = binary()
    if exe is None:
        print("blecrypt: the CLI binary is not part of this installation (pip install . builds it); "
              "for a scan from Python: python3 -m blecrypt.ble scan", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(exe), [str(exe), *args])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
