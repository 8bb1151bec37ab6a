"""Pub/sub from Python, between processes: order, wait for the service
and for subscribers, errors as shoal.Error, lifetimes of zero-copy views."""

import errno
import gc

import pytest

import shoal
from conftest import finish


def test_publisher_to_subscriber_process(registry, spawn):
    # The subscriber starts first: its open waits for the publisher.
    sub = spawn("""
        import shoal
        with shoal.Subscriber("py/order", timeout=30) as sub:
            for i, msg in enumerate(sub):  # each released by the next
                assert bytes(msg) == b"msg %d" % i, bytes(msg)
                assert msg.seq == i
            print("got", i + 1)
    """)
    with shoal.Publisher("py/order", capacity=8) as pub:
        assert pub.wait_subscribers(1, timeout=30)
        for i in range(200):  # more than the ring: reliable waits
            pub.send(b"msg %d" % i)
    assert finish(sub).strip() == "got 200"


def test_open_errors(registry):
    with pytest.raises(shoal.Error) as e:
        shoal.Subscriber("py/none")
    assert e.value.errno == errno.ENOENT
    assert isinstance(e.value, OSError)
    with pytest.raises(shoal.Error) as e:
        shoal.Subscriber("py/none", timeout=0.2)
    assert e.value.errno == errno.ETIMEDOUT
    with pytest.raises(shoal.Error) as e:
        shoal.Publisher("bad//name")
    assert e.value.errno == errno.EINVAL
    assert "name" in e.value.strerror
    with pytest.raises(ValueError):
        shoal.Publisher("py/x", delivery="sometimes")
    with pytest.raises(ValueError):
        shoal.Subscriber("py/x", timeout=-1)


def test_name_taken(registry):
    with shoal.Publisher("py/taken"):
        with pytest.raises(shoal.Error) as e:
            shoal.Publisher("py/taken")
        assert e.value.errno == errno.EEXIST


def test_wait_subscribers_timeout(registry):
    with shoal.Publisher("py/lonely") as pub:
        assert pub.subscribers() == 0
        assert pub.wait_subscribers(1, timeout=0) is False
        assert pub.wait_subscribers(1, timeout=0.2) is False


def test_take_timeout_and_epipe(registry):
    pub = shoal.Publisher("py/end")
    sub = shoal.Subscriber("py/end")
    assert sub.take(0) is None
    assert sub.take(0.05) is None
    pub.send(b"last")
    pub.close()
    assert pub.closed
    with pytest.raises(ValueError):
        pub.send(b"after close")
    msg = sub.take(1)
    assert bytes(msg) == b"last"
    msg.release()
    with pytest.raises(shoal.Error) as e:
        sub.take(1)
    assert e.value.errno == errno.EPIPE
    sub.close()
    with pytest.raises(ValueError):
        sub.take(0)


def test_message_views_outlive_release(registry):
    with shoal.Publisher("py/views") as pub, \
            shoal.Subscriber("py/views", max_held=1) as sub:
        pub.send(b"abcdef")
        msg = sub.take(1)
        view = memoryview(msg)
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
        assert msg.release() is None  # deferred: a view is alive
        assert view.tobytes() == b"abcdef"  # still valid, still held
        with pytest.raises(shoal.Error) as e:
            sub.take(0)
        assert e.value.errno == errno.EBUSY
        del view  # the last view: the release happens now
        pub.send(b"next")
        nxt = sub.take(1)
        assert bytes(nxt) == b"next"
        # A released message gives no new views, and never crashes.
        assert nxt.release() is True
        with pytest.raises(ValueError):
            memoryview(nxt)
        with pytest.raises(ValueError):
            nxt.tobytes()


def test_close_with_message_alive(registry):
    pub = shoal.Publisher("py/closing")
    sub = shoal.Subscriber("py/closing")
    pub.send(b"kept")
    msg = sub.take(1)
    view = memoryview(msg)
    sub.close()  # deferred: the message keeps the mapping
    assert sub.closed
    assert view.tobytes() == b"kept"
    del msg
    assert view.tobytes() == b"kept"
    del view
    gc.collect()
    pub.close()


def test_loan_in_place(registry):
    with shoal.Publisher("py/loan", max_payload=64) as pub, \
            shoal.Subscriber("py/loan") as sub:
        loan = pub.loan(16)
        assert len(loan) == 16
        mv = memoryview(loan)
        assert not mv.readonly
        mv[:5] = b"hello"
        pub.send(loan, length=5)
        with pytest.raises(ValueError):
            pub.send(loan)  # sent already
        with pytest.raises(ValueError):
            memoryview(loan)  # no new views of a sent loan
        with sub.take(1) as msg:
            assert bytes(msg) == b"hello"
        # An unsent loan is aborted when collected: the next loan works.
        pub.loan(8)
        gc.collect()
        loan = pub.loan(8)
        loan.length = 3
        memoryview(loan)[:3] = b"xyz"
        pub.send(loan)
        with sub.take(1) as msg:
            assert bytes(msg) == b"xyz"
        with pytest.raises(shoal.Error) as e:
            pub.loan(65)
        assert e.value.errno == errno.EMSGSIZE


