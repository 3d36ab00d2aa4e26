"""``python -m blecrypt.ble scan [--timeout S] [--all]``: what is near, classified."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import List, Optional

from .errors import BleError
from .scan import scan


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blecrypt.ble", description="blecrypt over bleak")
    sub = ap.add_subparsers(dest="verb", required=True)
    sc = sub.add_parser("scan", help="list BLUETTI and SESAME devices in range")
    sc.add_argument("--timeout", type=float, default=5.0, help="seconds to scan (default 5)")
    sc.add_argument("--all", action="store_true", help="list every device, not only BLUETTI and SESAME")
    args = ap.parse_args(argv)
    if args.timeout <= 0 or args.timeout > 600:
        ap.error("--timeout must be in (0, 600] seconds")
    try:
        found = asyncio.run(scan(args.timeout, all_devices=args.all))
    except BleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    for ad in found:
        print(ad.describe())
    if not found:
        print("nothing found", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
