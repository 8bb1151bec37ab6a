"""Discovery from Python: list() and Watch."""

import errno
import os
import signal

import shoal
from conftest import finish


def test_list_sorted_with_details(registry):
    with shoal.Publisher("b/one", type_name="pose", type_size=24,
                         type_align=8), shoal.Publisher("a/two"):
        names = [s["name"] for s in shoal.list()]
        assert names == ["a/two", "b/one"]
        one = [s for s in shoal.list() if s["name"] == "b/one"][0]
        assert one["pattern"] == "pubsub"
        assert one["type_name"] == "pose" and one["type_size"] == 24
        assert one["pid"] == os.getpid()
        assert one["uid"] == os.getuid()
        assert one["origin"] == ""
    assert shoal.list() == []


def test_origin_of_a_stand_in(registry):
    origin = "nats://127.0.0.1:4222 site-b gw-1 camera/left"
    with shoal.Publisher("camera/left", origin=origin):
        (info,) = shoal.list()
        assert info["origin"] == origin
    for bad in ("x" * 128, "line\nbreak"):
        try:
            shoal.Publisher("camera/bad", origin=bad)
        except OSError as e:
            assert e.errno == errno.EINVAL
        else:
            raise AssertionError("origin %r accepted" % bad)
    assert shoal.list() == []


def test_watch_sees_appear_and_death(registry, spawn):
    with shoal.watch() as w:
        assert w.next(0) is None
        p = spawn("""
            import shoal, sys, time
            pub = shoal.Publisher("w/svc")
            print("up", flush=True)
            time.sleep(600)
        """)
        ev = w.next(30)
        assert ev is not None
        kind, info = ev
        assert kind == "appeared" and info["name"] == "w/svc"
        assert info["pid"] == p.pid
        assert p.stdout.readline().strip() == "up"
        p.send_signal(signal.SIGKILL)
        p.wait()
        kind, info = w.next(30)
        assert kind == "gone" and info["name"] == "w/svc"
