"""blecrypt.channel.wrap / open_stream against real openssl s_server / s_client and against itself
(socketpairs, SEQPACKET framing, wrong keys and fingerprints)."""
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from blecrypt import channel
from blecrypt.channel import ChannelError

PSK = bytes(range(0x42, 0x42 + 32))
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary missing (Debian package openssl)")


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="bc-", dir="/tmp")  # short: s_server -unix fails on long paths
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Proc:
    """openssl child with stdin/stdout pipes, killed at the end; reads are bounded."""

    def __init__(self, args):
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b""

    def wait_for(self, needle: bytes, timeout=10.0):
        end = time.monotonic() + timeout
        while needle not in self.out and time.monotonic() < end:
            try:
                chunk = self.p.stdout.read(65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                self.out += chunk
            elif chunk == b"" and self.p.poll() is not None:
                break
            else:
                time.sleep(0.02)
        return needle in self.out

    def write(self, data: bytes):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def kill(self):
        self.p.kill()
        self.p.wait(timeout=10)


def wait_path(path, timeout=5.0):
    end = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.02)


def run_pair(client_fn, server_fn):
    """Runs server_fn in a thread and client_fn here; returns (client result, server result)."""
    result = {}

    def server():
        try:
            result["server"] = server_fn()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            result["server"] = e

    t = threading.Thread(target=server)
    t.start()
    try:
        c = client_fn()
    except BaseException as e:  # noqa: BLE001
        c = e
    t.join(20)
    assert not t.is_alive()
    return c, result.get("server")


