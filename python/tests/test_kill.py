"""Python processes SIGKILLed while holding taken frames or loans: the
other side carries on and nothing is lost for good."""

import errno
import signal

import numpy as np
import pytest

import shoal
from conftest import finish

SHAPE = (480, 640, 3)


@pytest.mark.parametrize("pools", [None, [(1024, 4), (1 << 20, 3)]])
def test_subscriber_killed_holding_frames(registry, spawn, pools):
    """A subscriber holding two frames dies; the reliable publisher's ring
    (and its pool chunks) would stay pinned if its line were not evicted:
    the publisher goes on sending many rings' worth to a second one."""
    opts = {"pools": pools} if pools else {
        "max_payload": shoal.tensor_bytes(SHAPE, np.uint8)}
    with shoal.Publisher("py/kill-sub", capacity=4, send_timeout=60,
                         **opts) as pub:
        victim = spawn("""
            import shoal, time
            sub = shoal.Subscriber("py/kill-sub", timeout=30, max_held=2)
            print("joined", flush=True)
            a = sub.take_array(30)
            b = sub.take_array(30)
            assert a.shape == (480, 640, 3) and b.shape == a.shape
            print("holding", flush=True)
            time.sleep(600)
        """)
        assert victim.stdout.readline().strip() == "joined"
        assert pub.wait_subscribers(1, timeout=30)
        for f in range(2):
            arr = pub.loan_array(SHAPE, np.uint8, frame_id=f)
            arr[...] = f
            pub.send(arr)
            del arr
        assert victim.stdout.readline().strip() == "holding"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor = spawn("""
            import shoal
            with shoal.Subscriber("py/kill-sub", timeout=30) as sub:
                print("joined", flush=True)
                for f in range(100, 130):
                    a = sub.take_array(60)
                    assert int(a[0, 0, 0]) == f % 256 and int(a[-1, -1, -1]) == f % 256
                    del a
                print("ok")
        """)
        assert survivor.stdout.readline().strip() == "joined"
        assert pub.wait_subscribers(1, timeout=30)
        for f in range(100, 130):  # 7 rings of 4 slots
            arr = pub.loan_array(SHAPE, np.uint8, frame_id=f)
            arr[...] = f % 256
            pub.send(arr)
            del arr
        assert finish(survivor).strip() == "ok"


def test_publisher_killed_holding_loans(registry, spawn):
    """A publisher dies with loans out (written, never sent): its
    subscriber gets what was sent, then EPIPE, never a loaned frame; a new
    publisher of the name serves a new subscriber."""
    pub = spawn("""
        import numpy as np, shoal, time
        pub = shoal.Publisher("py/kill-pub", capacity=8, max_loans=2,
                              pools=[(1 << 20, 4)])
        assert pub.wait_subscribers(1, timeout=30)
        pub.send(b"sent")
        a = pub.loan_array((480, 640, 3), np.uint8)
        a[...] = 7
        b = pub.loan(100)
        print("loaned", flush=True)
        time.sleep(600)
    """)
    with shoal.Subscriber("py/kill-pub", timeout=30) as sub:
        assert pub.stdout.readline().strip() == "loaned"
        m = sub.take(30)
        assert bytes(m) == b"sent"
        m.release()
        pub.send_signal(signal.SIGKILL)
        pub.wait()
        with pytest.raises(shoal.Error) as e:
            while True:
                sub.take(30)
        assert e.value.errno == errno.EPIPE
    with shoal.Publisher("py/kill-pub", capacity=8,
                         pools=[(1 << 20, 4)]) as pub2, \
            shoal.Subscriber("py/kill-pub", timeout=30) as sub2:
        pub2.send(b"again")
        m = sub2.take(30)
        assert bytes(m) == b"again"
        m.release()
