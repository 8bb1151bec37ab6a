"""shoal: brokerless shared-memory IPC between processes on one host.

Processes find each other by service name (a registry directory, no
daemon) and move data through shared memory without copies:

    import shoal

    with shoal.Publisher("camera/left") as pub:      # one process
        pub.wait_subscribers(1, timeout=5)
        pub.send(b"hello")

    with shoal.Subscriber("camera/left", timeout=5) as sub:   # another
        for msg in sub:              # until the publisher is gone
            print(bytes(msg))        # msg is a read-only buffer in shared memory

Zero copy both ways: Publisher.loan() is a writable buffer to fill in place,
Subscriber.take() a read-only one (numpy.frombuffer aliases it). With numpy,
Publisher.loan_array() / send_array() and Subscriber.take_array() /
take_tensor() carry n-dimensional arrays as tensor frames
(docs/tensor-format.md), readable from C as well.

Errors are shoal.Error, an OSError: .errno says what (errno.EPIPE: the peer
is gone; errno.ENOENT: no such service; errno.EAGAIN: no room in time) and
.strerror exactly what failed. Waits release the GIL and see Ctrl-C within
0.1 s.

A message stays valid while anything refers to it (a memoryview, a numpy
array): release() (or leaving its with block) while views are alive is
deferred until the last view goes, and closing a handle with messages or
loans alive keeps its memory mapped until they are gone. So no view can
outlive its memory; but a message (or loan) kept alive keeps its slot, and a
subscriber that holds too many gets shoal.Error(EBUSY) from take().
"""

import asyncio as _asyncio
import errno as _errno
import time as _time

from . import _shoal
from ._shoal import Blackboard, Error, Events, Loan, Map, Message, Stack, Watch, version

__all__ = [
    "Error",
    "Publisher",
    "Subscriber",
    "Queue",
    "Server",
    "Client",
    "Events",
    "Channel",
    "Store",
    "Blackboard",
    "Map",
    "Stack",
    "Loan",
    "Message",
    "Tensor",
    "Watch",
    "list",
    "watch",
    "version",
    "tensor_bytes",
]

_list = list


def list(*, registry=None):
    """The live services, sorted by name: a list of dicts (name, pattern,
    access, pid, uid, epoch, memfd_size, type_name, type_size, type_align,
    created_ns). registry: a registry directory (default: $SHOAL_DIR, else
    $XDG_RUNTIME_DIR/shoal, else /dev/shm/shoal-<uid>)."""
    return sorted(_shoal.list(registry=registry), key=lambda s: s["name"])


def watch(*, registry=None):
    """A Watch: iterate it for ('appeared' | 'gone', info) as services come
    and go (those present at the start come first as 'appeared')."""
    return Watch(registry=registry)


async def _aiter(handle):
    """Messages of @handle (anything with take/arm/disarm/fileno) through
    the running asyncio loop, until the peer is gone."""
    loop = _asyncio.get_running_loop()
    while True:
        try:
            msg = handle.take(0)
        except Error as e:
            if e.errno == _errno.EPIPE:
                return
            raise
        if msg is not None:
            yield msg
            continue
        if handle.arm():
            handle.disarm()
            continue
        fut = loop.create_future()
        fd = handle.fileno()
        loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            loop.remove_reader(fd)
            handle.disarm()


def _np():
    try:
        import numpy
    except ImportError as e:  # pragma: no cover - numpy is optional
        raise ImportError("this needs numpy (on Debian: python3-numpy)") from e
    return numpy


_dtype_names = {}


def _dtype_name(dtype):
    """shoal's name of @dtype, cached per dtype: numpy's dtype.name is
    computed in Python each time (about 2 us, as much as the rest of a
    loan_array())."""
    np = _np()
    dt = np.dtype(dtype)
    name = _dtype_names.get(dt)
    if name is None:
        if dt.byteorder == ">" or (dt.byteorder == "=" and
                                   not np.little_endian):
            raise TypeError("tensor frames carry host-order elements only")
        name = "bool" if dt.kind == "b" else dt.name
        _dtype_names[dt] = name
    return name


def tensor_bytes(shape, dtype, *, align=64):
    """Payload bytes that always hold a tensor frame of this shape and dtype:
    the max_payload a Publisher needs for it."""
    return _shoal.tensor_bytes(_dtype_name(dtype), tuple(shape), align=align)


