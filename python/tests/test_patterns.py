"""Queue, request/response and events from Python, between processes."""

import errno

import pytest

import shoal
from conftest import finish


def test_queue_each_message_to_one_consumer(registry, spawn):
    consumer = """
        import sys, shoal
        got = []
        with shoal.Queue("q/work", role="consumer", timeout=30) as q:
            for msg in q:  # until the creator is gone and it is empty
                got.append(int(bytes(msg)))
        print(" ".join(map(str, got)))
    """
    with shoal.Queue("q/work", create=True, role="producer",
                     capacity=8) as q:
        c1, c2 = spawn(consumer), spawn(consumer)
        # Both consumers joined before anything is sent: one that came
        # after the end would wait for the name to come back.
        import time
        end = time.monotonic() + 60
        while q.stats()["participants"] < 3 and time.monotonic() < end:
            time.sleep(0.01)
        assert q.stats()["participants"] == 3
        for i in range(300):
            if i % 2:
                q.send(b"%d" % i)
            else:
                loan = q.loan(8)
                text = b"%d" % i
                memoryview(loan)[:len(text)] = text
                q.send(loan, length=len(text))
        st = q.stats()
        assert st["capacity"] == 8 and st["pushed"] == 300
        # Wait until the consumers drained it before withdrawing.
        end = time.monotonic() + 60
        while q.stats()["dequeued"] < 300 and time.monotonic() < end:
            time.sleep(0.01)
    a = finish(c1).split()
    b = finish(c2).split()
    got = sorted(int(x) for x in a + b)
    assert got == list(range(300))  # each exactly once


def test_queue_errors(registry):
    with pytest.raises(shoal.Error) as e:
        shoal.Queue("q/none")
    assert e.value.errno == errno.ENOENT
    with shoal.Queue("q/x", create=True, role="producer",
                     max_message=16) as q:
        with pytest.raises(shoal.Error) as e:
            q.send(b"x" * 17)
        assert e.value.errno == errno.EMSGSIZE
        with pytest.raises(shoal.Error) as e:
            q.take(0)  # a producer does not consume
        assert e.value.errno == errno.EPERM
    with pytest.raises(ValueError):
        shoal.Queue("q/s", create=True, spsc=True)
    with shoal.Queue("q/s", create=True, spsc=True, role="producer") as p, \
            shoal.Queue("q/s", spsc=True, role="consumer") as c:
        p.send(b"one")
        assert c.read(1) == b"one"
        assert c.take(0) is None


def test_rpc_call_across_processes(registry, spawn):
    server = spawn("""
        import shoal
        with shoal.Server("rpc/upper") as srv:
            print("up", flush=True)
            for req in srv:
                data = bytes(req)
                if data == b"stop":
                    srv.reply(req, b"bye")
                    break
                if data == b"stream":
                    for i in range(3):
                        srv.reply(req, b"part %d" % i, more=True)
                    srv.reply(req, b"end")
                    continue
                srv.reply(req, data.upper(), error=data == b"bad")
    """)
    assert server.stdout.readline().strip() == "up"
    with shoal.Client("rpc/upper", timeout=30) as cli:
        assert cli.connected
        with cli.call(b"hello", timeout=30) as r:
            assert bytes(r) == b"HELLO" and not r.error
        with cli.call(b"bad", timeout=30) as r:
            assert r.error
        rid = cli.send(b"stream")
        parts = []
        while True:
            m = cli.take(30)
            assert m.id == rid
            parts.append((bytes(m), m.more))
            more = m.more
            m.release()
            if not more:
                break
        assert parts == [(b"part 0", True), (b"part 1", True),
                         (b"part 2", True), (b"end", False)]
        # call() skips the non-final responses.
        with cli.call(b"stream", timeout=30) as r:
            assert bytes(r) == b"end"
        assert bytes(cli.call(b"stop", timeout=30)) == b"bye"
    finish(server)


def test_rpc_server_gone(registry):
    srv = shoal.Server("rpc/gone")
    cli = shoal.Client("rpc/gone")
    srv.close()
    with pytest.raises(shoal.Error) as e:
        cli.take(5)
    assert e.value.errno == errno.EPIPE
    cli.close()


