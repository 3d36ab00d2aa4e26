'''blecrypt's mock of bluetoothd 5.66 for tests (a python-dbusmock template).

    /usr/bin/python3 -m dbusmock --system -t tests/bluez/bluez_mock.py [-p '{"temporary_timeout": 3}']

Builds on dbusmock's `bluez5` template (org.bluez.Mock, AgentManager1, ProfileManager1) and
replaces what a BLE central needs with BlueZ 5.66 behaviour as src/device.c, src/adapter.c and
src/gatt-client.c implement it: discovery with filters and temporary devices, Device1.Connect /
Disconnect with Connected then ServicesResolved, GATT objects created on connect and removed on
disconnect, ReadValue / WriteValue / StartNotify / StopNotify / AcquireWrite / AcquireNotify with
BlueZ's error names, GattManager1.RegisterApplication and LEAdvertisingManager1. Remote devices
are generic (tests push notifications) or backed by blecrypt's emulators (tests/bluez/emulated.py).
Faults are injected over org.bluez.Mock. docs/testing-bluez.md describes all of it.
'''

import os
import socket
import sys
import time

import dbus
import dbus.service
from gi.repository import GLib

from dbusmock import OBJECT_MANAGER_IFACE, mockobject
from dbusmock.templates.bluez5 import *  # noqa: F401,F403  BUS_NAME, MAIN_OBJ, load, the stock Mock API
from dbusmock.templates import bluez5 as _stock

HERE = os.path.dirname(os.path.abspath(__file__))

ADAPTER_IFACE = 'org.bluez.Adapter1'
DEVICE_IFACE = 'org.bluez.Device1'
SERVICE_IFACE = 'org.bluez.GattService1'
CHRC_IFACE = 'org.bluez.GattCharacteristic1'
DESC_IFACE = 'org.bluez.GattDescriptor1'
GATT_MANAGER_IFACE = 'org.bluez.GattManager1'
ADV_MANAGER_IFACE = 'org.bluez.LEAdvertisingManager1'
ADV_IFACE = 'org.bluez.LEAdvertisement1'
MOCK_IFACE = 'org.bluez.Mock'
CCCD = '00002902-0000-1000-8000-00805f9b34fb'

# Tunables (-p JSON parameters or Mock.SetMockOption). BlueZ's TemporaryTimeout is 30 s.
OPTIONS = {
    'temporary_timeout': 30.0,   # a temporary device is removed this long after it was last seen
    'advert_interval': 0.1,      # seconds between advertisements of every device in range
    'connect_delay': 0.02,       # Connect -> Connected
    'resolve_delay': 0.05,       # Connected -> GATT objects + ServicesResolved
    'connect_timeout': 2.0,      # a device out of range fails Connect after this long
    'op_delay': 0.0,             # ATT round trip of ReadValue / WriteValue(request)
    'default_mtu': 23,
}


def load(mock, parameters):
    _stock.load(mock, parameters)
    for k, v in (parameters or {}).items():
        if k in OPTIONS:
            OPTIONS[k] = float(v)


def _err(name, message):
    return dbus.exceptions.DBusException(message, name='org.bluez.Error.' + name)


def _now():
    return time.monotonic()


def _later(seconds, fn, *args):
    '''Runs fn(*args) once on the GLib main loop after `seconds`; returns the source id.'''
    def run():
        fn(*args)
        return False
    if seconds <= 0:
        return GLib.idle_add(run)
    return GLib.timeout_add(max(1, int(seconds * 1000)), run)


def _cancel(source):
    if source:
        GLib.source_remove(source)


def _bytes(value):
    return dbus.Array([dbus.Byte(b) for b in bytes(value)], signature='y', variant_level=1)


def _root():
    return mockobject.objects['/']


def _bus():
    return _root().connection


# ---- D-Bus objects ---------------------------------------------------------------------------

class _Node(mockobject.DBusMockObject):
    '''A mock object that lives in the ObjectManager tree of `/` and announces itself.'''

    def __init__(self, path, interface, props):
        root = _root()
        super().__init__(root.bus_name, path, interface, props)
        self.logfile = root.logfile
        self.is_logfile_owner = False
        self.object_manager = root
        mockobject.objects[path] = self

    def announce(self):
        _root().EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesAdded', 'oa{sa{sv}}',
                           [dbus.ObjectPath(self.path), self.props])

    def remove(self):
        _root().EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesRemoved', 'oas',
                           [dbus.ObjectPath(self.path), dbus.Array(list(self.props.keys()), signature='s')])
        self.remove_from_connection()
        mockobject.objects.pop(self.path, None)

    def changed(self, interface, values, invalidated=()):
        '''Stores `values` and emits one PropertiesChanged (BlueZ batches them the same way).'''
        for name in invalidated:
            self.props[interface].pop(name, None)
        self.props[interface].update(values)
        self.EmitSignal(dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                        [interface, dbus.Dictionary(values, signature='sv'),
                         dbus.Array(list(invalidated), signature='s')])


