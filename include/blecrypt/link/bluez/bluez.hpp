// The BlueZ transport: a link::GattLink to one BLE device through bluetoothd's D-Bus API
// (org.bluez, BlueZ 5.66 doc/*-api.txt), on one link::bluez::EventLoop. sdbus-c++ stays inside
// src/link/bluez; this header names none of its types. No GPL code is linked (no libbluetooth).
//
//   EventLoop loop;
//   auto bz = Bluez::open(loop, "hci0");            // or "" for the first powered adapter
//   if (!bz) ... bz.error() is link::Errc::bluetooth_unavailable / adapter_not_found / adapter_off
//   auto link = (*bz)->make_link("C4:DE:E2:11:22:33", bluetti_profile);
//   link::Session session(client, *link, bluetti_profile);
//   link->connect();                                  // discovers if needed, connects, resolves
//   run_until(loop, session, [&] { return session.up(); }, std::chrono::seconds(30));
//
// The system bus is the one sd-bus opens: DBUS_SYSTEM_BUS_ADDRESS when set (tests point it at a
// private dbus-daemon running the BlueZ mock), else /run/dbus/system_bus_socket.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blecrypt/link/advertisement.hpp"
#include "blecrypt/link/bluez/event_loop.hpp"
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/result.hpp"

namespace blecrypt::link::bluez {

struct AdapterInfo {
  std::string name;     // "hci0"
  std::string path;     // "/org/bluez/hci0"
  std::string address;  // the adapter's own address
  bool powered = false;
};

// One device as the scanner last saw it.
struct DeviceInfo {
  std::string path;
  std::string address;  // "C4:DE:E2:11:22:33"
  std::string name;     // Name, else Alias-less "" (BlueZ makes Alias up from the address)
  std::optional<std::int16_t> rssi;
  ManufacturerData manufacturer_data;
  ServiceData service_data;
  std::vector<std::string> uuids;
  AdvertisementInfo info;  // classify(name, manufacturer_data, service_data)
  bool connected = false;
};

struct LinkOptions {
  Duration discovery_timeout = std::chrono::seconds(10);  // finding a device bluetoothd does not know
  Duration connect_timeout = std::chrono::seconds(20);    // one Device1.Connect (+ ServicesResolved)
  unsigned attempts = 4;                                  // connect attempts on transient errors
  Duration backoff = std::chrono::milliseconds(250);      // first retry delay, doubled each time, +-50% jitter
  Duration backoff_max = std::chrono::seconds(4);
  bool acquire_notify = true;  // AcquireNotify when offered (else StartNotify + PropertiesChanged)
  bool reconnect = false;      // after a link loss, connect again (same backoff) until disconnect()
};

class BluezLink;

class Bluez {
 public:
  // Opens the system bus and picks the adapter: `adapter` by name ("hci1"), or "" for the first
  // powered one. Errors: bluetooth_unavailable (no bus / no org.bluez), adapter_not_found,
  // adapter_off, permission_denied.
  static Result<std::unique_ptr<Bluez>> open(EventLoop& loop, std::string_view adapter = {});
  ~Bluez();
  Bluez(const Bluez&) = delete;
  Bluez& operator=(const Bluez&) = delete;

  const AdapterInfo& adapter() const;
  EventLoop& loop() const;
  bool available() const;  // false once org.bluez left the bus

  // LE discovery (SetDiscoveryFilter {Transport: le, DuplicateData: true} + StartDiscovery).
  // `on_device` runs on every advertisement / property update, including devices bluetoothd
  // already knew and currently hears (they have an RSSI).
  Result<void> start_scan(std::function<void(const DeviceInfo&)> on_device);
  void stop_scan();

  // A link to one device (address "AA:BB:CC:DD:EE:FF"), idle until connect(). Links may be made
  // and kept up in any number; their connects run one at a time on this adapter. Destroy links
  // before their Bluez (one that outlives it goes inert: never connected).
  std::unique_ptr<BluezLink> make_link(std::string_view address, const GattProfile& profile, LinkOptions options = {});

  struct Impl;

 private:
  explicit Bluez(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class BluezLink final : public GattLink {
 public:
  ~BluezLink() override;
  BluezLink(const BluezLink&) = delete;
  BluezLink& operator=(const BluezLink&) = delete;

  // Starts connecting (asynchronously): a short discovery if bluetoothd does not know the device,
  // Device1.Connect, ServicesResolved, the profile's characteristics. Then listener.on_connected;
  // on failure (after retries) listener.on_disconnected(error).
  void connect();
  // Drops the link (Device1.Disconnect) and stops reconnecting; listener.on_disconnected.
  void disconnect();
  bool connecting() const;
  // How many connect attempts have been started (tests and messages).
  unsigned attempts() const;
  // Whether notifications arrive over an AcquireNotify socket (else PropertiesChanged Value).
  bool notify_acquired() const;
  // The device's advertised name as bluetoothd knows it (Device1.Name, else Alias), read when the
  // link came up; "" before that or when it has neither.
  const std::string& device_name() const;

  // ---- GattLink ----
  void set_listener(LinkListener* listener) override;
  Result<void> subscribe(std::string_view characteristic) override;
  Result<void> write(std::string_view characteristic, ByteView value, WriteType type) override;
  std::size_t att_mtu() const override;
  bool connected() const override;
  std::string describe() const override;

  struct State;

 private:
  friend class Bluez;
  explicit BluezLink(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace blecrypt::link::bluez