def test_events_across_processes(registry, spawn):
    with shoal.Events("ev/bell", create=True, ids=16) as ev:
        assert ev.ids == 16
        listener = spawn("""
            import shoal
            with shoal.Events("ev/bell", timeout=30) as ev:
                ev.listen([3, 5])
                print("listening", flush=True)
                got = set()
                while got != {3, 5}:
                    got.update(ev.wait(30))
                print(sorted(got))
        """)
        assert listener.stdout.readline().strip() == "listening"
        assert ev.notify(7) == 0  # nobody listens for 7
        assert ev.notify(3) == 1
        assert ev.notify(5) == 1
        assert finish(listener).strip() == "[3, 5]"
        with pytest.raises(shoal.Error) as e:
            ev.notify(16)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(shoal.Error) as e:
            ev.wait(0)  # not listening
        assert e.value.errno == errno.EINVAL


def test_events_wait_timeout_and_end(registry):
    creator = shoal.Events("ev/end", create=True)
    peer = shoal.Events("ev/end")
    peer.listen(1)
    assert peer.wait(0) == []
    assert peer.wait(0.05) == []
    creator.notify(1)
    assert peer.wait(1) == [1]
    creator.close()
    with pytest.raises(shoal.Error) as e:
        peer.wait(5)
    assert e.value.errno == errno.EPIPE
    peer.close()


def test_channel_between_processes(registry, spawn):
    receiver = spawn("""
        import shoal
        with shoal.Channel("ch/one", timeout=30) as ch:
            assert ch.stats()["role"] == "recv"
            got = [bytes(m) for m in ch]  # until the sender is gone
        print(len(got), got[0].decode(), got[-1].decode())
    """)
    with shoal.Channel("ch/one", create=True, role="send", capacity=4,
                       slot_size=64) as ch:
        for i in range(100):
            if i % 3:
                ch.send(b"m%d" % i)
            else:
                loan = ch.loan(8)
                t = b"m%d" % i
                memoryview(loan)[:len(t)] = t
                ch.send(loan, length=len(t))
        with pytest.raises(shoal.Error) as e:
            ch.take(0)  # the sender does not receive
        assert e.value.errno == errno.EBADF
    assert finish(receiver).split() == ["100", "m0", "m99"]


def test_channel_role_rules(registry):
    with pytest.raises(ValueError):
        shoal.Channel("ch/r", role="recv")  # only the creator chooses
    with shoal.Channel("ch/r", create=True, role="recv") as rx, \
            shoal.Channel("ch/r") as tx:
        tx.send(b"hi")
        assert rx.read(1) == b"hi"
        assert tx.stats()["role"] == "send"


def test_several_loans_and_held(registry):
    with shoal.Queue("q/loans", create=True, max_loans=3, max_held=3) as q:
        a, b, c = q.loan(4), q.loan(4), q.loan(4)
        for loan, text in ((a, b"aaaa"), (b, b"bbbb"), (c, b"cccc")):
            memoryview(loan)[:4] = text
        q.send(c)  # any order
        b.abort()
        q.send(a)
        got = sorted(bytes(q.take(1)) for _ in range(2))
        assert got == [b"aaaa", b"cccc"]
    with shoal.Publisher("p/loans", max_loans=2) as pub, \
            shoal.Subscriber("p/loans", max_held=2) as sub:
        x, y = pub.loan(4), pub.loan(4)
        memoryview(x)[:4] = b"xxxx"
        memoryview(y)[:4] = b"yyyy"
        pub.send(y)
        assert sub.take(0) is None  # y waits for x: loan order
        pub.send(x)
        m1, m2 = sub.take(1), sub.take(1)
        assert (bytes(m1), bytes(m2)) == (b"xxxx", b"yyyy")
        with pytest.raises(shoal.Error) as e:
            pub.loan(4), pub.loan(4), pub.loan(4)
        assert e.value.errno == errno.EBUSY
