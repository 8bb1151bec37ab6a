"""Payload pools from Python: pools=[(size, count), ...] on a Publisher;
frames and small messages in one stream, each in the smallest chunk that
holds it, across processes and in place both ways."""

import errno

import numpy as np
import pytest

import shoal
from conftest import finish

POOLS = [(1024, 8), (8 << 20, 3)]


def test_frames_and_small_messages_in_one_stream(registry, spawn):
    shape = (1080, 1920, 3)
    sub = spawn("""
        import numpy as np, shoal
        with shoal.Subscriber("py/pools", timeout=30) as sub:
            for f in range(6):
                m = sub.take(30)
                assert bytes(m) == b"small %d" % f, bytes(m)
                m.release()
                a = sub.take_array(30)
                assert a.shape == (1080, 1920, 3), a.shape
                assert a.ctypes.data % 64 == 0
                assert int(a[f, 7, 1]) == f and int(a[0, 0, 0]) == 200
                del a
            print("ok")
    """)
    with shoal.Publisher("py/pools", capacity=16, pools=POOLS) as pub:
        assert pub.wait_subscribers(1, timeout=30)
        for f in range(6):
            pub.send(b"small %d" % f)
            arr = pub.loan_array(shape, np.uint8, frame_id=f)
            arr[...] = 0
            arr[0, 0, 0] = 200
            arr[f, 7, 1] = f
            pub.send(arr)
            del arr
    assert finish(sub).strip() == "ok"


def test_lossy_reuse_is_stale_at_release(registry):
    with shoal.Publisher("py/pools-lossy", delivery="lossy", capacity=16,
                         pools=[(64, 2)]) as pub, \
            shoal.Subscriber("py/pools-lossy") as sub:
        pub.send(b"m0")
        m = sub.take(1)
        assert bytes(m) == b"m0"
        pub.send(b"m1")
        assert m.valid()
        pub.send(b"m2")  # takes m0's chunk back
        assert not m.valid()
        assert m.release() is False  # whatever was read may be torn
        m = sub.take(1)
        assert bytes(m) == b"m1"
        m.release()


def test_too_big_and_bad_pools(registry):
    with shoal.Publisher("py/pools-big", pools=[(64, 2), (128, 1)]) as pub:
        with pytest.raises(shoal.Error) as e:
            pub.send(b"x" * 129)
        assert e.value.errno == errno.EMSGSIZE
    for bad in ([(128, 1), (64, 1)], [(64, 0)], [(64, 1)] * 9, []):
        with pytest.raises((shoal.Error, ValueError)):
            shoal.Publisher("py/pools-bad", pools=bad)
    with pytest.raises(TypeError):
        shoal.Publisher("py/pools-bad", pools=[64])
