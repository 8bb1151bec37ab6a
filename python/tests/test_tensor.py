"""Tensor frames from Python with numpy: in place both ways, between
processes, DLPack, and headers that lie."""

import errno
import gc

import numpy as np
import pytest

import shoal
from conftest import finish


def test_loan_array_to_take_array_across_processes(registry, spawn):
    shape = (1080, 1920, 3)  # a 6 MB frame
    sub = spawn("""
        import numpy as np, shoal
        with shoal.Subscriber("py/frames", timeout=30) as sub:
            for f in range(5):
                t = sub.take_tensor(30)
                a = t.array
                assert a.shape == (1080, 1920, 3) and a.dtype == np.uint8
                assert not a.flags.writeable
                assert a.ctypes.data % 64 == 0
                assert t.frame_id == f
                want = np.full((1080, 1920, 3), f, np.uint8)
                want[f, :, 0] = 200
                assert np.array_equal(a, want), f
                del a
                t.release()
            print("ok")
    """)
    nbytes = shoal.tensor_bytes(shape, np.uint8)
    assert nbytes >= 1080 * 1920 * 3 + 192
    with shoal.Publisher("py/frames", capacity=2, max_payload=nbytes) as pub:
        assert pub.wait_subscribers(1, timeout=30)
        for f in range(5):
            arr = pub.loan_array(shape, np.uint8, frame_id=f)
            assert arr.flags.writeable
            arr[...] = f
            arr[f, :, 0] = 200
            pub.send(arr)
            del arr
    assert finish(sub).strip() == "ok"


def test_send_array_copies_any_layout(registry):
    src = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    views = [src, src[:, ::2, :], np.asfortranarray(src), src.T]
    with shoal.Publisher("py/copy", max_payload=4096) as pub, \
            shoal.Subscriber("py/copy") as sub:
        for i, v in enumerate(views):
            pub.send_array(v, frame_id=i)
            a = sub.take_array(1)
            assert np.array_equal(a, v)
            assert a.dtype == v.dtype
            del a
            gc.collect()


def test_dtypes_round_trip(registry):
    with shoal.Publisher("py/dtypes", max_payload=4096) as pub, \
            shoal.Subscriber("py/dtypes") as sub:
        for dt in ["bool", "int8", "uint8", "int16", "uint16", "int32",
                   "uint32", "int64", "uint64", "float16", "float32",
                   "float64", "complex64", "complex128"]:
            v = (np.arange(12) % 2).astype(dt).reshape(3, 4)
            pub.send_array(v)
            t = sub.take_tensor(1)
            assert t.dtype == dt
            assert np.array_equal(t.array, v)
            # numpy reads DLPack's bool from 1.25 on (Debian 12: 1.24).
            if dt != "bool" or np.lib.NumpyVersion(np.__version__) >= "1.25.0":
                x = np.from_dlpack(t)
                assert np.array_equal(x, v) and not x.flags.writeable
                del x
            t.release()
            gc.collect()
        with pytest.raises(TypeError):
            pub.send_array(np.array(["a", "b"]))
        with pytest.raises(TypeError):
            pub.send_array(np.arange(3, dtype=">i4"))


def test_dlpack_keeps_message_alive(registry):
    with shoal.Publisher("py/dl", max_payload=4096) as pub, \
            shoal.Subscriber("py/dl", max_held=1) as sub:
        pub.send_array(np.arange(10, dtype=np.int32))
        t = sub.take_tensor(1)
        x = np.from_dlpack(t)
        assert t.__dlpack_device__() == (1, 0)
        t.release()  # deferred: x still refers to the slot
        del t
        gc.collect()
        assert list(x) == list(range(10))
        with pytest.raises(shoal.Error) as e:
            sub.take(0)  # still held
        assert e.value.errno == errno.EBUSY
        del x
        gc.collect()
        assert sub.take(0) is None  # released: nothing pending, no EBUSY
        # An unconsumed capsule frees itself.
        pub.send_array(np.arange(4, dtype=np.int8))
        t = sub.take_tensor(1)
        cap = t.__dlpack__()
        del cap
        t.release()


def test_bad_frames_are_refused(registry):
    with shoal.Publisher("py/bad", max_payload=4096) as pub, \
            shoal.Subscriber("py/bad") as sub:
        pub.send(b"not a tensor at all" * 20)
        with pytest.raises(shoal.Error) as e:
            sub.take_array(1)
        assert e.value.errno == errno.EBADMSG
        assert "magic" in e.value.strerror
        # A header whose shape reaches past its data.
        arr = pub.loan_array((4, 4), np.int32)
        loan = arr.base
        hdr = memoryview(loan).cast("Q")
        hdr[64 // 8] = 5  # shape[0] = 5
        pub.send(arr)
        del arr, hdr
        with pytest.raises(shoal.Error) as e:
            sub.take_tensor(1)
        assert e.value.errno == errno.EBADMSG
        # The stream goes on.
        pub.send_array(np.zeros(3))
        assert list(sub.take_array(1)) == [0, 0, 0]


def test_tensor_too_big_for_service(registry):
    with shoal.Publisher("py/small", max_payload=1024) as pub:
        with pytest.raises(shoal.Error) as e:
            pub.loan_array((100, 100), np.float32)
        assert e.value.errno == errno.EMSGSIZE