class Adapter(_Node):
    def __init__(self, name, alias):
        path = '/org/bluez/' + name
        n = int(name[-1]) if name[-1].isdigit() else 0
        props = {
            'Address': dbus.String(':'.join(f'{n + i:02X}' for i in range(6)), variant_level=1),
            'AddressType': dbus.String('public', variant_level=1),
            'Name': dbus.String(alias, variant_level=1),
            'Alias': dbus.String(alias, variant_level=1),
            'Class': dbus.UInt32(0x10c, variant_level=1),
            'Powered': dbus.Boolean(True, variant_level=1),
            'Discoverable': dbus.Boolean(False, variant_level=1),
            'DiscoverableTimeout': dbus.UInt32(180, variant_level=1),
            'Pairable': dbus.Boolean(True, variant_level=1),
            'PairableTimeout': dbus.UInt32(0, variant_level=1),
            'Discovering': dbus.Boolean(False, variant_level=1),
            'UUIDs': dbus.Array(['00001800-0000-1000-8000-00805f9b34fb', '00001801-0000-1000-8000-00805f9b34fb'],
                                signature='s', variant_level=1),
            'Modalias': dbus.String('usb:v1D6Bp0246d0542', variant_level=1),
            'Roles': dbus.Array(['central', 'peripheral'], signature='s', variant_level=1),
        }
        super().__init__(path, ADAPTER_IFACE, props)
        self.props[GATT_MANAGER_IFACE] = {}
        self.props[ADV_MANAGER_IFACE] = {
            'ActiveInstances': dbus.Byte(0, variant_level=1),
            'SupportedInstances': dbus.Byte(5, variant_level=1),
            'SupportedIncludes': dbus.Array(['tx-power', 'appearance', 'local-name'], signature='s', variant_level=1),
        }
        self.name = name
        self.remotes = {}        # device path -> Remote (everything in radio range or known)
        self.sessions = {}       # D-Bus sender -> discovery filter (dict)
        self.filters = {}        # D-Bus sender -> filter set before StartDiscovery
        self.watches = {}        # sender -> name-owner watch
        self.advert_source = None
        self.apps = {}           # (sender, root path) -> App
        self.adverts = {}        # (sender, path) -> props

    # -- discovery (src/adapter.c start_discovery / stop_discovery / set_discovery_filter)
    def powered(self):
        return bool(self.props[ADAPTER_IFACE]['Powered'])

    def _watch(self, sender):
        if sender and sender not in self.watches:
            def gone(owner, s=sender):
                if owner == '':   # the client left the bus: its sessions and registrations end
                    self.sessions.pop(s, None)
                    self.filters.pop(s, None)
                    w = self.watches.pop(s, None)
                    if w is not None:
                        w.cancel()
                    self._update_discovering()
                    for key in [k for k in self.apps if k[0] == s]:
                        self.apps.pop(key).close()
                    if any(k[0] == s for k in self.adverts):
                        self.adverts = {k: v for k, v in self.adverts.items() if k[0] != s}
                        self._adverts_changed()
            self.watches[sender] = _bus().watch_name_owner(sender, gone)

    def _update_discovering(self):
        on = bool(self.sessions)
        if on != bool(self.props[ADAPTER_IFACE]['Discovering']):
            self.changed(ADAPTER_IFACE, {'Discovering': dbus.Boolean(on, variant_level=1)})
        if on and self.advert_source is None:
            self.advert_source = GLib.timeout_add(max(1, int(OPTIONS['advert_interval'] * 1000)), self._advertise)
            _later(0, self._advertise)
        elif not on and self.advert_source is not None:
            _cancel(self.advert_source)
            self.advert_source = None
            # discovery ends: invalidate_rssi_and_tx_power() on every device (src/adapter.c)
            for remote in self.remotes.values():
                dev = remote.device
                if dev is not None and 'RSSI' in dev.props[DEVICE_IFACE]:
                    dev.changed(DEVICE_IFACE, {}, ['RSSI'])

    def _le_wanted(self):
        return any(f.get('Transport', 'auto') in ('le', 'auto') for f in self.sessions.values())

    def _duplicates(self):
        return any(bool(f.get('DuplicateData', False)) for f in self.sessions.values())

    def _advertise(self):
        if not self.sessions:
            return False
        if not self._le_wanted():
            return True
        filtered = any(self.sessions.values())
        for remote in list(self.remotes.values()):
            if remote.in_range and not remote.connected:
                remote.advertised(self._duplicates(), filtered, self.sessions.values())
        return True

    @dbus.service.method(ADAPTER_IFACE, in_signature='', out_signature='', sender_keyword='sender')
    def StartDiscovery(self, sender=None):
        if not self.powered():
            raise _err('NotReady', 'Resource Not Ready')
        if sender in self.sessions:
            raise _err('InProgress', 'Operation already in progress')
        self.sessions[sender] = dict(self.filters.get(sender, {}))
        self._watch(sender)
        self._update_discovering()

    @dbus.service.method(ADAPTER_IFACE, in_signature='', out_signature='', sender_keyword='sender')
    def StopDiscovery(self, sender=None):
        if not self.powered():
            raise _err('NotReady', 'Resource Not Ready')
        if sender not in self.sessions:
            raise _err('Failed', 'No discovery started')
        del self.sessions[sender]
        self._update_discovering()

    @dbus.service.method(ADAPTER_IFACE, in_signature='a{sv}', out_signature='', sender_keyword='sender')
    def SetDiscoveryFilter(self, properties, sender=None):
        if not self.powered():
            raise _err('NotReady', 'Resource Not Ready')
        known = {'UUIDs': 'as', 'RSSI': 'n', 'Pathloss': 'q', 'Transport': 's', 'DuplicateData': 'b',
                 'Discoverable': 'b', 'Pattern': 's'}
        f = {}
        for k, v in properties.items():
            if k not in known:
                raise _err('InvalidArguments', 'Invalid arguments in method call')
            if k == 'Transport' and str(v) not in ('auto', 'bredr', 'le'):
                raise _err('InvalidArguments', 'Invalid arguments in method call')
            f[str(k)] = [str(u).lower() for u in v] if k == 'UUIDs' else (str(v) if isinstance(v, str) else int(v))
        if 'RSSI' in f and 'Pathloss' in f:
            raise _err('InvalidArguments', 'Invalid arguments in method call')
        self.filters[sender] = f
        self._watch(sender)
        if sender in self.sessions:
            self.sessions[sender] = dict(f)

    @dbus.service.method(ADAPTER_IFACE, in_signature='', out_signature='as')
    def GetDiscoveryFilters(self):
        return ['UUIDs', 'RSSI', 'Pathloss', 'Transport', 'DuplicateData', 'Discoverable', 'Pattern']

    @dbus.service.method(ADAPTER_IFACE, in_signature='o', out_signature='')
    def RemoveDevice(self, path):
        remote = self.remotes.get(str(path))
        if remote is None or remote.device is None:
            raise _err('DoesNotExist', 'Does Not Exist')
        remote.forget()

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature='ssv', out_signature='')
    def Set(self, interface_name, property_name, value):
        if interface_name == ADAPTER_IFACE and property_name == 'Powered':
            self.set_powered(bool(value))
            return
        mockobject.DBusMockObject.Set(self, interface_name, property_name, value)

    def set_powered(self, on):
        if on == self.powered():
            return
        if not on:
            for remote in list(self.remotes.values()):
                remote.link_lost()
            self.sessions.clear()
            self._update_discovering()
        self.changed(ADAPTER_IFACE, {'Powered': dbus.Boolean(on, variant_level=1)})

    # -- GattManager1 (src/gatt-database.c): the mock reads the application's objects as a central
    @dbus.service.method(GATT_MANAGER_IFACE, in_signature='oa{sv}', out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def RegisterApplication(self, application, options, sender=None, ok=None, err=None):
        key = (sender, str(application))
        if key in self.apps:
            raise _err('AlreadyExists', 'Already Exists')
        app = App(self, sender, str(application))
        self.apps[key] = app
        self._watch(sender)

        def got(objects):
            problem = app.load(objects)
            if problem:
                del self.apps[key]
                err(_err('Failed', problem))
            else:
                ok()

        def failed(e):
            del self.apps[key]
            err(_err('Failed', 'No object received'))

        _bus().call_async(sender, str(application), OBJECT_MANAGER_IFACE, 'GetManagedObjects', '', (),
                          got, failed, timeout=10)

    @dbus.service.method(GATT_MANAGER_IFACE, in_signature='o', out_signature='', sender_keyword='sender')
    def UnregisterApplication(self, application, sender=None):
        app = self.apps.pop((sender, str(application)), None)
        if app is None:
            raise _err('DoesNotExist', 'Does Not Exist')
        app.close()

    # -- LEAdvertisingManager1 (src/advertising.c)
    @dbus.service.method(ADV_MANAGER_IFACE, in_signature='oa{sv}', out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def RegisterAdvertisement(self, advertisement, options, sender=None, ok=None, err=None):
        key = (sender, str(advertisement))
        if key in self.adverts:
            raise _err('AlreadyExists', 'Already Exists')
        if len(self.adverts) >= int(self.props[ADV_MANAGER_IFACE]['SupportedInstances']):
            raise _err('NotPermitted', 'Maximum advertisements reached')

        def got(props):
            if 'Type' not in props or str(props['Type']) not in ('broadcast', 'peripheral'):
                err(_err('InvalidArguments', 'Invalid arguments in method call'))
                return
            self.adverts[key] = dict(props)
            self._watch(sender)
            self._adverts_changed()
            ok()

        def failed(e):
            err(_err('Failed', 'Failed to parse advertisement.'))

        _bus().call_async(sender, str(advertisement), dbus.PROPERTIES_IFACE, 'GetAll', 's', (ADV_IFACE,),
                          got, failed, timeout=10)

    @dbus.service.method(ADV_MANAGER_IFACE, in_signature='o', out_signature='', sender_keyword='sender')
    def UnregisterAdvertisement(self, advertisement, sender=None):
        if self.adverts.pop((sender, str(advertisement)), None) is None:
            raise _err('DoesNotExist', 'Does Not Exist')
        self._adverts_changed()

    def _adverts_changed(self):
        self.changed(ADV_MANAGER_IFACE, {'ActiveInstances': dbus.Byte(len(self.adverts), variant_level=1)})


class Device(_Node):
    def __init__(self, remote):
        self.remote = remote
        p = remote
        props = {
            'Address': dbus.String(p.address, variant_level=1),
            'AddressType': dbus.String(p.address_type, variant_level=1),
            'Alias': dbus.String(p.name or p.address.replace(':', '-'), variant_level=1),
            'Paired': dbus.Boolean(False, variant_level=1),
            'Bonded': dbus.Boolean(False, variant_level=1),
            'Trusted': dbus.Boolean(False, variant_level=1),
            'Blocked': dbus.Boolean(False, variant_level=1),
            'LegacyPairing': dbus.Boolean(False, variant_level=1),
            'Connected': dbus.Boolean(False, variant_level=1),
            'UUIDs': dbus.Array(sorted(set(p.uuids)), signature='s', variant_level=1),
            'Adapter': dbus.ObjectPath(p.adapter.path, variant_level=1),
            'ServicesResolved': dbus.Boolean(False, variant_level=1),
            'AdvertisingFlags': _bytes(b'\x06'),
        }
        if p.name:
            props['Name'] = dbus.String(p.name, variant_level=1)
        props.update(p.advert_props())
        super().__init__(p.path, DEVICE_IFACE, props)

    @dbus.service.method(DEVICE_IFACE, in_signature='', out_signature='', async_callbacks=('ok', 'err'))
    def Connect(self, ok=None, err=None):
        self.remote.connect(ok, err)

    @dbus.service.method(DEVICE_IFACE, in_signature='', out_signature='', async_callbacks=('ok', 'err'))
    def Disconnect(self, ok=None, err=None):
        self.remote.disconnect(ok)

    @dbus.service.method(DEVICE_IFACE, in_signature='', out_signature='')
    def Pair(self):
        raise _err('NotSupported', 'Operation is not supported')

    @dbus.service.method(DEVICE_IFACE, in_signature='', out_signature='')
    def CancelPairing(self):
        raise _err('DoesNotExist', 'Does Not Exist')


class Service(_Node):
    def __init__(self, device_path, handle, uuid):
        super().__init__(f'{device_path}/service{handle:04x}', SERVICE_IFACE, {
            'UUID': dbus.String(uuid, variant_level=1),
            'Device': dbus.ObjectPath(device_path, variant_level=1),
            'Primary': dbus.Boolean(True, variant_level=1),
            'Includes': dbus.Array([], signature='o', variant_level=1),
        })


class Characteristic(_Node):
    '''org.bluez.GattCharacteristic1 of a connected remote (src/gatt-client.c, 5.66).'''

    def __init__(self, remote, service, handle, uuid, flags):
        self.remote = remote
        self.uuid = uuid
        self.flags = list(flags)
        self.handle = handle
        props = {
            'UUID': dbus.String(uuid, variant_level=1),
            'Service': dbus.ObjectPath(service.path, variant_level=1),
            'Value': _bytes(b''),
            'Flags': dbus.Array(self.flags, signature='s', variant_level=1),
            'MTU': dbus.UInt16(remote.mtu, variant_level=1),
        }
        if 'notify' in flags or 'indicate' in flags:
            props['Notifying'] = dbus.Boolean(False, variant_level=1)
        if 'write-without-response' in flags:
            props['WriteAcquired'] = dbus.Boolean(False, variant_level=1)
        if 'notify' in flags:
            props['NotifyAcquired'] = dbus.Boolean(False, variant_level=1)
        super().__init__(f'{service.path}/char{handle:04x}', CHRC_IFACE, props)
        self.notify_clients = {}   # sender -> name watch (StartNotify sessions)
        self.notify_sock = None    # (socket, watch source) while AcquireNotify'd
        self.write_sock = None     # (socket, watch source) while AcquireWrite'd
        self.write_op = None       # pending (ok, err) of WriteValue with response
        self.read_ops = []         # pending (ok, err) of ReadValue
        self.value = b''
        self.written = []          # every value the central wrote, in order

    # -- peripheral -> central
    def notify(self, data):
        if self.notify_sock is not None:
            try:
                self.notify_sock[0].send(data)
            except OSError:
                pass   # the client's queue is full or it went away; a real link drops it too
        elif self.notify_clients:
            self.value = bytes(data)
            self.changed(CHRC_IFACE, {'Value': _bytes(data)})

    def subscribed(self):
        return self.notify_sock is not None or bool(self.notify_clients)

    # -- teardown (link lost): pending ATT operations fail like bt_gatt_client_cancel_all
    def close(self):
        for ok, err in self.read_ops:
            err(_err('Failed', 'Operation failed'))
        self.read_ops = []
        if self.write_op is not None:
            self.write_op[1](_err('Failed', 'Operation failed'))
            self.write_op = None
        for sock in (self.notify_sock, self.write_sock):
            if sock is not None:
                _cancel(sock[1])
                sock[0].close()
        self.notify_sock = self.write_sock = None
        for w in self.notify_clients.values():
            w.cancel()
        self.notify_clients = {}

    def _connected(self):
        if not self.remote.connected:
            raise _err('Failed', 'Not connected')

    @staticmethod
    def _options(options, with_type):
        offset, kind = 0, None
        for k, v in options.items():
            if str(k).lower() == 'offset':
                if not isinstance(v, dbus.UInt16):
                    raise _err('InvalidArguments', 'Invalid arguments in method call')
                offset = int(v)
            elif with_type and str(k).lower() == 'type':
                if not isinstance(v, dbus.String):
                    raise _err('InvalidArguments', 'Invalid arguments in method call')
                kind = str(v)
        return offset, kind

    @dbus.service.method(CHRC_IFACE, in_signature='a{sv}', out_signature='ay', async_callbacks=('ok', 'err'))
    def ReadValue(self, options, ok=None, err=None):
        self._connected()
        offset, _ = self._options(options, False)
        if self.read_ops and getattr(self, '_read_offset', 0) != offset:
            raise _err('InProgress', 'In Progress')
        self._read_offset = offset
        self.read_ops.append((ok, err))
        if len(self.read_ops) > 1 or self.remote.silent:
            return   # joins the outstanding read / a silent device never answers

        def answer():
            ops, self.read_ops = self.read_ops, []
            if 'read' not in self.flags:
                for _, e in ops:
                    e(_err('NotPermitted', 'Read not permitted'))
                return
            value = self.remote.read(self.uuid)
            if offset > len(value):
                for _, e in ops:
                    e(_err('InvalidArguments', 'Invalid offset'))
                return
            value = value[offset:]
            if value != self.value:
                self.value = value
                self.changed(CHRC_IFACE, {'Value': _bytes(value)})
            for o, _ in ops:
                o(dbus.Array(value, signature='y'))
        _later(OPTIONS['op_delay'], answer)

    @dbus.service.method(CHRC_IFACE, in_signature='aya{sv}', out_signature='', async_callbacks=('ok', 'err'))
    def WriteValue(self, value, options, ok=None, err=None):
        self._connected()
        if self.write_sock is not None:
            raise _err('NotPermitted', 'Write acquired')
        if self.write_op is not None:
            raise _err('InProgress', 'In Progress')
        offset, kind = self._options(options, True)
        data = bytes(value)
        if kind is not None and kind.lower() not in ('command', 'request', 'reliable'):
            raise _err('NotSupported', 'Operation is not supported')
        if kind is None:
            if 'reliable-write' in self.flags:
                kind = 'reliable'
            elif 'write' in self.flags:
                kind = 'request'
            elif 'write-without-response' in self.flags:
                kind = 'command'
            else:
                raise _err('NotSupported', 'Operation is not supported')
        kind = kind.lower()
        if kind == 'command':
            # bt_gatt_client_write_without_response: one ATT PDU, so at most MTU - 3 bytes
            if offset or len(data) > self.remote.mtu - 3:
                raise _err('Failed', 'Failed to initiate write')
            self.remote.central_wrote(self, data, offset)
            ok()
            return
        if 'write' not in self.flags and 'reliable-write' not in self.flags:
            raise _err('NotPermitted', 'Write not permitted')   # the peer's ATT error
        self.write_op = (ok, err)
        if self.remote.silent:
            return

        def answer():
            if self.write_op is None:
                return
            done, self.write_op = self.write_op, None
            self.remote.central_wrote(self, data, offset)
            if self.remote.connected:
                done[0]()
        _later(OPTIONS['op_delay'], answer)

    @dbus.service.method(CHRC_IFACE, in_signature='', out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def StartNotify(self, sender=None, ok=None, err=None):
        if self.remote.disconnecting:
            raise _err('NotConnected', 'Not Connected')
        if self.notify_sock is not None:
            raise _err('NotPermitted', 'Notify acquired')
        if 'notify' not in self.flags and 'indicate' not in self.flags:
            raise _err('NotSupported', 'Operation is not supported')
        if sender in self.notify_clients:
            ok()
            return
        first = not self.notify_clients

        def gone(owner, s=sender):
            if owner == '' and s in self.notify_clients:
                self.notify_clients.pop(s).cancel()
                self._update_notifying()
        self.notify_clients[sender] = _bus().watch_name_owner(sender, gone)
        self._update_notifying()
        ok()
        if first:
            _later(0, self.remote.central_subscribed, self)

    def _update_notifying(self):
        on = bool(self.notify_clients)
        if bool(self.props[CHRC_IFACE].get('Notifying')) != on:
            self.changed(CHRC_IFACE, {'Notifying': dbus.Boolean(on, variant_level=1)})
            if not on:
                self.remote.central_unsubscribed(self)

    @dbus.service.method(CHRC_IFACE, in_signature='', out_signature='', sender_keyword='sender')
    def StopNotify(self, sender=None):
        if self.notify_sock is not None:
            self._release_notify()
            return
        if sender not in self.notify_clients:
            raise _err('Failed', 'No notify session started')
        self.notify_clients.pop(sender).cancel()
        self._update_notifying()

    def _socketpair(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX,
                                         socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        fd = dbus.types.UnixFd(theirs.fileno())   # dbus-python keeps its own duplicate
        theirs.close()
        return ours, fd

    @dbus.service.method(CHRC_IFACE, in_signature='a{sv}', out_signature='hq')
    def AcquireWrite(self, options):
        self._connected()
        if self.write_sock is not None:
            raise _err('NotPermitted', 'Write acquired')
        if 'write-without-response' not in self.flags:
            raise _err('NotSupported', 'Operation is not supported')
        ours, fd = self._socketpair()

        def readable(_fd, cond):
            got = False
            while True:
                try:
                    data = ours.recv(65536)
                except BlockingIOError:
                    break
                except OSError:
                    data = None
                if not data:
                    break
                got = True
                if len(data) > self.remote.mtu - 3:
                    continue   # sock_read: a write command longer than MTU - 3 is not sent
                self.remote.central_wrote(self, data, 0)
                if self.write_sock is None:
                    return False   # the write dropped the link
            if (cond & (GLib.IO_HUP | GLib.IO_ERR)) and not got:
                self._release_write()
                return False
            return True
        src = GLib.io_add_watch(ours.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR,
                                readable)
        self.write_sock = (ours, src)
        self.changed(CHRC_IFACE, {'WriteAcquired': dbus.Boolean(True, variant_level=1)})
        return (fd, dbus.UInt16(self.remote.mtu))

    def _release_write(self):
        if self.write_sock is not None:
            _cancel(self.write_sock[1])
            self.write_sock[0].close()
            self.write_sock = None
            if self.path in mockobject.objects:
                self.changed(CHRC_IFACE, {'WriteAcquired': dbus.Boolean(False, variant_level=1)})

    @dbus.service.method(CHRC_IFACE, in_signature='a{sv}', out_signature='hq')
    def AcquireNotify(self, options):
        self._connected()
        if self.notify_sock is not None:
            raise _err('NotPermitted', 'Notify acquired')
        if self.notify_clients:
            raise _err('InProgress', 'In Progress')
        if 'notify' not in self.flags:
            raise _err('NotSupported', 'Operation is not supported')
        ours, fd = self._socketpair()

        def hangup(_fd, cond):
            if cond & (GLib.IO_HUP | GLib.IO_ERR):
                self.notify_sock = (ours, None)
                self._release_notify()
                return False
            try:
                ours.recv(65536)   # the client is not supposed to write; drain it
            except OSError:
                pass
            return True
        src = GLib.io_add_watch(ours.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, hangup)
        self.notify_sock = (ours, src)
        self.changed(CHRC_IFACE, {'NotifyAcquired': dbus.Boolean(True, variant_level=1)})
        _later(0, self.remote.central_subscribed, self)
        return (fd, dbus.UInt16(self.remote.mtu))

    def _release_notify(self):
        if self.notify_sock is not None:
            _cancel(self.notify_sock[1])
            self.notify_sock[0].close()
            self.notify_sock = None
            if self.path in mockobject.objects:
                self.changed(CHRC_IFACE, {'NotifyAcquired': dbus.Boolean(False, variant_level=1)})
            self.remote.central_unsubscribed(self)


class Descriptor(_Node):
    def __init__(self, remote, chrc, handle, uuid):
        self.remote = remote
        self.chrc = chrc
        self.uuid = uuid
        super().__init__(f'{chrc.path}/desc{handle:04x}', DESC_IFACE, {
            'UUID': dbus.String(uuid, variant_level=1),
            'Characteristic': dbus.ObjectPath(chrc.path, variant_level=1),
            'Value': _bytes(b''),
        })

    @dbus.service.method(DESC_IFACE, in_signature='a{sv}', out_signature='ay')
    def ReadValue(self, options):
        if not self.remote.connected:
            raise _err('Failed', 'Not connected')
        if self.uuid == CCCD:
            value = b'\x01\x00' if self.chrc.subscribed() else b'\x00\x00'
        else:
            value = b''
        self.changed(DESC_IFACE, {'Value': _bytes(value)})
        return dbus.Array(value, signature='y')

    @dbus.service.method(DESC_IFACE, in_signature='aya{sv}', out_signature='')
    def WriteValue(self, value, options):
        if not self.remote.connected:
            raise _err('Failed', 'Not connected')
        if self.uuid == CCCD:   # BlueZ refuses CCCD writes: use StartNotify (gatt-client.c)
            raise _err('NotPermitted', 'Write not permitted')
        raise _err('NotPermitted', 'Write not permitted')


# ---- the radio side: remote peripherals ----------------------------------------------------

class Generic:
    '''A remote device without emulator: tests push notifications (Mock.Notify) and read what the
    central wrote (Mock.GetWritten).'''

    def __init__(self, gatt, name='', manufacturer_data=None, service_data=None, uuids=None):
        self.gatt = gatt
        self.name = name
        self.manufacturer_data = dict(manufacturer_data or {})
        self.service_data = dict(service_data or {})
        self.service_uuids = list(uuids or [s for s, _ in gatt])
        self.values = {}

    def link_up(self, now):
        pass

    def link_down(self):
        pass

    def subscribe(self, char, now):
        return []

    def unsubscribe(self, char):
        pass

    def write(self, char, data, now):
        self.values[char] = bytes(data)
        return []

    def read(self, char):
        return self.values.get(char, b'')

    def next_deadline(self):
        return None

    def on_deadline(self, now):
        return []

    def state(self):
        return {'kind': 'generic'}


class Remote:
    '''One peripheral the adapter can see: advertising, link, GATT table, faults.'''

    def __init__(self, adapter, address, backend, rssi=-60, address_type='public', mtu=None):
        self.adapter = adapter
        self.address = address.upper()
        self.path = f'{adapter.path}/dev_{self.address.replace(":", "_")}'
        self.backend = backend
        self.name = backend.name
        self.uuids = backend.service_uuids
        self.rssi = int(rssi)
        self.address_type = address_type
        self.mtu = int(mtu or OPTIONS['default_mtu'])
        self.device = None
        self.temporary = True
        self.temp_source = None
        self.connected = False
        self.disconnecting = False
        self.pending_connect = None     # (ok, err, timer)
        self.chars = {}                 # uuid -> Characteristic (while connected)
        self.gatt_objects = []
        self.deadline_source = None
        self.resolve_source = None
        self.in_range = True
        self.silent = False
        self.connect_fault = ('none', 0)
        self.drop_after = {}            # 'writes' / 'notifications' -> remaining count
        self.adverts = 0
        # Traffic seen over every connection so far (tests: GetEmulatorState), not BlueZ state.
        self.connections = 0
        self.largest_write = 0
        self.largest_notification = 0

    # -- advertising
    def advert_props(self):
        props = {'RSSI': dbus.Int16(self.rssi, variant_level=1)}
        md = self.backend.manufacturer_data
        if md:
            props['ManufacturerData'] = dbus.Dictionary(
                {dbus.UInt16(k): _bytes(v) for k, v in md.items()}, signature='qv', variant_level=1)
        sd = self.backend.service_data
        if sd:
            props['ServiceData'] = dbus.Dictionary(
                {dbus.String(k): _bytes(v) for k, v in sd.items()}, signature='sv', variant_level=1)
        return props

    def _matches(self, filters):
        for f in filters:
            wanted = f.get('UUIDs')
            if wanted and not set(wanted) & {u.lower() for u in self.uuids}:
                continue
            if 'RSSI' in f and self.rssi < int(f['RSSI']):
                continue
            if f.get('Pattern') and not (self.address.startswith(f['Pattern'].upper())
                                         or (self.name or '').startswith(f['Pattern'])):
                continue
            return True
        return False

    def advertised(self, duplicates, filtered, filters):
        '''One advertisement received while discovering (src/adapter.c device_found).'''
        if not self._matches(list(filters)):
            return
        self.adverts += 1
        refresh = getattr(self.backend, 'refresh_advertisement', None)
        if refresh:
            refresh()
        if self.device is None:
            self.device = Device(self)
            self.device.announce()
        else:
            # RSSI jitters by 1 dB like a real radio. device_found: with a discovery filter every
            # advertisement emits RSSI (device_set_rssi_with_delta(dev, rssi, 0)); without one
            # only changes of 8 dB or more do (RSSI_THRESHOLD), or RSSI coming back after discovery
            # invalidated it. ManufacturerData / ServiceData are re-emitted only with DuplicateData
            # (device_set_manufacturer_data(..., duplicate)).
            rssi = self.rssi + (self.adverts % 3) - 1
            old = self.device.props[DEVICE_IFACE].get('RSSI')
            values = {}
            if filtered or old is None or abs(int(old) - rssi) >= 8:
                values['RSSI'] = dbus.Int16(rssi, variant_level=1)
            if duplicates:
                values.update({k: v for k, v in self.advert_props().items() if k != 'RSSI'})
            if values:
                self.device.changed(DEVICE_IFACE, values)
        if self.temporary:
            self._temporary_timer()

    def _temporary_timer(self):
        _cancel(self.temp_source)
        self.temp_source = _later(OPTIONS['temporary_timeout'], self._disappeared)

    def _disappeared(self):
        self.temp_source = None
        if self.connected or not self.temporary or self.device is None:
            return
        self.forget()

    def forget(self):
        '''Adapter1.RemoveDevice / temporary timeout: the object leaves the tree.'''
        _cancel(self.temp_source)
        self.temp_source = None
        if self.connected:
            self.link_lost()
        if self.device is not None:
            self.device.remove()
            self.device = None
        self.temporary = True

    def materialise(self):
        '''A known (cached) device: present in the tree without discovery.'''
        if self.device is None:
            self.device = Device(self)
            self.device.announce()
        self.temporary = False

    # -- connection (src/device.c dev_connect / device_connect_le / att_connect_cb)
    def connect(self, ok, err):
        if not self.adapter.powered():
            # the LE connect fails with EHOSTUNREACH: btd_error_le_conn_from_errno (src/error.c)
            err(_err('Failed', 'le-connection-adapter-not-powered'))
            return
        if self.connected:
            ok()
            return
        if self.pending_connect is not None:
            err(_err('InProgress', 'In Progress'))
            return
        mode, count = self.connect_fault
        if mode == 'in-progress' and count > 0:
            self.connect_fault = (mode, count - 1)
            err(_err('InProgress', 'In Progress'))
            return
        self.temporary = False   # dev_connect: btd_device_set_temporary(dev, false)
        _cancel(self.temp_source)
        self.temp_source = None
        if not self.in_range or (mode == 'timeout' and count > 0):
            if mode == 'timeout':
                self.connect_fault = (mode, count - 1)
            timer = _later(OPTIONS['connect_timeout'], self._connect_failed, 'le-connection-abort-by-local', False)
            self.pending_connect = (ok, err, timer)
            return
        if mode == 'abort-by-local' and count > 0:
            # bluetoothd saw the link come up and then the controller aborted it: bleak waits for
            # Connected to drop before it retries (bleak/backends/bluezdbus/client.py).
            self.connect_fault = (mode, count - 1)
            timer = _later(OPTIONS['connect_delay'], self._connect_failed, 'le-connection-abort-by-local', True)
            self.pending_connect = (ok, err, timer)
            return
        timer = _later(OPTIONS['connect_delay'], self._connected)
        self.pending_connect = (ok, err, timer)

    def _connect_failed(self, reason, blip):
        ok, err, _ = self.pending_connect
        self.pending_connect = None
        if not blip or self.device is None:
            err(_err('Failed', reason))
            return
        # The controller connected (MGMT Device Connected: Connected=true), the ATT socket was
        # aborted (att_connect_cb replies the error), then MGMT Device Disconnected arrives
        # (device_remove_connection: Connected=false). bleak waits for that last change.
        self.device.changed(DEVICE_IFACE, {'Connected': dbus.Boolean(True, variant_level=1)})
        err(_err('Failed', reason))
        dev = self.device

        def disconnected():
            if self.device is dev and not self.connected:
                dev.changed(DEVICE_IFACE, {'Connected': dbus.Boolean(False, variant_level=1)})
        _later(OPTIONS['connect_delay'], disconnected)

    def _connected(self):
        ok, err, _ = self.pending_connect
        self.pending_connect = None
        self.connected = True
        self.connections += 1
        self.drop_after = dict(self.drop_after)
        self.backend.link_up(_now())
        if self.device is None:
            self.materialise()
        self.device.changed(DEVICE_IFACE, {'Connected': dbus.Boolean(True, variant_level=1)})
        ok()   # att_connect_cb replies to Connect, then browses GATT
        self.resolve_source = _later(OPTIONS['resolve_delay'], self._resolve)

    def _resolve(self):
        self.resolve_source = None
        if not self.connected or self.device is None:
            return
        handle = 0x000a   # GAP and GATT services (claimed by bluetoothd, not exported) sit below
        for service_uuid, chars in self.backend.gatt:
            service = Service(self.path, handle, service_uuid)
            self.gatt_objects.append(service)
            handle += 1
            for char_uuid, flags in chars:
                chrc = Characteristic(self, service, handle, char_uuid, flags)
                self.chars[char_uuid] = chrc
                self.gatt_objects.append(chrc)
                handle += 2   # declaration + value
                if 'notify' in flags or 'indicate' in flags:
                    self.gatt_objects.append(Descriptor(self, chrc, handle, CCCD))
                    handle += 1
        for obj in self.gatt_objects:
            obj.announce()
        self.device.changed(DEVICE_IFACE, {'ServicesResolved': dbus.Boolean(True, variant_level=1)})

    def disconnect(self, ok):
        if self.pending_connect is not None:
            c_ok, c_err, timer = self.pending_connect
            _cancel(timer)
            self.pending_connect = None
            c_err(_err('Failed', 'le-connection-abort-by-local'))
        if self.connected:
            self.disconnecting = True
            _later(OPTIONS['connect_delay'], self._disconnected, ok)
        else:
            ok()

    def _disconnected(self, ok):
        # device_remove_connection replies to Disconnect at once; bluetoothd's property and
        # object-manager signals are flushed later from gdbus' idle handler, so the reply
        # reaches the client first (bleak relies on it: it closes its bus on Connected=false).
        ok()
        self.link_lost()

    def link_lost(self):
        '''The link is gone (local Disconnect, remote drop, power off): device_remove_connection.'''
        if self.pending_connect is not None:
            _, c_err, timer = self.pending_connect
            _cancel(timer)
            self.pending_connect = None
            c_err(_err('Failed', 'le-connection-abort-by-local'))
        if not self.connected:
            self.disconnecting = False
            return
        self.connected = False
        self.disconnecting = False
        _cancel(self.resolve_source)
        self.resolve_source = None
        _cancel(self.deadline_source)
        self.deadline_source = None
        self.backend.link_down()
        for obj in self.gatt_objects:   # pending ATT operations fail first (immediate replies)
            if isinstance(obj, Characteristic):
                obj.close()
        dev = self.device
        if dev is not None and dev.props[DEVICE_IFACE]['ServicesResolved']:
            dev.changed(DEVICE_IFACE, {'ServicesResolved': dbus.Boolean(False, variant_level=1)})
        for obj in reversed(self.gatt_objects):   # unpaired: gatt_db_clear removes every object
            obj.remove()
        self.gatt_objects = []
        self.chars = {}
        if dev is not None:
            dev.changed(DEVICE_IFACE, {'Connected': dbus.Boolean(False, variant_level=1)})

    # -- GATT traffic between central and peripheral
    def _count(self, what):
        left = self.drop_after.get(what)
        if left is None:
            return False
        left -= 1
        self.drop_after[what] = left
        if left <= 0:
            del self.drop_after[what]
            _later(0, self.link_lost)
            return True
        return False

    def central_wrote(self, chrc, data, offset):
        chrc.written.append(bytes(data))
        self.largest_write = max(self.largest_write, len(data))
        dropping = self._count('writes')   # the write arrives, the link drops before any answer
        if self.silent:
            return
        out = self.backend.write(chrc.uuid, bytes(data), _now())
        if not dropping:
            self.transmit(out)

    def central_subscribed(self, chrc):
        if self.connected and chrc.subscribed():
            self.transmit(self.backend.subscribe(chrc.uuid, _now()))

    def central_unsubscribed(self, chrc):
        self.backend.unsubscribe(chrc.uuid)

    def read(self, uuid):
        return self.backend.read(uuid)

    def transmit(self, out):
        '''Peripheral output -> notifications of at most MTU - 3 bytes each.'''
        if self.connected and not self.silent:
            n = self.mtu - 3
            for uuid, data in out:
                chrc = self.chars.get(uuid)
                if chrc is None:
                    continue
                for i in range(0, max(len(data), 1), n):
                    if not self.connected:
                        return
                    chrc.notify(data[i:i + n])
                    self.largest_notification = max(self.largest_notification, len(data[i:i + n]))
                    if self._count('notifications'):
                        return
        self._schedule()

    def _schedule(self):
        _cancel(self.deadline_source)
        self.deadline_source = None
        if not self.connected:
            return
        deadline = self.backend.next_deadline()
        if deadline is not None:
            self.deadline_source = _later(max(0.0, deadline - _now()), self._deadline)

    def _deadline(self):
        self.deadline_source = None
        if self.connected:
            self.transmit(self.backend.on_deadline(_now()))


class App:
    '''A GATT application registered with GattManager1; the mock is its central.'''

    def __init__(self, adapter, sender, root):
        self.adapter = adapter
        self.sender = sender
        self.root = root
        self.chars = {}        # uuid -> path
        self.notifications = {}
        self.match = None

    def load(self, objects):
        services = {}
        for path, ifaces in objects.items():
            if SERVICE_IFACE in ifaces:
                if 'UUID' not in ifaces[SERVICE_IFACE]:
                    return 'Failed to read services'
                services[str(path)] = str(ifaces[SERVICE_IFACE]['UUID']).lower()
        if not services:
            return 'No object received'
        for path, ifaces in objects.items():
            c = ifaces.get(CHRC_IFACE)
            if c is not None:
                if 'UUID' not in c or str(c.get('Service', '')) not in services or 'Flags' not in c:
                    return 'Failed to read characteristic'
                self.chars[str(c['UUID']).lower()] = str(path)
        self.match = _bus().add_signal_receiver(self._changed, 'PropertiesChanged', dbus.PROPERTIES_IFACE,
                                                self.sender, None, path_keyword='path')
        return None

    def close(self):
        if self.match is not None:
            self.match.remove()
            self.match = None

    def _changed(self, interface, values, invalidated, path=None):
        if interface != CHRC_IFACE or 'Value' not in values:
            return
        for uuid, p in self.chars.items():
            if p == path:
                self.notifications.setdefault(uuid, []).append(bytes(values['Value']))

    def path_of(self, uuid):
        path = self.chars.get(str(uuid).lower())
        if path is None:
            raise _err('DoesNotExist', 'Does Not Exist')
        return path


# ---- org.bluez.Mock: building the world and injecting faults ---------------------------------

def _adapter(name):
    obj = mockobject.objects.get('/org/bluez/' + str(name).split('/')[-1])
    if not isinstance(obj, Adapter):
        raise dbus.exceptions.DBusException(f'Adapter {name} does not exist.', name=MOCK_IFACE + '.NoSuchAdapter')
    return obj


def _remote(device):
    device = str(device)
    for obj in list(mockobject.objects.values()):
        if isinstance(obj, Adapter) and device in obj.remotes:
            return obj.remotes[device]
    raise dbus.exceptions.DBusException(f'Device {device} does not exist.', name=MOCK_IFACE + '.NoSuchDevice')


def _characteristic(path):
    obj = mockobject.objects.get(str(path))
    if not isinstance(obj, Characteristic):
        raise dbus.exceptions.DBusException(f'No characteristic {path} (connected and resolved?)',
                                            name=MOCK_IFACE + '.NoSuchCharacteristic')
    return obj


def _plain(v):
    if isinstance(v, (dbus.Array, list)) and all(isinstance(x, (int, dbus.Byte)) for x in v):
        return bytes(v)
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.String, str)):
        return str(v)
    if isinstance(v, (int,)):
        return int(v)
    if isinstance(v, float):
        return float(v)
    return v


def _add_remote(adapter, address, backend, options):
    path = f'{adapter.path}/dev_{address.upper().replace(":", "_")}'
    if path in adapter.remotes:
        raise dbus.exceptions.DBusException(f'{address} already exists', name=MOCK_IFACE + '.AlreadyExists')
    remote = Remote(adapter, address, backend, rssi=int(options.get('rssi', -60)),
                    address_type=str(options.get('address_type', 'public')), mtu=options.get('mtu'))
    adapter.remotes[path] = remote
    if options.get('cached'):
        remote.materialise()
    return dbus.ObjectPath(path)


@dbus.service.method(MOCK_IFACE, in_signature='ss', out_signature='s')
def AddAdapter(self, device_name, system_name):
    '''Adds a powered adapter /org/bluez/<device_name> (Adapter1, GattManager1, LEAdvertisingManager1).'''
    path = '/org/bluez/' + device_name
    if path in mockobject.objects:
        raise dbus.exceptions.DBusException(f'{path} already exists', name=MOCK_IFACE + '.AlreadyExists')
    adapter = Adapter(device_name, system_name)
    adapter.announce()
    return path


@dbus.service.method(MOCK_IFACE, in_signature='sss', out_signature='s')
def AddDevice(self, adapter_device_name, device_address, alias):
    '''Stock signature, fixed types: a known (cached) LE device without GATT services.'''
    return str(_add_remote(_adapter(adapter_device_name), device_address, Generic([], name=alias),
                           {'cached': True}))


@dbus.service.method(MOCK_IFACE, in_signature='ssa{sv}', out_signature='o')
def AddLeDevice(self, adapter, address, options):
    '''A generic LE peripheral. options: name s, rssi n, manufacturer_data a{qv} (ay values),
    service_data a{sv}, uuids as, gatt a(sa(sas)) [(service, [(char, flags)])], mtu q,
    address_type s, cached b (in the tree at once, like a device bluetoothd remembers).'''
    o = {str(k): v for k, v in options.items()}
    gatt = [(str(s).lower(), [(str(c).lower(), [str(f) for f in flags]) for c, flags in chars])
            for s, chars in o.get('gatt', [])]
    backend = Generic(gatt, name=str(o.get('name', '')),
                      manufacturer_data={int(k): bytes(v) for k, v in o.get('manufacturer_data', {}).items()},
                      service_data={str(k).lower(): bytes(v) for k, v in o.get('service_data', {}).items()},
                      uuids=[str(u).lower() for u in o['uuids']] if 'uuids' in o else None)
    return _add_remote(_adapter(adapter), address, backend, o)


@dbus.service.method(MOCK_IFACE, in_signature='ssssa{sv}', out_signature='o')
def AddEmulatedDevice(self, adapter, kind, model, address, options):
    '''A peripheral backed by a blecrypt emulator: kind "bluetti" (model AC180, EL30V2, EB3A) or
    "sesame" (model 5, 5pro, 5us). options: mtu q, rssi n, seed t, cached b, name s, uuid ay,
    secret ay. Needs PYTHONPATH with the built blecrypt package.'''
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import emulated   # noqa: E402  (tests/bluez/emulated.py: the only code touching the emulators)
    o = {str(k): _plain(v) for k, v in options.items()}
    try:
        backend = emulated.make_peripheral(str(kind), str(model), str(address), o)
    except (ValueError, ImportError) as e:
        raise dbus.exceptions.DBusException(str(e), name=MOCK_IFACE + '.EmulatorError')
    return _add_remote(_adapter(adapter), address, backend, o)


@dbus.service.method(MOCK_IFACE, in_signature='o', out_signature='')
def RemovePeripheral(self, device):
    '''The peripheral is gone for good: link lost, object removed, never advertises again.'''
    remote = _remote(device)
    remote.forget()
    del remote.adapter.remotes[remote.path]


@dbus.service.method(MOCK_IFACE, in_signature='ob', out_signature='')
def SetInRange(self, device, in_range):
    '''Out of range: stops advertising, the link drops, Connect times out (connect_timeout).'''
    remote = _remote(device)
    remote.in_range = bool(in_range)
    if not in_range:
        remote.link_lost()


@dbus.service.method(MOCK_IFACE, in_signature='oay', out_signature='')
def Notify(self, characteristic, value):
    '''The peripheral sends one notification (split to MTU - 3 like any other).'''
    chrc = _characteristic(characteristic)
    chrc.remote.transmit([(chrc.uuid, bytes(value))])


@dbus.service.method(MOCK_IFACE, in_signature='o', out_signature='aay')
def GetWritten(self, characteristic):
    '''Everything the central wrote to the characteristic (WriteValue and AcquireWrite), in order.'''
    return dbus.Array([dbus.Array(w, signature='y') for w in _characteristic(characteristic).written],
                      signature='ay')


@dbus.service.method(MOCK_IFACE, in_signature='o', out_signature='')
def DropLink(self, device):
    '''The peripheral (or the radio) drops the link now.'''
    _remote(device).link_lost()


@dbus.service.method(MOCK_IFACE, in_signature='osu', out_signature='')
def DropLinkAfter(self, device, what, count):
    '''Drop the link after `count` more "writes" (central -> peripheral) or "notifications".'''
    if what not in ('writes', 'notifications'):
        raise dbus.exceptions.DBusException('what: writes or notifications', name=MOCK_IFACE + '.InvalidArgs')
    _remote(device).drop_after[str(what)] = int(count)


@dbus.service.method(MOCK_IFACE, in_signature='ob', out_signature='')
def SetSilent(self, device, silent):
    '''A device that never answers: writes are taken, nothing comes back, reads and
    write requests never complete (until the link drops).'''
    _remote(device).silent = bool(silent)


@dbus.service.method(MOCK_IFACE, in_signature='osu', out_signature='')
def SetConnectFault(self, device, mode, count):
    '''The next `count` Connect calls: "abort-by-local" (Failed le-connection-abort-by-local after
    Connected=true, the error, then Connected=false), "in-progress" (InProgress), "timeout"
    (Failed after connect_timeout, Connected never changes), or "none".'''
    if mode not in ('none', 'abort-by-local', 'in-progress', 'timeout'):
        raise dbus.exceptions.DBusException(f'unknown mode {mode}', name=MOCK_IFACE + '.InvalidArgs')
    _remote(device).connect_fault = (str(mode), int(count))


@dbus.service.method(MOCK_IFACE, in_signature='oq', out_signature='')
def SetMtu(self, device, mtu):
    '''ATT MTU of the next connection (23..517).'''
    if not 23 <= mtu <= 517:
        raise dbus.exceptions.DBusException('mtu must be 23..517', name=MOCK_IFACE + '.InvalidArgs')
    _remote(device).mtu = int(mtu)


@dbus.service.method(MOCK_IFACE, in_signature='sv', out_signature='')
def SetMockOption(self, name, value):
    '''Tunables: temporary_timeout, advert_interval, connect_delay, resolve_delay,
    connect_timeout, op_delay, default_mtu (seconds / bytes).'''
    if name not in OPTIONS:
        raise dbus.exceptions.DBusException(f'unknown option {name}', name=MOCK_IFACE + '.InvalidArgs')
    OPTIONS[str(name)] = float(value)


@dbus.service.method(MOCK_IFACE, in_signature='o', out_signature='a{sv}')
def GetEmulatorState(self, device):
    '''What the peripheral behind `device` knows (emulator handshake state, lock state...).'''
    r = _remote(device)
    state = dict(r.backend.state())
    state.update({'connected': r.connected, 'mtu': r.mtu, 'in_range': r.in_range,
                  'connections': r.connections, 'largest_write': r.largest_write,
                  'largest_notification': r.largest_notification})
    return dbus.Dictionary({k: (dbus.Boolean(v) if isinstance(v, bool) else
                                dbus.Int64(v) if isinstance(v, int) else dbus.String(str(v)))
                            for k, v in state.items()}, signature='sv')


@dbus.service.method(MOCK_IFACE, in_signature='sb', out_signature='b')
def SetPowered(self, adapter, powered):
    '''Same as Properties.Set(Adapter1.Powered); returns the new state.'''
    a = _adapter(adapter)
    a.set_powered(bool(powered))
    return a.powered()


# -- registered GATT applications and advertisements (the mock as a central) --

def _app(adapter):
    apps = list(_adapter(adapter).apps.values())
    if not apps:
        raise _err('DoesNotExist', 'No application registered')
    return apps[-1]


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='a(sos)')
def GetApplications(self, adapter):
    '''(sender, root path, characteristic UUIDs comma-separated) of every registered application.'''
    return [(a.sender, dbus.ObjectPath(a.root), ','.join(sorted(a.chars))) for a in _adapter(adapter).apps.values()]


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='aa{sv}')
def GetAdvertisements(self, adapter):
    '''Properties of every registered advertisement, plus "Path" and "Sender".'''
    out = []
    for (sender, path), props in _adapter(adapter).adverts.items():
        d = dbus.Dictionary(props, signature='sv')
        d['Path'] = dbus.ObjectPath(path)
        d['Sender'] = dbus.String(sender)
        out.append(d)
    return dbus.Array(out, signature='a{sv}')


