#!/usr/bin/python3
"""Start a private system bus with the BlueZ mock and some devices, for manual runs and C++ tests.

    tests/bluez/run_mock.py --bluetti AC180@C4:DE:E2:11:22:33 --sesame 5@E1:5E:5A:00:00:05
    # prints:  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/blecrypt-bluez-.../system_bus_socket
    #          DEVICE=/org/bluez/hci0/dev_C4_DE_E2_11_22_33 ...
    #          READY
    # then runs until SIGINT/SIGTERM, or until stdin reaches EOF with --stdin-eof (a test that
    # launched it closes the pipe to stop it).

Use /usr/bin/python3 (dbus-python and dbusmock are Debian packages). PYTHONPATH must contain
the built blecrypt package for emulated devices (default: build/dev/python).
"""

import argparse
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BluezMock, TEST_OPTIONS  # noqa: E402


def _split(spec: str, default_model: str):
    model, _, address = spec.rpartition("@")
    return (model or default_model), address


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapter", default="hci0")
    ap.add_argument("--bluetti", action="append", default=[], metavar="MODEL@ADDRESS",
                    help="emulated BLUETTI (AC180, EL30V2, EB3A)")
    ap.add_argument("--sesame", action="append", default=[], metavar="MODEL@ADDRESS",
                    help="emulated SESAME (5, 5pro, 5us)")
    ap.add_argument("--le", action="append", default=[], metavar="NAME@ADDRESS", help="generic LE device")
    ap.add_argument("--mtu", type=int, help="ATT MTU of every device (default 23)")
    ap.add_argument("--cached", action="store_true", help="devices are known to bluetoothd (no scan needed)")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="mock tunable (temporary_timeout, advert_interval, connect_delay, ...)")
    ap.add_argument("--stdin-eof", action="store_true", help="exit when stdin is closed")
    args = ap.parse_args(argv)

    options = dict(TEST_OPTIONS)
    for o in args.option:
        k, _, v = o.partition("=")
        options[k] = float(v)
    dev_opts = {}
    if args.mtu:
        dev_opts["mtu"] = args.mtu
    if args.cached:
        dev_opts["cached"] = True

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with BluezMock(adapter=args.adapter, options=options) as bz:
        print(f"DBUS_SYSTEM_BUS_ADDRESS={bz.address}")
        for spec in args.bluetti:
            print(f"DEVICE={bz.add_bluetti(*_split(spec, 'AC180'), **dev_opts)}")
        for spec in args.sesame:
            print(f"DEVICE={bz.add_sesame(*_split(spec, '5'), **dev_opts)}")
        for spec in args.le:
            name, address = _split(spec, "")
            print(f"DEVICE={bz.add_le_device(address, name=name, **dev_opts)}")
        print(f"LOG={bz.mock_log}")
        print("READY", flush=True)
        if args.stdin_eof:
            threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        while not stop.wait(0.2):
            if bz.mock_proc is None or bz.mock_proc.poll() is not None:
                print("mock exited", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
