"""C <-> Python across processes: every message checked by the other
language (tests/c_peer.c is the C side)."""

import numpy as np

import shoal
from conftest import finish


def test_c_publisher_python_subscriber_text(registry, peer):
    p = peer("pub-text", "interop/text", 50)
    with shoal.Subscriber("interop/text", timeout=30) as sub:
        got = [bytes(m) for m in sub]
    finish(p)
    assert got == [b"msg %d" % i for i in range(50)]


def test_python_publisher_c_subscriber_text(registry, peer):
    p = peer("sub-text", "interop/text2", 50)
    with shoal.Publisher("interop/text2") as pub:
        assert pub.wait_subscribers(1, timeout=30)
        for i in range(50):
            pub.send(b"msg %d" % i)
    assert "50 messages received" in finish(p)


def want(f):
    i, j, k = np.indices((3, 4, 5))
    return (f * 1000 + i * 100 + j * 10 + k).astype(np.float32)


def test_c_tensors_to_python(registry, peer):
    p = peer("pub-tensor", "interop/t", 20)
    with shoal.Subscriber("interop/t", timeout=30) as sub:
        for f in range(20):
            t = sub.take_tensor(30)
            assert t.frame_id == f
            assert np.array_equal(t.array, want(f))
            t.release()
    finish(p)


def test_python_tensors_to_c(registry, peer):
    p = peer("sub-tensor", "interop/t2", 20)
    nbytes = shoal.tensor_bytes((3, 4, 5), np.float32)
    with shoal.Publisher("interop/t2", max_payload=nbytes) as pub:
        assert pub.wait_subscribers(1, timeout=30)
        for f in range(20):
            if f % 2:
                arr = pub.loan_array((3, 4, 5), np.float32, frame_id=f)
                arr[...] = want(f)
                pub.send(arr)
            else:
                pub.send_array(want(f), frame_id=f)
    assert "20 frames received" in finish(p)
