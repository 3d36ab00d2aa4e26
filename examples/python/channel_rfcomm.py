"""Encrypting Bluetooth data in Python, done properly: an RFCOMM server and client whose bytes go
through a TLS 1.3 channel keyed by a provisioned PSK (`blecrypt channel keygen --psk-out pair.psk`,
copied to both devices with mode 0600; pair and trust the devices with bluetoothctl first).

  python3 channel_rfcomm.py server pair.psk 3                     # device B: RFCOMM channel 3
  python3 channel_rfcomm.py client pair.psk B0:B1:B2:B3:B4:B5:3   # device A

A path (anything with a '/') instead of the channel or address uses a Unix socket there, to try
it without radios."""
import socket
import sys

from blecrypt import channel


def listen(where: str) -> socket.socket:
    if "/" in where:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(where)
    else:                                                    # every local adapter, channel 1..30
        s = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_STREAM, socket.BTPROTO_RFCOMM)
        s.bind((socket.BDADDR_ANY, int(where)))
    s.listen(1)
    return s


def connect(where: str) -> socket.socket:
    if "/" in where:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(where)
    else:
        address, rfcomm_channel = where.rsplit(":", 1)
        s = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_STREAM, socket.BTPROTO_RFCOMM)
        s.connect((address, int(rfcomm_channel)))
    return s


def main(role: str, psk_file: str, where: str) -> None:
    psk = channel.load_psk(psk_file)                         # refuses a group/other-readable file
    if role == "server":
        with listen(where) as srv:
            conn, _ = srv.accept()
            with channel.wrap(conn, psk=psk, server_side=True) as ch:  # TLS 1.3 handshake
                data = ch.recv()                             # authenticated plaintext only
                print("received:", data.decode(), flush=True)
                ch.send(b"ack " + data)
    else:
        with channel.wrap(connect(where), psk=psk) as ch:    # raises ChannelError on a wrong key
            ch.send(b"secret sensor reading: 42")
            print(ch.recv().decode())


if __name__ == "__main__":
    main(*sys.argv[1:4])