def test_user_header_and_timestamp(registry):
    with shoal.Publisher("py/hdr", user_header_size=8, timestamp=True) as pub, \
            shoal.Subscriber("py/hdr") as sub:
        pub.send(b"payload", header=b"12345678")
        with pytest.raises(ValueError):
            pub.send(b"x", header=b"short")
        with sub.take(1) as msg:
            assert msg.header == b"12345678"
            assert msg.timestamp_ns > 0
            assert msg.epoch == pub.epoch


def test_trusted_subscribers(registry):
    # SHOAL_PUB_TRUSTED_SUBSCRIBERS: no odd stamps; every message still
    # arrives whole and in order, across several laps of the ring.
    with shoal.Publisher("py/trusted", capacity=4,
                         trusted_subscribers=True) as pub, \
            shoal.Subscriber("py/trusted") as sub:
        for i in range(20):
            pub.send(b"%d" % i)
            with sub.take(1) as msg:
                assert bytes(msg) == b"%d" % i
                assert msg.seq == i
                assert msg.valid()


def test_lossy_lapped(registry):
    with shoal.Publisher("py/lossy", delivery="lossy", capacity=4) as pub, \
            shoal.Subscriber("py/lossy") as sub:
        for i in range(20):
            pub.send(b"%d" % i)
        msg = sub.take(1)
        assert msg.lost_before > 0
        assert int(bytes(msg)) == msg.lost_before
        msg.release()
        assert sub.stats()["lost"] == msg.lost_before


def test_stats(registry):
    with shoal.Publisher("py/stats") as pub, \
            shoal.Subscriber("py/stats") as sub:
        for i in range(3):
            pub.send(b"x")
        for i in range(3):
            sub.take(1).release()
        assert pub.stats()["sent"] == 3
        assert pub.subscribers() == 1
        assert sub.stats()["received"] == 3
        assert sub.connected


def test_close_waits_only_for_what_is_outstanding(registry):
    pub = shoal.Publisher("py/pins")
    sub = shoal.Subscriber("py/pins")
    sent = pub.loan(4)
    memoryview(sent)[:4] = b"done"
    pub.send(sent)  # sent, no view left: pins nothing any more
    outstanding = pub.loan(4)
    pub.close()  # deferred: a loan is still outstanding
    assert pub.closed
    assert bytes(sub.take(1)) == b"done"
    assert sub.take(0.05) is None  # the service is still there
    outstanding.abort()  # the last pin: the service is withdrawn now
    with pytest.raises(shoal.Error) as e:
        sub.take(5)
    assert e.value.errno == errno.EPIPE
    del sent, outstanding
    sub.close()


def test_held_messages_default_and_any_order(registry):
    with shoal.Publisher("py/held", capacity=8) as pub, \
            shoal.Subscriber("py/held") as sub:
        for i in range(4):
            pub.send(b"%d" % i)
        # The default (2) lets `m = sub.take()` run while the previous m
        # is still bound.
        m = sub.take(1)
        m = sub.take(1)
        assert bytes(m) == b"1"
        del m
    with shoal.Publisher("py/held3", capacity=8) as pub, \
            shoal.Subscriber("py/held3", max_held=3) as sub:
        for i in range(5):
            pub.send(b"%d" % i)
        a, b, c = sub.take(1), sub.take(1), sub.take(1)
        with pytest.raises(shoal.Error) as e:
            sub.take(0)
        assert e.value.errno == errno.EBUSY
        assert b.release() is True  # out of order
        d = sub.take(1)
        assert bytes(d) == b"3"
        assert c.release() and a.release() and d.release()
        assert bytes(sub.take(1)) == b"4"


def test_several_publishers(registry, spawn):
    # Each publisher stays until told (a line on stdin), so neither's end
    # can look like the service's end before the other joined.
    code = """
        import shoal, sys
        k = int(sys.argv[1])
        with shoal.Publisher("py/multi", max_publishers=2) as pub:
            assert pub.wait_subscribers(1, timeout=30)
            for i in range(50):
                pub.send(b"%d:%d" % (k, i))
            sys.stdin.readline()
    """
    seen = {0: [], 1: []}
    slots = set()
    pubs = [spawn(code, 0)]
    with shoal.Subscriber("py/multi", timeout=30) as sub:
        pubs.append(spawn(code, 1))
        while len(seen[0]) + len(seen[1]) < 100:
            msg = sub.take(30)
            assert msg is not None
            k, i = map(int, bytes(msg).split(b":"))
            seen[k].append(i)
            slots.add(msg.publisher)
            msg.release()
        for p in pubs:
            p.stdin.write("\n")
            p.stdin.flush()
        for p in pubs:
            finish(p)
        with pytest.raises(shoal.Error) as e:
            sub.take(30)  # both gone: the service's end
        assert e.value.errno == errno.EPIPE
    assert seen[0] == list(range(50)) and seen[1] == list(range(50))
    assert slots == {0, 1}