class Tensor:
    """A tensor frame taken from a Subscriber: the checked header (dtype,
    shape, strides in bytes, frame_id, timestamp_ns), .array (a read-only
    numpy array aliasing shared memory), and DLPack export (numpy.from_dlpack,
    torch.from_dlpack). The message stays held while any of these live."""

    __slots__ = ("message", "dtype", "shape", "strides", "offset",
                 "frame_id", "timestamp_ns", "__weakref__")

    def __init__(self, message):
        d = _shoal.tensor_view(message)
        self.message = message
        self.dtype = d["dtype"]
        self.shape = d["shape"]
        self.strides = d["strides"]
        self.offset = d["offset"]
        self.frame_id = d["frame_id"]
        self.timestamp_ns = d["timestamp_ns"]

    @property
    def array(self):
        """A read-only numpy array over the frame's elements (no copy)."""
        np = _np()
        if self.dtype == "bfloat16":
            raise TypeError("numpy has no bfloat16: use DLPack "
                            "(torch.from_dlpack(tensor))")
        return np.ndarray(self.shape, dtype=self.dtype, buffer=self.message,
                          offset=self.offset, strides=self.strides)

    def __dlpack__(self, stream=None):
        if stream is not None:
            raise BufferError("shoal tensors live in CPU memory: no stream")
        return _shoal.dlpack(self.message)

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU, device 0

    def release(self):
        """Release the message (deferred while arrays of it are alive)."""
        return self.message.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _loan_of(arr):
    """The Loan an ndarray made by loan_array() lives in, or None."""
    base = arr
    while base is not None and not isinstance(base, Loan):
        base = getattr(base, "base", None)
        if isinstance(base, memoryview):
            base = base.obj
    return base


class Publisher(_shoal.Publisher):
    __doc__ = _shoal.Publisher.__doc__

    def loan_array(self, shape, dtype, *, frame_id=0, timestamp_ns=0,
                   align=64):
        """A writable numpy array of @shape and @dtype in a loaned slot,
        after a tensor header (docs/tensor-format.md). Fill it in place,
        then send(arr). The service's max_payload must be at least
        shoal.tensor_bytes(shape, dtype)."""
        np = _np()
        name = _dtype_name(dtype)
        shape = tuple(int(n) for n in shape)
        loan = self.loan(_shoal.tensor_bytes(name, shape, align=align))
        try:
            d = _shoal.tensor_init(loan, name, shape, align=align,
                                   frame_id=frame_id,
                                   timestamp_ns=timestamp_ns)
        except BaseException:
            loan.abort()
            raise
        loan.length = d["used"]
        return np.ndarray(shape, dtype=np.dtype(dtype), buffer=loan,
                          offset=d["offset"], strides=d["strides"])

    def send(self, data, header=None, length=None):
        """send(data, header=None, length=None): publish bytes-like @data
        (copied), a Loan (in place), or an array from loan_array() (in
        place, as a tensor frame)."""
        loan = _loan_of(data) if not isinstance(data, (bytes, bytearray,
                                                       Loan)) else None
        if loan is not None:
            return super().send(loan, header, length)
        return super().send(data, header, length)

    def send_array(self, arr, *, frame_id=0, timestamp_ns=0):
        """Copy an existing array into one tensor frame and send it (one
        copy, into shared memory)."""
        np = _np()
        arr = np.asarray(arr)
        out = self.loan_array(arr.shape, arr.dtype, frame_id=frame_id,
                              timestamp_ns=timestamp_ns)
        try:
            np.copyto(out, arr, casting="no")
        except BaseException:
            _loan_of(out).abort()
            raise
        self.send(out)


class Subscriber(_shoal.Subscriber):
    __doc__ = _shoal.Subscriber.__doc__

    def take_tensor(self, timeout=None):
        """The next message as a Tensor (checked tensor frame), or None on
        timeout. A message that is not a valid tensor frame is released and
        raises shoal.Error(EBADMSG) with the reason."""
        msg = self.take(timeout)
        if msg is None:
            return None
        try:
            return Tensor(msg)
        except Error:
            msg.release()
            raise

    def take_array(self, timeout=None):
        """The next tensor frame as a read-only numpy array aliasing shared
        memory (valid while the array lives), or None on timeout."""
        t = self.take_tensor(timeout)
        return None if t is None else t.array

    def read(self, timeout=None):
        """The next message's payload as bytes (a copy), or None."""
        msg = self.take(timeout)
        if msg is None:
            return None
        with msg:
            return msg.tobytes()

    def aiter(self):
        """An async iterator of messages for asyncio
        (`async for msg in sub.aiter()`), waiting on fileno() through the
        running loop; it ends when the publisher is gone."""
        return _aiter(self)


