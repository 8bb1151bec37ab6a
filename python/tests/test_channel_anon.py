"""The channel's anonymous form: Channel(None, create=True) publishes no
name; the other process opens it from the creator's fds() (inherited by
fork, passed to a child with pass_fds, or sent over a Unix socket)."""

import errno
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import shoal
from conftest import finish


def start(code, pass_fds=(), *args):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code),
                             *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, pass_fds=pass_fds,
                            env=dict(os.environ))


def test_anonymous_pass_fds(registry):
    with shoal.Channel(None, create=True, role="recv", capacity=8,
                       slot_size=64) as rx:
        assert shoal.list() == []  # nothing published
        fds = rx.fds()
        sender = start("""
            import sys, shoal
            fds = tuple(int(x) for x in sys.argv[1:4])
            with shoal.Channel(None, fds=fds) as tx:
                assert tx.stats()["role"] == "send"
                for i in range(100):   # more than the ring holds
                    tx.send(b"m%d" % i)
        """, fds, *fds)
        got = [bytes(m) for m in rx]  # until the sender is gone
        finish(sender)
    assert got == [b"m%d" % i for i in range(100)]


def test_anonymous_fork(registry):
    r, w = os.pipe()
    # send_timeout: a child that died early fails the test, never hangs it.
    with shoal.Channel(None, create=True, role="send", capacity=4,
                       slot_size=64, send_timeout=60) as tx:
        pid = os.fork()
        if pid == 0:  # the child: opens from the inherited fds, reads all
            code = 1
            try:
                os.close(r)
                with shoal.Channel(None, fds=tx.fds(), timeout=None) as ch:
                    n = sum(1 for m in ch if bytes(m) == b"x" * 8)
                os.write(w, b"%d" % n)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        for _ in range(50):
            loan = tx.loan(8)
            memoryview(loan)[:] = b"x" * 8
            tx.send(loan)
    # The creator is gone: the child drains, sees EPIPE, reports.
    out = os.read(r, 64)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert out == b"50"


def test_anonymous_scm_rights(registry):
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    receiver = start("""
        import socket, sys, shoal
        s = socket.socket(fileno=int(sys.argv[1]))
        _, fds, _, _ = socket.recv_fds(s, 16, 3)
        with shoal.Channel(None, fds=tuple(fds)) as rx:
            for fd in fds:   # the channel holds its own duplicates
                import os; os.close(fd)
            print(b"".join(bytes(m) for m in rx).decode())
    """, (child.fileno(),), child.fileno())
    child.close()
    with shoal.Channel(None, create=True, slot_size=16) as tx:
        socket.send_fds(parent, [b"fds"], list(tx.fds()))
        for word in (b"over ", b"a ", b"unix ", b"socket"):
            tx.send(word)
    parent.close()
    assert finish(receiver).strip() == "over a unix socket"


def test_anonymous_in_one_process_and_close(registry):
    with shoal.Channel(None, create=True, role="send") as tx:
        rx = shoal.Channel(None, fds=tx.fds())
        assert rx.stats()["role"] == "recv"
        tx.send(b"one")
        tx.send(b"two")
    # The creator is destroyed: what was sent is still read, then EPIPE.
    assert rx.read(1) == b"one"
    assert rx.read(1) == b"two"
    with pytest.raises(shoal.Error) as e:
        rx.take(1)
    assert e.value.errno == errno.EPIPE
    rx.close()


def test_anonymous_rules(registry):
    with pytest.raises(ValueError):
        shoal.Channel(None)  # neither created nor opened from fds
    with shoal.Channel(None, create=True) as tx:
        fds = tx.fds()
        assert len(fds) == 3 and all(isinstance(f, int) for f in fds)
        with pytest.raises(ValueError):
            shoal.Channel("ch/named", fds=fds)  # a name and fds
        with pytest.raises(ValueError):
            shoal.Channel(None, create=True, fds=fds)
        with pytest.raises(ValueError):
            shoal.Channel(None, fds=fds, role="send")  # the creator chose
        with pytest.raises(TypeError):
            shoal.Channel(None, fds=fds[:2])
    r, w = os.pipe()
    try:
        with pytest.raises(shoal.Error) as e:
            shoal.Channel(None, fds=(r, r, w))  # not a memfd
        assert "memfd" in e.value.strerror
        with shoal.Channel(None, create=True) as tx:
            with pytest.raises(shoal.Error) as e:  # not eventfds
                shoal.Channel(None, fds=(tx.fds()[0], r, w))
            assert e.value.errno == errno.EINVAL
            assert "eventfd" in e.value.strerror
    finally:
        os.close(r)
        os.close(w)
    tx = shoal.Channel(None, create=True)
    tx.close()
    with pytest.raises(ValueError):
        tx.fds()  # closed
