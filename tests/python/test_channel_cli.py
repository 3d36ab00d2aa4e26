"""`blecrypt channel keygen|fingerprint|listen|connect`: exit codes (0 ok, 1 protocol failure,
2 usage, 3 no Bluetooth), piping stdin/stdout against openssl s_server/s_client and itself.
The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt of this checkout."""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))
OPENSSL = shutil.which("openssl")
pytestmark = [pytest.mark.skipif(not CLI.exists(), reason="blecrypt CLI not built"),
              pytest.mark.skipif(OPENSSL is None, reason="openssl binary missing")]


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="bc-", dir="/tmp")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def cli(*args, input=b"", timeout=30):
    return subprocess.run([str(CLI), "channel", *args], input=input, capture_output=True, timeout=timeout)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen_psk(tmp, name="psk"):
    p = cli("keygen", "--psk-out", str(tmp / name))
    assert p.returncode == 0, p.stderr
    return (tmp / name).read_text().strip()


def wait_for(proc_stream_path_or_cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc_stream_path_or_cond():
            return True
        time.sleep(0.02)
    return False


def test_keygen_prints_hex_and_qr_and_writes_private_files(tmp):
    p = cli("keygen")
    assert p.returncode == 0
    out = p.stdout.decode()
    hexkey = re.search(r"^psk: ([0-9a-f]{64})$", out, re.M).group(1)
    qr = re.search(r"^qr:  (BLECRYPT-PSK1:[A-Z2-7]{52}-[A-Z2-7]{4})$", out, re.M).group(1)
    assert hexkey and qr
    key = tmp / "k"
    assert cli("keygen", "--psk-out", str(key)).returncode == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert cli("keygen", "--psk-out", str(key)).returncode == 2  # never overwrites
    ident = tmp / "id.pem"
    p = cli("keygen", "--identity-out", str(ident))
    assert p.returncode == 0, p.stderr
    assert ident.stat().st_mode & 0o777 == 0o600
    fp = re.search(r"fingerprint: ([0-9A-F:]{95})", p.stdout.decode()).group(1)
    # The same fingerprint openssl shows for the certificate.
    x = subprocess.run([OPENSSL, "x509", "-noout", "-fingerprint", "-sha256", "-in", str(ident)], capture_output=True, text=True)
    assert x.stdout.strip().split("=", 1)[1] == fp
    assert cli("fingerprint", "--identity", str(ident)).stdout.decode().strip() == fp


def test_connect_pipes_to_openssl_s_server_over_tcp(tmp):
    hexkey = keygen_psk(tmp)
    port = free_port()
    srv = subprocess.Popen([OPENSSL, "s_server", "-tls1_3", "-psk", hexkey, "-psk_identity", "blecrypt", "-nocert",
                            "-accept", f"127.0.0.1:{port}", "-naccept", "1"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        client = subprocess.Popen([str(CLI), "channel", "connect", "--tcp", f"127.0.0.1:{port}", "--psk-file", str(tmp / "psk")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        client.stdin.write(b"line from blecrypt\n")
        client.stdin.flush()
        srv.stdin.write(b"line from s_server\n")
        srv.stdin.flush()
        line = client.stdout.readline()
        assert line == b"line from blecrypt\n" or line == b"line from s_server\n"
        if line != b"line from s_server\n":
            line = client.stdout.readline()
        assert line == b"line from s_server\n"
        client.stdin.close()  # EOF -> close_notify -> s_server closes -> exit 0
        assert client.wait(timeout=15) == 0, client.stderr.read()
        assert b"authenticated by the PSK" in client.stderr.read()
    finally:
        srv.kill()
        srv.wait()
    assert b"line from blecrypt" in srv.stdout.read()


def test_listen_pipes_to_openssl_s_client_over_unix(tmp):
    hexkey = keygen_psk(tmp)
    path = str(tmp / "s")
    server = subprocess.Popen([str(CLI), "channel", "listen", "--unix", path, "--psk-file", str(tmp / "psk")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: os.path.exists(path))
        server.stdin.write(b"hello s_client\n")
        server.stdin.flush()
        out = subprocess.run([OPENSSL, "s_client", "-tls1_3", "-unix", path, "-psk", hexkey, "-psk_identity", "blecrypt"],
                             input=b"hello listener\n", capture_output=True, timeout=20)
        # s_client sends its line, then close_notify at its stdin's end: the listener exits 0.
        assert server.wait(timeout=15) == 0, server.stderr.read()
        assert server.stdout.read() == b"hello listener\n"
    finally:
        server.kill()
        server.wait()
    assert out.returncode == 0


def test_identity_mode_with_trust_on_first_use_between_two_clis(tmp):
    for n in ("a", "b", "c"):
        assert cli("keygen", "--identity-out", str(tmp / f"{n}.pem")).returncode == 0
    fp_b = cli("fingerprint", "--identity", str(tmp / "b.pem")).stdout.decode().strip()
    fp_a = cli("fingerprint", "--identity", str(tmp / "a.pem")).stdout.decode().strip()
    port = free_port()

    def session(server_identity, tofu_args, expect_client_rc):
        server = subprocess.Popen([str(CLI), "channel", "listen", "--tcp", f"127.0.0.1:{port}", "--identity",
                                   str(tmp / server_identity), "--peer-fingerprint", fp_a],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.3)
            client = subprocess.run([str(CLI), "channel", "connect", "--tcp", f"127.0.0.1:{port}", "--identity", str(tmp / "a.pem"),
                                     *tofu_args], input=b"tofu hello\n", capture_output=True, timeout=20)
            server.wait(timeout=15)
            return client, server.stdout.read(), server.returncode
        finally:
            server.kill()
            server.wait()

    pin = tmp / "known_peer"
    client, got, _ = session("b.pem", ["--trust-on-first-use", str(pin)], 0)
    assert client.returncode == 0, client.stderr
    assert got == b"tofu hello\n"
    assert b"first use" in client.stderr
    assert pin.read_text().strip() == fp_b
    # Same pin, another server identity (c): refused, exit 1, nothing delivered.
    client, got, _ = session("c.pem", ["--trust-on-first-use", str(pin)], 1)
    assert client.returncode == 1
    assert b"fingerprint" in client.stderr
    assert got == b""
    # Explicit pin.
    client, got, _ = session("b.pem", ["--peer-fingerprint", fp_b.lower()], 0)
    assert client.returncode == 0, client.stderr


def test_wrong_psk_is_exit_1_with_a_clear_message(tmp):
    keygen_psk(tmp, "one")
    keygen_psk(tmp, "two")
    path = str(tmp / "s")
    server = subprocess.Popen([str(CLI), "channel", "listen", "--unix", path, "--psk-file", str(tmp / "one")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: os.path.exists(path))
        p = cli("connect", "--unix", path, "--psk-file", str(tmp / "two"), input=b"secret\n")
        assert p.returncode == 1
        assert b"wrong PSK" in p.stderr
        assert server.wait(timeout=15) == 1
        assert server.stdout.read() == b""
        assert b"wrong PSK" in server.stderr.read()
    finally:
        server.kill()
        server.wait()


def test_seqpacket_unix_with_small_mtu(tmp):
    keygen_psk(tmp)
    path = str(tmp / "s")
    data, answer = bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 30
    (tmp / "answer").write_bytes(answer)
    with open(tmp / "answer", "rb") as answer_in:
        server = subprocess.Popen([str(CLI), "channel", "listen", "--unix", path, "--seqpacket", "--mtu", "23", "--psk-file",
                                   str(tmp / "psk")], stdin=answer_in, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: os.path.exists(path))
        p = cli("connect", "--unix", path, "--seqpacket", "--mtu", "23", "--psk-file", str(tmp / "psk"), input=data)
        assert server.wait(timeout=15) == 0, server.stderr.read()
        assert p.returncode == 0, p.stderr
        assert server.stdout.read() == data
        assert p.stdout == answer
    finally:
        server.kill()
        server.wait()


def listener(tmp, stdin, stdout=subprocess.PIPE):
    """`channel listen --unix` on tmp/s with tmp/psk, once its socket exists."""
    path = str(tmp / "s")
    server = subprocess.Popen([str(CLI), "channel", "listen", "--unix", path, "--psk-file", str(tmp / "psk")],
                              stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    assert wait_for(lambda: os.path.exists(path))
    return server, path


def test_half_close_the_listener_sends_all_of_its_input_to_a_client_with_none(tmp):
    # TLS 1.3 half close both ways (like ncat): the client's empty stdin ends only its own
    # direction. The listener's input arrives only after it saw the client's close_notify, and
    # is still all delivered; then both exit 0.
    keygen_psk(tmp)
    blob = os.urandom(1_000_000)
    server, path = listener(tmp, subprocess.PIPE)
    try:
        with open(tmp / "got", "wb") as got:  # a file: the client never waits for this test to read
            client = subprocess.Popen([str(CLI), "channel", "connect", "--unix", path, "--psk-file", str(tmp / "psk")],
                                      stdin=subprocess.DEVNULL, stdout=got, stderr=subprocess.PIPE)
        seen = b""
        while b"closed by the peer" not in seen:  # bounded by the listener's handshake timeout
            line = server.stderr.readline()
            assert line, seen
            seen += line
        server.stdin.write(blob)
        server.stdin.close()
        _, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
        assert (tmp / "got").read_bytes() == blob
        assert server.wait(timeout=15) == 0, server.stderr.read()
        assert server.stdout.read() == b""
    finally:
        server.kill()
        server.wait()


def test_large_binary_input_both_ways_at_once(tmp):
    # Both sides write more than the socket and pipe buffers hold before reading anything: the
    # pump must keep reading while its writes wait (a blocking write on each side would deadlock).
    keygen_psk(tmp)
    up, down = os.urandom(3_000_000), os.urandom(2_500_000)
    (tmp / "down").write_bytes(down)
    with open(tmp / "down", "rb") as f, open(tmp / "up", "wb") as out:
        server, path = listener(tmp, f, out)
    try:
        p = cli("connect", "--unix", path, "--psk-file", str(tmp / "psk"), input=up, timeout=60)
        assert p.returncode == 0, p.stderr
        assert server.wait(timeout=30) == 0, server.stderr.read()
        assert (tmp / "up").read_bytes() == up
        assert p.stdout == down
    finally:
        server.kill()
        server.wait()


def test_closed_stdout_is_exit_1_with_a_message_not_sigpipe(tmp):
    keygen_psk(tmp)
    (tmp / "blob").write_bytes(os.urandom(1_000_000))
    with open(tmp / "blob", "rb") as f:
        server, path = listener(tmp, f)
    try:
        r, w = os.pipe()
        os.close(r)  # nobody reads the client's output (as with `| head -c 10` after head exited)
        client = subprocess.run([str(CLI), "channel", "connect", "--unix", path, "--psk-file", str(tmp / "psk")],
                                stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE, timeout=30)
        os.close(w)
        assert client.returncode == 1, client.stderr
        assert b"cannot write received data" in client.stderr
    finally:
        server.kill()
        server.wait()


def test_usage_errors_are_exit_2(tmp):
    keygen_psk(tmp)
    psk = str(tmp / "psk")
    loose = tmp / "loose"
    loose.write_text("00" * 32 + "\n")
    loose.chmod(0o644)
    cases = [
        ("connect", "--tcp", "127.0.0.1:1", "--psk-file", str(loose)),                       # group/other-readable
        ("connect", "--psk-file", psk),                                                       # no transport
        ("connect", "--tcp", "127.0.0.1:1", "--unix", "/x", "--psk-file", psk),               # two transports
        ("connect", "--tcp", "127.0.0.1:1"),                                                  # no key
        ("connect", "--tcp", "localhost", "--psk-file", psk),                                 # no port
        ("connect", "--rfcomm", "00:11:22:33:44:55:0x3", "--psk-file", psk),                  # not decimal
        ("connect", "--l2cap", "00:11:22:33:44:55:300", "--psk-file", psk),                   # PSM out of range
        ("connect", "--unix", "/x", "--seqpacket", "--mtu", "0x40", "--psk-file", psk),       # not decimal
        ("connect", "--tcp", "127.0.0.1:1", "--psk-file", psk, "--handshake-timeout", "010s"),
        ("connect", "--tcp", "127.0.0.1:1", "--identity", psk),                              # not an identity
        # conflicting options, or options that would be ignored
        ("connect", "--tcp", "127.0.0.1:1", "--identity", psk, "--peer-fingerprint", "00" * 32, "--psk-identity", "x"),
        ("connect", "--tcp", "127.0.0.1:1", "--psk-file", psk, "--le-random"),
        ("listen", "--l2cap", "00:00:00:00:00:00:129", "--psk-file", psk, "--le-random"),
        ("listen", "--tcp", "127.0.0.1:1", "--psk-file", psk, "--connect-timeout", "5"),
        ("connect", "--tcp", "127.0.0.1:1", "--psk-file", psk, "--mtu", "100"),
        ("connect", "--tcp", "127.0.0.1:1", "--psk-file", psk, "--connect-timeout", "0"),
        ("keygen", "--psk-out", str(tmp / "n1"), "--identity-out", str(tmp / "n2")),
        ("keygen", "--name", "x"),
    ]
    for args in cases:
        p = cli(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith(b"blecrypt: error: "), (args, p.stderr)
    p = cli("connect", "--tcp", "127.0.0.1:1", "--psk-file", str(loose))
    assert b"chmod 600" in p.stderr


def test_leading_zero_port_is_decimal(tmp):
    keygen_psk(tmp)
    port = free_port()
    padded = f"0{port}"
    # Nothing listens: a connect failure (1), not a parse error (2) or an octal port.
    p = cli("connect", "--tcp", f"127.0.0.1:{padded}", "--psk-file", str(tmp / "psk"))
    assert p.returncode == 1
    assert f"127.0.0.1:{port}".encode() in p.stderr


def test_bluetooth_transports_without_kernel_support_exit_3(tmp):
    keygen_psk(tmp)
    try:
        socket.socket(31, socket.SOCK_STREAM, 3).close()
        pytest.skip("this kernel has Bluetooth sockets")
    except OSError:
        pass
    for args in (("connect", "--rfcomm", "00:11:22:33:44:55:3"), ("connect", "--l2cap", "00:11:22:33:44:55:128"),
                 ("listen", "--rfcomm", "00:00:00:00:00:00:3"), ("listen", "--l2cap", "00:00:00:00:00:00:128")):
        p = cli(*args, "--psk-file", str(tmp / "psk"))
        assert p.returncode == 3, (args, p.stderr)
        assert b"AF_BLUETOOTH" in p.stderr