@needs_openssl
def test_wrap_client_against_openssl_s_server_psk(tmp):
    path = os.path.join(tmp, "s")
    srv = Proc([OPENSSL, "s_server", "-tls1_3", "-psk", PSK.hex(), "-psk_identity", "blecrypt", "-nocert", "-unix", path,
                "-naccept", "1"])
    try:
        wait_path(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        with channel.wrap(sock, psk=PSK) as ch:
            assert ch.handshake.version == "TLSv1.3" and ch.handshake.psk
            ch.send(b"ping from python\n")
            assert srv.wait_for(b"ping from python")
            srv.write(b"pong from openssl\n")
            got = b""
            while b"\n" not in got:
                got += ch.recv(timeout=10)
            assert got == b"pong from openssl\n"
    finally:
        srv.kill()


@needs_openssl
def test_wrap_server_against_openssl_s_client_certificate(tmp):
    me, peer = os.path.join(tmp, "me.pem"), os.path.join(tmp, "peer.pem")
    channel.generate_identity(me)
    peer_fp = channel.generate_identity(peer)
    assert os.stat(me).st_mode & 0o777 == 0o600
    path = os.path.join(tmp, "s")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    cli = Proc([OPENSSL, "s_client", "-tls1_3", "-quiet", "-unix", path, "-cert", peer, "-key", peer])
    try:
        ls.settimeout(10)
        conn, _ = ls.accept()
        ch = channel.wrap(conn, identity=me, peer_fingerprint=channel.format_fingerprint(peer_fp), server_side=True)
        assert ch.peer_fingerprint == peer_fp
        cli.write(b"from s_client\n")
        assert ch.recv(timeout=10) == b"from s_client\n"
        ch.send(b"from python\n")
        assert cli.wait_for(b"from python")
        ch.close()
    finally:
        cli.kill()
        ls.close()


@needs_openssl
def test_wrap_refuses_openssl_server_with_other_psk(tmp):
    path = os.path.join(tmp, "s")
    srv = Proc([OPENSSL, "s_server", "-tls1_3", "-psk", "11" * 32, "-psk_identity", "blecrypt", "-nocert", "-unix", path, "-naccept", "1"])
    try:
        wait_path(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        with pytest.raises(ChannelError) as e:
            channel.wrap(sock, psk=PSK)
        assert e.value.name == "wrong_psk"
        assert "different keys" in str(e.value)
    finally:
        srv.kill()


def test_identity_pair_and_wrong_fingerprint(tmp):
    a, b = os.path.join(tmp, "a.pem"), os.path.join(tmp, "b.pem")
    fa, fb = channel.generate_identity(a), channel.generate_identity(b)
    s1, s2 = socket.socketpair()
    c, s = run_pair(lambda: channel.wrap(s1, identity=a, peer_fingerprint=fb),
                    lambda: channel.wrap(s2, identity=b, peer_fingerprint=fa, server_side=True))
    assert c.peer_fingerprint == fb and s.peer_fingerprint == fa
    c.send(b"x" * 100000)
    got = b""
    while len(got) < 100000:
        got += s.recv()
    assert got == b"x" * 100000
    c.close()
    assert s.recv(timeout=5) == b""
    s.close()

    s1, s2 = socket.socketpair()
    c, s = run_pair(lambda: channel.wrap(s1, identity=a, peer_fingerprint=fa),  # pins the wrong peer
                    lambda: channel.wrap(s2, identity=b, accept_any_peer=True, server_side=True))
    assert isinstance(c, ChannelError) and c.name == "fingerprint_mismatch"
    assert isinstance(s, ChannelError)


def test_wrong_psk_and_missing_pin_are_refused(tmp):
    s1, s2 = socket.socketpair()
    c, s = run_pair(lambda: channel.wrap(s1, psk=PSK), lambda: channel.wrap(s2, psk=bytes(32), server_side=True))
    assert isinstance(c, ChannelError) and c.name == "wrong_psk"
    assert isinstance(s, ChannelError) and s.name == "wrong_psk"
    a = os.path.join(tmp, "a.pem")
    channel.generate_identity(a)
    with pytest.raises(ValueError, match="peer_fingerprint"):
        channel.wrap(socket.socketpair()[0], identity=a)


@pytest.mark.parametrize("mtu", [23, 100, 247, 512])
def test_seqpacket_packets_stay_within_the_mtu(mtu):
    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    payload = bytes(range(256)) * 20
    c, s = run_pair(lambda: channel.wrap(s1, psk=PSK, mtu=mtu),
                    lambda: channel.wrap(s2, psk=PSK, server_side=True, mtu=mtu))
    assert not isinstance(c, Exception), c
    # The receiver now reads with an `mtu`-byte buffer: a longer packet would be cut short
    # (SEQPACKET drops the rest) and the record would fail authentication.
    s._recv_size = mtu
    c.send(payload)
    got = b""
    while len(got) < len(payload):
        got += s.recv(timeout=10)
    assert got == payload


def test_key_helpers(tmp):
    key = channel.generate_psk()
    qr = channel.psk_to_qr_string(key)
    assert qr.startswith("BLECRYPT-PSK1:") and channel.parse_psk(qr) == key
    assert channel.parse_psk(key.hex().upper()) == key
    with pytest.raises(ChannelError) as e:
        channel.parse_psk(qr[:-1] + ("A" if qr[-1] != "A" else "B"))
    assert e.value.name == "psk_checksum"
    f = os.path.join(tmp, "psk")
    with open(f, "w") as fh:
        fh.write(key.hex() + "\n")
    os.chmod(f, 0o644)
    with pytest.raises(ChannelError) as e:
        channel.load_psk(f)
    assert e.value.name == "file_not_private"
    os.chmod(f, 0o600)
    assert channel.load_psk(f) == key


def test_asyncio_stream_pair():
    async def main():
        got = {}

        async def handle(reader, writer):
            ch = await channel.open_stream(reader, writer, psk=PSK, server_side=True)
            got["server"] = await ch.recv(timeout=10)
            await ch.send(b"async pong")
            await ch.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ch = await channel.open_stream(reader, writer, psk=PSK)
        await ch.send(b"async ping")
        answer = await ch.recv(timeout=10)
        assert await ch.recv(timeout=10) == b""
        await ch.close()
        server.close()
        await server.wait_closed()
        return got["server"], answer

    server_got, answer = asyncio.run(asyncio.wait_for(main(), 30))
    assert server_got == b"async ping" and answer == b"async pong"


@needs_openssl
def test_asyncio_client_against_openssl(tmp):
    path = os.path.join(tmp, "s")
    srv = Proc([OPENSSL, "s_server", "-tls1_3", "-psk", PSK.hex(), "-psk_identity", "blecrypt", "-nocert", "-unix", path, "-naccept", "1"])

    async def main():
        wait_path(path)
        reader, writer = await asyncio.open_unix_connection(path)
        ch = await channel.open_stream(reader, writer, psk=PSK)
        await ch.send(b"hello async\n")
        assert srv.wait_for(b"hello async")
        srv.write(b"back\n")
        assert await ch.recv(timeout=10) == b"back\n"
        await ch.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        srv.kill()


def test_the_docs_rfcomm_example_runs_over_a_unix_socket(tmp):
    # examples/python/channel_rfcomm.py is the blog's example rewritten (docs/channel.md shows
    # it verbatim); the same code runs here with a Unix socket path instead of RFCOMM.
    import pathlib
    import sys
    example = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python" / "channel_rfcomm.py"
    psk_file, path = os.path.join(tmp, "pair.psk"), os.path.join(tmp, "s")
    fd = os.open(psk_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, channel.generate_psk().hex().encode() + b"\n")
    os.close(fd)
    server = subprocess.Popen([sys.executable, str(example), "server", psk_file, path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        wait_path(path)
        client = subprocess.run([sys.executable, str(example), "client", psk_file, path], capture_output=True, timeout=30)
        assert client.returncode == 0, client.stderr
        assert client.stdout == b"ack secret sensor reading: 42\n"
        out, err = server.communicate(timeout=30)
        assert server.returncode == 0, err
        assert out == b"received: secret sensor reading: 42\n"
    finally:
        server.kill()
        server.wait()


def test_seqpacket_packet_larger_than_the_receive_mtu_is_an_error_not_a_silent_cut():
    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    hello = bytes([0x16, 0x03, 0x01, 0x40, 0x00]) + bytes(70000)  # one 70005-byte packet: above 65535
    s1.send(hello)
    with pytest.raises(ChannelError) as e:
        channel.wrap(s2, psk=PSK, server_side=True, handshake_timeout=5)
    assert e.value.name == "socket_error" and "receive MTU" in str(e.value)
    s1.close()
