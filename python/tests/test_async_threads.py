"""asyncio, threads and signals: waits release the GIL, a second thread on
one handle is refused (not a race), Ctrl-C interrupts a wait."""

import asyncio
import errno
import os
import signal
import threading
import time

import pytest

import shoal
from conftest import finish


def test_asyncio_iteration(registry, spawn):
    pub_proc = spawn("""
        import shoal, time
        with shoal.Publisher("as/stream") as pub:
            assert pub.wait_subscribers(1, timeout=30)
            for i in range(100):
                pub.send(b"%d" % i)
                if i % 10 == 0:
                    time.sleep(0.01)   # the subscriber sleeps between
    """)

    async def main():
        got = []
        with shoal.Subscriber("as/stream", timeout=30) as sub:
            async for msg in sub.aiter():
                got.append(int(bytes(msg)))
                msg.release()
        return got

    assert asyncio.run(main()) == list(range(100))
    finish(pub_proc)


def test_gil_released_while_waiting(registry):
    with shoal.Publisher("th/gil") as pub, \
            shoal.Subscriber("th/gil") as sub:
        got = []
        t = threading.Thread(target=lambda: got.append(sub.take(30)))
        t.start()
        # This thread runs Python while the other waits in take().
        count = 0
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            count += 1
        assert count > 1000
        with pytest.raises(RuntimeError):
            sub.take(0)  # the other thread is in a call on it
        pub.send(b"wake")
        t.join(30)
        assert not t.is_alive()
        assert bytes(got[0]) == b"wake"
        got[0].release()


def test_signal_interrupts_wait(registry):
    with shoal.Publisher("sig/wait") as pub, \
            shoal.Subscriber("sig/wait") as sub:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            sub.take(None)  # forever, but Ctrl-C comes
        assert time.monotonic() - start < 30
        timer.join()
        with pytest.raises(KeyboardInterrupt):
            threading.Timer(0.3, os.kill,
                            (os.getpid(), signal.SIGINT)).start()
            pub.wait_subscribers(5)
        pub.send(b"still works")
        assert bytes(sub.take(1)) == b"still works"
