#!/usr/bin/python3
"""The BlueZ mock (tests/bluez/harness.py) for the C++ transport tests, steered over stdin.

Prints DBUS_SYSTEM_BUS_ADDRESS=... then READY. Commands, one per line, each answered by OK or
ERR <message>:  stop-bluez (org.bluez leaves the bus), start-bluez (back, with hci0).
EOF on stdin: stop everything and exit.
Flags: --no-bluez (start with the bus only), --no-adapter.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bluez"))
from harness import BluezMock, TEST_OPTIONS  # noqa: E402


def main() -> int:
    args = sys.argv[1:]
    bz = BluezMock(options=dict(TEST_OPTIONS))
    try:
        bz.start_bus()
        if "--no-bluez" not in args:
            bz.start_mock(add_adapter="--no-adapter" not in args)
        print(f"DBUS_SYSTEM_BUS_ADDRESS={bz.address}", flush=True)
        print("READY", flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            try:
                if cmd == "stop-bluez":
                    bz.stop_mock()
                elif cmd == "start-bluez":
                    bz.start_mock()
                else:
                    raise ValueError(f"unknown command {cmd!r}")
                print("OK", flush=True)
            except Exception as e:  # noqa: BLE001 - reported to the test
                print(f"ERR {e}", flush=True)
    finally:
        bz.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
