"""``python3 -m blecrypt.bench``: what blecrypt.ble costs on the Python side, over the fake bleak
client (no radio, no D-Bus): microseconds per BLUETTI telemetry refresh and per SESAME lock
command, with the emulator's own share measured and taken out.

    python3 -m blecrypt.bench [--count N] [--mtu 23] [--model AC180] [--json]

"total" is one API call from the caller's ``await`` to its result (the asyncio loop, the session,
the C++ client engine, the fake link's notification splitting and the emulator); "peer" is the
time spent inside the emulator (the device's side, a real unit's job); "client" = total - peer.
Times are medians of the per-call times on this machine, not a promise of speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from blecrypt.ble import BluettiDevice, SesameLock
from blecrypt.bluetti import model_names
from blecrypt.ble.testing import EmulatedBluetti, EmulatedSesame, FakeBleakClient, Peripheral


class _Timed:
    """Wraps a peripheral's methods to add up the time spent in the emulator."""

    def __init__(self, peer: Peripheral) -> None:
        self.spent = 0.0
        for name in ("subscribe", "write", "on_deadline"):
            setattr(peer, name, self._wrap(getattr(peer, name)))

    def _wrap(self, fn: Callable[..., List[bytes]]) -> Callable[..., List[bytes]]:
        def timed(*args: Any) -> List[bytes]:
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.spent += time.perf_counter() - t0
        return timed


def _summary(totals: List[float], peers: List[float]) -> Dict[str, float]:
    total = statistics.median(totals) * 1e6
    peer = statistics.median(peers) * 1e6
    return {"total_us": round(total, 1), "peer_us": round(peer, 1), "client_us": round(total - peer, 1)}


async def bench_bluetti(count: int, mtu: int, model: str = "AC180") -> Dict[str, float]:
    peer = EmulatedBluetti(model, seed=1)
    timer = _Timed(peer)
    client = FakeBleakClient(peer, mtu=mtu)
    totals: List[float] = []
    peers: List[float] = []
    async with BluettiDevice("C4:DE:E2:11:22:33", device_verify_key=peer.verify_key, client=client) as dev:
        await dev.read_telemetry()  # detects the register layout once
        for _ in range(count):
            timer.spent = 0.0
            t0 = time.perf_counter()
            await dev.read_telemetry()
            totals.append(time.perf_counter() - t0)
            peers.append(timer.spent)
    out = _summary(totals, peers)
    out["writes_per_refresh"] = round(len(client.writes) / (count + 1), 1)
    out["notifications_per_refresh"] = round(client.notifications / (count + 1), 1)
    return out


async def bench_sesame(count: int, mtu: int) -> Dict[str, float]:
    secret = bytes(range(16))
    peer = EmulatedSesame(secret=secret, seed=1)
    timer = _Timed(peer)
    client = FakeBleakClient(peer, mtu=mtu)
    totals: List[float] = []
    peers: List[float] = []
    async with SesameLock("E1:5E:5A:00:00:05", secret=secret, client=client) as lock:
        for i in range(count):
            timer.spent = 0.0
            t0 = time.perf_counter()
            if i % 2:
                await lock.unlock("bench")
            else:
                await lock.lock("bench")
            totals.append(time.perf_counter() - t0)
            peers.append(timer.spent)
    return _summary(totals, peers)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m blecrypt.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=500, help="calls per scenario (default 500)")
    ap.add_argument("--mtu", type=int, default=23, help="ATT MTU of the fake link (23..517, default 23)")
    ap.add_argument("--model", default="AC180", choices=model_names(),
                    help="emulated BLUETTI model; a refresh reads its table's poll blocks "
                         "(`blecrypt bluetti fields MODEL`), default AC180")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if not 1 <= args.count <= 1_000_000:
        ap.error("--count must be 1..1000000")
    if not 23 <= args.mtu <= 517:
        ap.error("--mtu must be 23..517")
    results = {
        "bluetti_telemetry_refresh": asyncio.run(bench_bluetti(args.count, args.mtu, args.model)),
        "sesame_lock_command": asyncio.run(bench_sesame(args.count, args.mtu)),
    }
    if args.json:
        print(json.dumps({"mtu": args.mtu, "count": args.count, "model": args.model, **results}))
        return 0
    print(f"blecrypt.ble over the fake bleak client, MTU {args.mtu}, {args.model}, {args.count} calls each "
          f"(median per call)")
    print(f"{'scenario':<28}{'total µs':>10}{'peer µs':>10}{'client µs':>11}")
    for name, r in results.items():
        print(f"{name:<28}{r['total_us']:>10.1f}{r['peer_us']:>10.1f}{r['client_us']:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
