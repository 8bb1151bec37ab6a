"""Stores from Python (docs/store.md): arrays as numpy views, blackboards,
maps and stacks, read-only peers, waits on key changes across processes,
and a C process writing what Python reads (tests/c_peer.c)."""

import errno

import numpy as np
import pytest

import shoal
from conftest import finish

OBJECTS = [
    dict(name="pose", kind="array", count=4, elem_size=24, type_name="double[3]"),
    dict(name="hits", kind="array", count=8, elem_size=8, type_name="u64"),
    dict(name="raw", kind="array", count=2, elem_size=5),
    dict(name="state", kind="blackboard", count=4, elem_size=16),
    dict(name="work", kind="stack", count=4, elem_size=8),
]


def has_maps(registry):
    try:
        shoal.Store("probe/map", create=True, registry=registry,
                    objects=[dict(name="m", kind="map", count=8,
                                  elem_size=8, key_size=8)]).close()
        return True
    except shoal.Error as e:
        assert e.errno == errno.EINVAL
        return False


def test_arrays_are_numpy_views(registry):
    with shoal.Store("py/arrays", create=True, objects=OBJECTS) as s, \
            shoal.Store("py/arrays", timeout=5) as p:
        assert s.keys() == ["pose", "hits", "raw", "state", "work"]
        assert "pose" in s and "nope" not in s
        pose = s["pose"]
        assert pose.shape == (4, 3) and pose.dtype == np.float64
        pose[2] = [1.5, 2.5, 3.5]
        hits = p["hits"]
        assert hits.dtype == np.dtype("<u8") and hits.shape == (8,)
        hits[3] = 7
        assert s["hits"][3] == 7
        assert np.array_equal(p["pose"][2], [1.5, 2.5, 3.5])
        raw = s["raw"]
        assert raw.shape == (2, 5) and raw.dtype == np.uint8
        assert s.array("hits", dtype=np.int32).shape == (16,)
        with pytest.raises(KeyError):
            s["nope"]


def test_read_only_peer(registry):
    with shoal.Store("py/ro", create=True, objects=OBJECTS) as s, \
            shoal.Store("py/ro", read_only=True, timeout=5) as p:
        assert p.read_only and not s.read_only
        a = p["pose"]
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 1
        with pytest.raises(shoal.Error) as e:
            p["state"][0] = b"x"
        assert e.value.errno == errno.EPERM
        with pytest.raises(shoal.Error) as e:
            p["work"].push(b"x")
        assert e.value.errno == errno.EPERM


def test_blackboard(registry):
    with shoal.Store("py/bb", create=True, objects=OBJECTS) as s:
        bb = s["state"]
        assert len(bb) == 4 and bb.value_size == 16
        assert bb[1] == bytes(16) and bb.version(1) == 0
        bb[1] = b"pose 1"
        assert bb[1] == b"pose 1" + bytes(10)
        assert bb.read(1) == (b"pose 1" + bytes(10), 1)
        with pytest.raises(KeyError):
            bb[4]
        with pytest.raises(ValueError):
            bb[0] = bytes(17)
        with pytest.raises(TypeError):
            bb[0] = "text"
        assert bb.wait(timeout=0) == [1]  # since this object last said
        assert bb.wait(timeout=0) == []


def test_blackboard_wait_across_processes(registry, spawn):
    with shoal.Store("py/wait", create=True, objects=OBJECTS) as s:
        bb = s["state"]
        p = spawn("""
            import shoal, sys
            with shoal.Store("py/wait", read_only=True, timeout=30) as s:
                bb = s["state"]
                print("ready", flush=True)
                got = bb.wait([0, 2], timeout=30)
                print(got, bytes(bb[2]).rstrip(b"\\0").decode(), flush=True)
        """)
        assert p.stdout.readline().strip() == "ready"
        bb[2] = b"changed"
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == "[2] changed"


def test_stack(registry):
    with shoal.Store("py/stack", create=True, objects=OBJECTS) as s:
        st = s["work"]
        assert st.pop() is None
        for i in range(4):
            st.push(b"job %d" % i)
        with pytest.raises(shoal.Error) as e:
            st.push(b"full")
        assert e.value.errno == errno.EAGAIN
        assert [st.pop().rstrip(b"\0") for _ in range(4)] == \
            [b"job 3", b"job 2", b"job 1", b"job 0"]


def test_map(registry):
    if not has_maps(registry):
        pytest.skip("this build's store has no maps yet")
    objs = OBJECTS + [dict(name="cfg", kind="map", count=8, elem_size=8,
                           key_size=16)]
    with shoal.Store("py/map", create=True, objects=objs) as s, \
            shoal.Store("py/map", timeout=5) as p:
        m, pm = s["cfg"], p["cfg"]
        m["rate"] = b"100"
        m[b"mode"] = b"auto"
        assert pm["rate"] == b"100" + bytes(5)
        assert "mode" in pm and "other" not in pm
        assert pm.get("other", b"-") == b"-"
        del pm["mode"]
        assert "mode" not in m
        with pytest.raises(KeyError):
            m["mode"]


def test_buffer_keeps_store_open(registry):
    s = shoal.Store("py/buf", create=True, objects=OBJECTS)
    a = s["hits"]
    s.close()
    assert s.closed
    a[0] = 5  # still mapped: the view keeps it
    assert a[0] == 5
    del a
    with pytest.raises(ValueError):
        s.objects()


def test_c_writes_python_reads(registry, peer):
    p = peer("store-writer", "interop/store", 20)
    with shoal.Store("interop/store", timeout=30) as s:
        counts = s["counts"]
        while counts[3] != 40:
            pass
        assert list(counts) == [10, 20, 30, 40]
        bb = s["bb"]
        seen = []
        while len(seen) < 20:
            v = bb[0].rstrip(b"\0").decode()
            if v and (not seen or seen[-1] != v):
                seen.append(v)
                counts[3] = int(v.split()[1])  # the acknowledgement
            elif bb.wait([0], timeout=30) == []:
                break
        assert seen == ["c %d" % i for i in range(1, 21)]
        assert bb.wait([1], timeout=30) == [1]
        assert bb[1].rstrip(b"\0") == b"done"
        counts[0] = 0
    assert "store ok" in finish(p)