class Client(_shoal.Client):
    __doc__ = _shoal.Client.__doc__

    def call(self, data, timeout=None):
        """Send a request (a copy of @data) and return its final response,
        a Message (the first without .more), or None if it did not come
        within @timeout seconds (None: wait forever). Responses to other
        requests, and this one's non-final responses, are released and
        skipped: use send()/take() to see them."""
        deadline = None if timeout is None else _time.monotonic() + timeout
        rid = self.send(data, timeout)
        while True:
            left = (None if deadline is None
                    else max(0.0, deadline - _time.monotonic()))
            msg = self.take(left)
            if msg is None:
                return None
            if msg.id == rid and not msg.more:
                return msg
            msg.release()

    def aiter(self):
        """Responses as an async iterator (see Subscriber.aiter)."""
        return _aiter(self)


class Queue(_shoal.Queue):
    __doc__ = _shoal.Queue.__doc__

    def aiter(self):
        """Messages as an async iterator (see Subscriber.aiter)."""
        return _aiter(self)


class Channel(_shoal.Channel):
    __doc__ = _shoal.Channel.__doc__

    def aiter(self):
        """Messages as an async iterator (see Subscriber.aiter)."""
        return _aiter(self)


class Server(_shoal.Server):
    __doc__ = _shoal.Server.__doc__

    def aiter(self):
        """Requests as an async iterator (see Subscriber.aiter)."""
        return _aiter(self)


# Element type names a store array may carry (its type_name), as numpy
# dtypes; anything else is viewed as raw bytes, one row per element.
_STORE_DTYPES = {
    "u8": "u1", "uint8": "u1", "uint8_t": "u1",
    "i8": "i1", "int8": "i1", "int8_t": "i1",
    "u16": "<u2", "uint16": "<u2", "uint16_t": "<u2",
    "i16": "<i2", "int16": "<i2", "int16_t": "<i2",
    "u32": "<u4", "uint32": "<u4", "uint32_t": "<u4",
    "i32": "<i4", "int32": "<i4", "int32_t": "<i4",
    "u64": "<u8", "uint64": "<u8", "uint64_t": "<u8",
    "i64": "<i8", "int64": "<i8", "int64_t": "<i8",
    "f32": "<f4", "float": "<f4", "float32": "<f4",
    "f64": "<f8", "double": "<f8", "float64": "<f8",
}


class Store(_shoal._Store):
    """Store(name, *, create=False, objects=None, read_only=False,
    max_objects=64, reserve=0, event_ids=256, access='owner', timeout=0,
    registry=None)

    A store of named shared objects (docs/store.md). create=True creates it
    with @objects, a list of dicts: name, kind ('array', 'blackboard',
    'stack', 'map'), count, elem_size, and as needed elem_align, key_size
    (maps), many_writers (blackboards), type_name. Otherwise it is opened
    (read_only=True maps it read-only), waiting up to @timeout seconds.

    store["name"] is the object: an array as a numpy array aliasing the
    shared memory (dtype from its type_name: 'f64', 'u32', 'double[3]'...,
    else raw bytes, one row per element; writable unless read_only), a
    Blackboard (bb[key] -> bytes, bb[key] = data, bb.wait()), a Map
    (m[b"key"], m["key"] = data, del m[key]) or a Stack (push, pop).
    """

    def _info(self, name):
        for o in self.objects():
            if o["name"] == name:
                return o
        raise KeyError(name)

    def array(self, name, dtype=None):
        """Array @name as a numpy array aliasing shared memory (no copy):
        of @dtype if given, else from its type_name (see the class)."""
        np = _np()
        info = self._info(name)
        buf = self.buffer(name)
        if dtype is not None:
            return np.frombuffer(buf, dtype=dtype)
        t = info["type_name"]
        shape = ()
        if t.endswith("]") and "[" in t:
            base, _, n = t[:-1].partition("[")
            if n.isdigit():
                t, shape = base, (int(n),)
        dt = _STORE_DTYPES.get(t)
        if dt is not None and np.dtype(dt).itemsize * (shape[0] if shape else 1) == info["elem_size"]:
            return np.frombuffer(buf, dtype=dt).reshape((info["count"],) + shape)
        return np.frombuffer(buf, dtype="u1").reshape(info["count"], info["elem_size"])

    def __getitem__(self, name):
        kind = self._info(name)["kind"]
        if kind == "array":
            return self.array(name)
        if kind == "blackboard":
            return self.blackboard(name)
        if kind == "map":
            return self.map(name)
        return self.stack(name)

    def __contains__(self, name):
        return any(o["name"] == name for o in self.objects())

    def keys(self):
        """The object names, in table order."""
        return [o["name"] for o in self.objects()]