# The central the mock plays toward registered applications (gatt-database.c passes these options).
CENTRAL = {'device': dbus.ObjectPath('/org/bluez/hci0/dev_00_AA_BB_CC_DD_01'), 'link': dbus.String('LE'),
           'mtu': dbus.UInt16(517)}


def _central_options(options, **extra):
    d = dbus.Dictionary(CENTRAL, signature='sv')
    d.update(extra)
    d.update({str(k): v for k, v in options.items()})
    return d


@dbus.service.method(MOCK_IFACE, in_signature='ssaya{sv}', out_signature='', async_callbacks=('ok', 'err'))
def AppWriteValue(self, adapter, uuid, value, options, ok=None, err=None):
    '''Write to the registered application's characteristic as a central would. Options are what
    5.66's append_options() sends: {"device": o, "link": "LE", "mtu": 517} (+ "offset" when given);
    5.66 sends no "type" (later releases do): add one in `options` to emulate them.'''
    app = _app(adapter)
    _bus().call_async(app.sender, app.path_of(uuid), CHRC_IFACE, 'WriteValue', 'aya{sv}',
                      (dbus.Array(bytes(value), signature='y'), _central_options(options)),
                      lambda *a: ok(), err, timeout=10)


@dbus.service.method(MOCK_IFACE, in_signature='ss', out_signature='ay', async_callbacks=('ok', 'err'))
def AppReadValue(self, adapter, uuid, ok=None, err=None):
    app = _app(adapter)
    _bus().call_async(app.sender, app.path_of(uuid), CHRC_IFACE, 'ReadValue', 'a{sv}',
                      (_central_options({}),),
                      lambda v: ok(dbus.Array(bytes(v), signature='y')), err, timeout=10)


@dbus.service.method(MOCK_IFACE, in_signature='ss', out_signature='', async_callbacks=('ok', 'err'))
def AppStartNotify(self, adapter, uuid, ok=None, err=None):
    '''Subscribe (StartNotify) to the application's characteristic; its Value changes are kept.'''
    app = _app(adapter)
    _bus().call_async(app.sender, app.path_of(uuid), CHRC_IFACE, 'StartNotify', '', (),
                      lambda *a: ok(), err, timeout=10)


@dbus.service.method(MOCK_IFACE, in_signature='ss', out_signature='aay')
def AppNotifications(self, adapter, uuid):
    '''Values the application notified on `uuid` since the last call (and clears them).'''
    app = _app(adapter)
    got = app.notifications.pop(str(uuid).lower(), [])
    return dbus.Array([dbus.Array(v, signature='y') for v in got], signature='ay')
