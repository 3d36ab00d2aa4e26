"""Private system bus + BlueZ mock for tests (pytest fixture, context manager, shell via run_mock.py).

    from harness import BluezMock
    with BluezMock() as bz:                       # dbus-daemon + mock + powered adapter hci0
        dev = bz.add_bluetti("AC180", "C4:DE:E2:11:22:33")
        subprocess.run([...], env=bz.env)         # DBUS_SYSTEM_BUS_ADDRESS points at the private bus
        bz.drop_link(dev); bz.restart_bluetoothd()

Everything runs as children of the caller (no systemd, no root needed); close() kills them by
pid. Only /usr/bin/python3 has dbus-python and dbusmock, so the mock always runs under it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import dbus

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEMPLATE = HERE / "bluez_mock.py"
PYTHON = "/usr/bin/python3"
MOCK_IFACE = "org.bluez.Mock"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

# Short timings so tests run quickly; bluetoothd's own defaults are in bluez_mock.OPTIONS.
TEST_OPTIONS = {"temporary_timeout": 3, "advert_interval": 0.1}


def _die_with_parent() -> None:
    """Child side of Popen: SIGTERM when the test process dies, so nothing outlives a killed run."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass


def default_pythonpath() -> str:
    """Where `import blecrypt` works for the mock: $PYTHONPATH, else build/dev/python."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    for preset in ("dev", "release", "asan"):
        cand = REPO / "build" / preset / "python"
        if (cand / "blecrypt").is_dir():
            paths.append(str(cand))
            break
    if (REPO / "build" / "python" / "blecrypt").is_dir():
        paths.append(str(REPO / "build" / "python"))
    return os.pathsep.join(paths)


def _variant_options(options: Dict) -> dbus.Dictionary:
    out = {}
    for k, v in options.items():
        if isinstance(v, bool):
            out[k] = dbus.Boolean(v)
        elif k == "mtu":
            out[k] = dbus.UInt16(v)
        elif k == "rssi":
            out[k] = dbus.Int16(v)
        elif isinstance(v, int):
            out[k] = dbus.UInt64(v)
        elif isinstance(v, (bytes, bytearray)):
            out[k] = dbus.ByteArray(bytes(v))
        elif k == "manufacturer_data":
            out[k] = dbus.Dictionary({dbus.UInt16(c): dbus.ByteArray(bytes(d)) for c, d in v.items()},
                                     signature="qv")
        elif k == "service_data":
            out[k] = dbus.Dictionary({dbus.String(u): dbus.ByteArray(bytes(d)) for u, d in v.items()},
                                     signature="sv")
        elif k == "uuids":
            out[k] = dbus.Array(v, signature="s")
        elif k == "gatt":
            out[k] = dbus.Array([dbus.Struct((s, dbus.Array([dbus.Struct((c, dbus.Array(f, signature="s")))
                                                              for c, f in chars], signature="(sas)")))
                                 for s, chars in v], signature="(sa(sas))")
        else:
            out[k] = dbus.String(str(v))
    return dbus.Dictionary(out, signature="sv")


class BluezMock:
    """A private dbus-daemon (system-bus config) with the BlueZ mock on it."""

    def __init__(self, adapter: str = "hci0", options: Optional[Dict] = None, pythonpath: Optional[str] = None,
                 tmpdir: Optional[str] = None, timeout: float = 10.0):
        self.adapter_name = adapter
        self.adapter = f"/org/bluez/{adapter}"
        self.options = dict(TEST_OPTIONS if options is None else options)
        self.pythonpath = default_pythonpath() if pythonpath is None else pythonpath
        self._own_tmp = tmpdir is None
        self.tmpdir = Path(tempfile.mkdtemp(prefix="blecrypt-bluez-") if tmpdir is None else tmpdir)
        self.timeout = timeout
        self.socket = self.tmpdir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.mock_log = self.tmpdir / "mock.log"
        self.daemon: Optional[subprocess.Popen] = None
        self.mock_proc: Optional[subprocess.Popen] = None
        self._bus: Optional[dbus.bus.BusConnection] = None
        self._devices: List[tuple] = []   # replayed after restart_bluetoothd()

    # ---- lifecycle
    def __enter__(self) -> "BluezMock":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def env(self) -> Dict[str, str]:
        """os.environ for children: DBUS_SYSTEM_BUS_ADDRESS set to the private bus."""
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def start(self) -> None:
        self.start_bus()
        self.start_mock()

    def start_bus(self) -> None:
        conf = self.tmpdir / "system-bus.conf"
        conf.write_text(BUS_CONFIG.format(socket=self.socket))
        self.daemon = subprocess.Popen(["dbus-daemon", "--nofork", "--nopidfile", f"--config-file={conf}",
                                        "--print-address=1"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                       stderr=open(self.tmpdir / "dbus-daemon.stderr", "ab"),
                                       start_new_session=True, preexec_fn=_die_with_parent)
        line = self.daemon.stdout.readline().decode().strip()   # printed once the socket listens
        if not line:
            raise RuntimeError("dbus-daemon did not start")
        self._bus = dbus.bus.BusConnection(self.address)

    def start_mock(self, add_adapter: bool = True) -> None:
        env = self.env
        cmd = [PYTHON, "-m", "dbusmock", "--system", "-t", str(TEMPLATE), "-l", str(self.mock_log)]
        if self.options:
            cmd += ["-p", json.dumps(self.options)]
        self.mock_proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=open(self.tmpdir / "mock.stderr", "ab"), start_new_session=True,
                                          preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.timeout
        while not self._bus.name_has_owner("org.bluez"):
            if self.mock_proc.poll() is not None:
                raise RuntimeError(f"BlueZ mock exited: {self.stderr()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"org.bluez did not appear: {self.stderr()}")
            time.sleep(0.02)
        if add_adapter:
            self.mock.AddAdapter(self.adapter_name, "blecrypt-test")

    def stderr(self) -> str:
        p = self.tmpdir / "mock.stderr"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def stop_mock(self) -> None:
        """bluetoothd goes away: org.bluez leaves the bus."""
        p, self.mock_proc = self.mock_proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        deadline = time.monotonic() + self.timeout
        while self._bus is not None and self._bus.name_has_owner("org.bluez") and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart_bluetoothd(self, gap: float = 0.0) -> None:
        """Stop the mock, wait `gap` seconds, start it again with the same adapter and devices
        (a restarted bluetoothd forgets connections and temporary devices; cached ones return)."""
        self.stop_mock()
        if gap:
            time.sleep(gap)
        self.start_mock()
        devices, self._devices = self._devices, []
        for call in devices:
            getattr(self, call[0])(*call[1], **call[2])

    def close(self) -> None:
        self.stop_mock()
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        d, self.daemon = self.daemon, None
        if d is not None:
            if d.poll() is None:
                d.terminate()
                try:
                    d.wait(5)
                except subprocess.TimeoutExpired:
                    d.kill()
                    d.wait()
            d.stdout.close()
        if self._own_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # ---- D-Bus access
    @property
    def bus(self) -> dbus.bus.BusConnection:
        assert self._bus is not None, "not started"
        return self._bus

    @property
    def mock(self) -> dbus.Interface:
        return dbus.Interface(self.bus.get_object("org.bluez", "/"), MOCK_IFACE)

    def managed_objects(self) -> dict:
        return dbus.Interface(self.bus.get_object("org.bluez", "/"),
                              "org.freedesktop.DBus.ObjectManager").GetManagedObjects()

    def props(self, path: str, interface: str) -> dict:
        return dbus.Interface(self.bus.get_object("org.bluez", path),
                              "org.freedesktop.DBus.Properties").GetAll(interface)

    # ---- devices (recorded, so restart_bluetoothd() can put them back)
    def add_emulated(self, kind: str, model: str, address: str, **options) -> str:
        path = str(self.mock.AddEmulatedDevice(self.adapter_name, kind, model, address, _variant_options(options)))
        self._devices.append(("add_emulated", (kind, model, address), options))
        return path

    def add_bluetti(self, model: str = "AC180", address: str = "C4:DE:E2:11:22:33", **options) -> str:
        return self.add_emulated("bluetti", model, address, **options)

    def add_sesame(self, model: str = "5", address: str = "E1:5E:5A:00:00:05", **options) -> str:
        return self.add_emulated("sesame", model, address, **options)

    def add_le_device(self, address: str, **options) -> str:
        """Generic peripheral; options as Mock.AddLeDevice (name, rssi, manufacturer_data {id: bytes},
        service_data {uuid: bytes}, uuids, gatt [(service, [(char, [flags])])], mtu, cached)."""
        path = str(self.mock.AddLeDevice(self.adapter_name, address, _variant_options(options)))
        self._devices.append(("add_le_device", (address,), options))
        return path

    # ---- faults
    def drop_link(self, device: str) -> None:
        self.mock.DropLink(dbus.ObjectPath(device))

    def drop_link_after(self, device: str, what: str, count: int) -> None:
        self.mock.DropLinkAfter(dbus.ObjectPath(device), what, dbus.UInt32(count))

    def set_silent(self, device: str, silent: bool = True) -> None:
        self.mock.SetSilent(dbus.ObjectPath(device), silent)

    def set_connect_fault(self, device: str, mode: str, count: int = 1) -> None:
        self.mock.SetConnectFault(dbus.ObjectPath(device), mode, dbus.UInt32(count))

    def set_mtu(self, device: str, mtu: int) -> None:
        self.mock.SetMtu(dbus.ObjectPath(device), dbus.UInt16(mtu))

    def set_in_range(self, device: str, in_range: bool) -> None:
        self.mock.SetInRange(dbus.ObjectPath(device), in_range)

    def remove_peripheral(self, device: str) -> None:
        self.mock.RemovePeripheral(dbus.ObjectPath(device))
        self._devices = [d for d in self._devices if not str(d[1][-1]).upper().replace(":", "_") in device]

    def power(self, on: bool) -> None:
        self.mock.SetPowered(self.adapter_name, on)

    def set_option(self, name: str, value: float) -> None:
        self.mock.SetMockOption(name, dbus.Double(value))

    # ---- peripheral side
    def notify(self, characteristic: str, data: bytes) -> None:
        self.mock.Notify(dbus.ObjectPath(characteristic), dbus.ByteArray(data))

    def written(self, characteristic: str) -> List[bytes]:
        return [bytes(w) for w in self.mock.GetWritten(dbus.ObjectPath(characteristic))]

    def emulator_state(self, device: str) -> dict:
        return {str(k): (bool(v) if isinstance(v, dbus.Boolean) else int(v) if isinstance(v, dbus.Int64) else str(v))
                for k, v in self.mock.GetEmulatorState(dbus.ObjectPath(device)).items()}

    def wait_for(self, predicate, timeout: float = 5.0, what: str = "condition"):
        """Polls predicate() until it is truthy (returns its value) or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.02)


def device_path(address: str, adapter: str = "hci0") -> str:
    return f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"
