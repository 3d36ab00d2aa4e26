"""Read a BLUETTI power station and switch its AC output on: python3 bluetti_status.py ADDRESS"""
import asyncio
import sys

from blecrypt.ble import BluettiDevice


async def main(address: str) -> None:
    async with BluettiDevice(address) as station:      # connect, subscribe, encrypted handshake
        t = await station.read_telemetry()
        print(f"{t.device_type} {t.serial_number}: {t.total_battery_percent} %, "
              f"in {t.ac_input_power + t.dc_input_power} W, out {t.ac_output_power + t.dc_output_power} W")
        await station.set_output(ac=True)              # confirmed by reading the register back

asyncio.run(main(sys.argv[1]))
