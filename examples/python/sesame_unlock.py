"""Unlock a SESAME 5 with its secret, then show the lock's history: python3 sesame_unlock.py ADDRESS SECRET"""
import asyncio
import sys

from blecrypt.ble import SesameLock


async def main(address: str, secret: str) -> None:
    async with SesameLock(address, secret=secret) as lock:   # 32 hex digits, or qr="ssm://UI?..."
        lock.on_state(lambda s: print("lock is", s.state, f"(battery {s.battery_percent} %)"))
        await lock.unlock("python")
        async for record in lock.history():
            print(record.type_name, record.tag.text)

asyncio.run(main(sys.argv[1], sys.argv[2]))
