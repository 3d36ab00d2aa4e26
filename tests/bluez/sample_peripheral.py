#!/usr/bin/python3
"""A minimal BlueZ peripheral (GATT application + advertisement) used to test the mock's
GattManager1 / LEAdvertisingManager1 side, the way `blecrypt emulate` will register itself.

Service 12345678-0000-1000-8000-00805f9b34fb with
  ...0001 "write", "write-without-response": every write is echoed as a notification on ...0002
  ...0002 "notify", "read"
Prints "REGISTERED" once both registrations succeeded; exits on SIGTERM or when the bus goes.
"""

import signal
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

SERVICE_UUID = "12345678-0000-1000-8000-00805f9b34fb"
WRITE_UUID = "12345678-0001-1000-8000-00805f9b34fb"
NOTIFY_UUID = "12345678-0002-1000-8000-00805f9b34fb"
ROOT = "/org/blecrypt/sample"
CHRC = "org.bluez.GattCharacteristic1"


class Obj(dbus.service.Object):
    def __init__(self, bus, path, iface, props):
        super().__init__(bus, path)
        self.path, self.iface, self.props = path, iface, props

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return self.props if iface == self.iface else {}

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, name):
        return self.props[name]

    @dbus.service.signal(dbus.PROPERTIES_IFACE, signature="sa{sv}as")
    def PropertiesChanged(self, iface, changed, invalidated):
        pass


class Chrc(Obj):
    def __init__(self, bus, path, uuid, flags, app):
        super().__init__(bus, path, CHRC, {"UUID": uuid, "Service": dbus.ObjectPath(ROOT + "/service0"),
                                           "Flags": dbus.Array(flags, signature="s")})
        self.app, self.value, self.notifying = app, b"", False

    @dbus.service.method(CHRC, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        return dbus.Array(self.value, signature="y")

    @dbus.service.method(CHRC, in_signature="aya{sv}", out_signature="")
    def WriteValue(self, value, options):
        self.app.notify.send(bytes(value))
        self.app.last_options = {str(k): str(v) for k, v in options.items()}

    @dbus.service.method("org.blecrypt.Sample", out_signature="a{ss}")
    def LastOptions(self):
        return self.app.last_options

    @dbus.service.method(CHRC, in_signature="", out_signature="")
    def StartNotify(self):
        self.notifying = True

    @dbus.service.method(CHRC, in_signature="", out_signature="")
    def StopNotify(self):
        self.notifying = False

    def send(self, data):
        self.value = data
        if self.notifying:
            self.PropertiesChanged(CHRC, {"Value": dbus.Array(data, signature="y")}, [])


class App(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, ROOT)
        self.last_options = {}
        self.service = Obj(bus, ROOT + "/service0", "org.bluez.GattService1",
                           {"UUID": SERVICE_UUID, "Primary": True})
        self.notify = Chrc(bus, ROOT + "/service0/char1", NOTIFY_UUID, ["notify", "read"], self)
        self.write = Chrc(bus, ROOT + "/service0/char0", WRITE_UUID, ["write", "write-without-response"], self)

    @dbus.service.method("org.freedesktop.DBus.ObjectManager", out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        return {dbus.ObjectPath(o.path): {o.iface: o.props} for o in (self.service, self.notify, self.write)}


class Advert(Obj):
    def __init__(self, bus):
        super().__init__(bus, ROOT + "/advert0", "org.bluez.LEAdvertisement1", {
            "Type": "peripheral", "LocalName": "blecrypt-sample",
            "ServiceUUIDs": dbus.Array([SERVICE_UUID], signature="s"),
            "ManufacturerData": dbus.Dictionary({dbus.UInt16(0xFFFF): dbus.Array(b"\x01\x02", signature="y")},
                                                signature="qv")})

    @dbus.service.method("org.bluez.LEAdvertisement1")
    def Release(self):
        pass


def main() -> int:
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    loop = GLib.MainLoop()
    app, adv = App(bus), Advert(bus)  # noqa: F841  (kept referenced while exported)
    adapter = bus.get_object("org.bluez", sys.argv[1] if len(sys.argv) > 1 else "/org/bluez/hci0")
    done = []

    def ok(*_):
        done.append(1)
        if len(done) == 2:
            print("REGISTERED", flush=True)

    def fail(e):
        print(f"FAILED {e}", flush=True)
        loop.quit()

    dbus.Interface(adapter, "org.bluez.GattManager1").RegisterApplication(
        ROOT, {}, reply_handler=ok, error_handler=fail)
    dbus.Interface(adapter, "org.bluez.LEAdvertisingManager1").RegisterAdvertisement(
        adv.path, {}, reply_handler=ok, error_handler=fail)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda *_: loop.quit() or False)
    bus.call_on_disconnection(lambda *_: loop.quit())
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
