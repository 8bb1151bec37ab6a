"""shoal from Python, measured against shoal from C and against the ways
Python programs move frames between processes today (issue 15, "Measure").

  pybench.py [--quick] [--rounds N] [--c-bench PATH] [--json FILE]
             [--fill] [--only rtt|frames] [--variants a,b] [--frames N]

Two figures, each run in interleaved rounds (every variant once, then again)
between two processes pinned to two CPUs (the parent's first two allowed
CPUs; os.sched_setaffinity, what taskset does), each result the median over
the rounds, each ratio the median over rounds of the ratio within a round:

rtt: a round trip of 8 B through two pub/sub services (ping, pong), Python
  on both sides: pub.send(bytes) copies in, sub.read() takes, copies out and
  releases. Polled: the subscribers spin (strategy="busy_spin", take in C
  with the GIL released); blocking: strategy="block". The C figures
  (shoal-bench's rtt-poll-8/pubsub and rtt-block-8/pubsub: loan, copy in,
  send; take, copy out, release) run in the same rounds from --c-bench.
  The Python overhead per message is (Python p50 - C p50) / 2: a round trip
  is two messages.

frames: a stream of 1920x1080x3 uint8 frames, producer -> consumer, by
  - shoal: pub.loan_array() written in place, pub.send(); sub.take_array()
    (a read-only array in shared memory), reliable delivery, 4 slots;
  - shm+pipe: 4 multiprocessing.shared_memory frames in a ring, slot
    numbers sent over a multiprocessing.Pipe and freed slots sent back
    over another (send_bytes / recv_bytes);
  - pickle: the array sent with multiprocessing.Pipe.send() (pickled);
  - zmq: pyzmq PUSH/PULL over ipc://, send(frame, copy=False, track=True)
    from 4 frames in rotation (each reused once its tracker says zmq is
    done), recv(copy=False) and numpy.frombuffer; high-water marks of 2.
  Every producer writes the same stamps into each frame: the frame number
  in its first 8 bytes and one byte at the end of each 4 KiB page (with
  --fill it first fills the whole frame, as a camera would). Every consumer
  runs the same check on each frame: the frame number in sequence, and
  every page's byte read and compared (numpy, strided) and summed. A frame
  missing, repeated, out of order or with a wrong byte fails the run.
  Frames per second are timed at the consumer, from the first frame after
  the warm-up to the last.

Exit status: 0 when every variant delivered every frame (or message)
intact, 1 otherwise, 2 on a usage error. It never fails on a speed: the
targets are printed as MET or MISSED.
"""

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

import shoal

SHAPE = (1080, 1920, 3)
FRAME_BYTES = SHAPE[0] * SHAPE[1] * SHAPE[2]
PAGE = 4096
SLOTS = 4
TIMEOUT = 60.0  # seconds: a wait this long is a hang, not a busy machine

# --------------------------------------------------------------------------
# Pinning


def cpus():
    c = sorted(os.sched_getaffinity(0))
    return (c[0], c[1]) if len(c) >= 2 else (c[0], c[0])


def pin(cpu):
    os.sched_setaffinity(0, {cpu})


# --------------------------------------------------------------------------
# The frame stamps: written identically by every producer, read and checked
# identically by every consumer.

_PAGES = np.arange(PAGE - 1, FRAME_BYTES, PAGE)  # last byte of each page
_BASE = (np.arange(len(_PAGES)) * 7).astype(np.uint8)


def stamp(flat, fid, fill):
    """Writes frame @fid into @flat (uint8, FRAME_BYTES long)."""
    if fill:
        flat.fill(fid & 0xFF)
    flat[PAGE - 1::PAGE] = _BASE + np.uint8(fid & 0xFF)
    flat[:8] = np.frombuffer(struct.pack("<Q", fid), np.uint8)


def check(flat, want):
    """Reads frame @want from @flat: its number and one byte per page
    compared with what stamp() wrote, and summed. Returns the sum; raises
    on a frame that is not the one expected or not intact."""
    fid = struct.unpack("<Q", flat[:8].tobytes())[0]
    if fid != want:
        raise RuntimeError(f"frame {fid} where {want} was expected")
    sample = flat[PAGE - 1::PAGE]
    if not np.array_equal(sample, _BASE + np.uint8(fid & 0xFF)):
        raise RuntimeError(f"frame {fid}: a page's byte is wrong")
    return int(sample.sum(dtype=np.uint64))


# --------------------------------------------------------------------------
# The frame variants. Each is a pair of functions run in two processes:
# producer(ctx, n, fill) and consumer(ctx, n, warm) -> seconds for the
# frames after the warm-up. ctx is what the parent set up before forking.


def shoal_setup(tag):
    return {"name": f"pybench/frames/{tag}"}


def shoal_producer(ctx, n, fill):
    with shoal.Publisher(ctx["name"], capacity=SLOTS,
                         max_payload=shoal.tensor_bytes(SHAPE, np.uint8)) as pub:
        if not pub.wait_subscribers(1, timeout=TIMEOUT):
            raise RuntimeError("no subscriber came")
        ctx["ready"].set()
        for i in range(n):
            arr = pub.loan_array(SHAPE, np.uint8, frame_id=i)
            stamp(arr.reshape(-1), i, fill)
            pub.send(arr)
            del arr
        ctx["done"].wait(TIMEOUT)


def shoal_consumer(ctx, n, warm):
    with shoal.Subscriber(ctx["name"], timeout=TIMEOUT) as sub:
        t0 = None
        for i in range(n):
            if i == warm:
                t0 = time.perf_counter()
            arr = sub.take_array(timeout=TIMEOUT)
            if arr is None:
                raise RuntimeError(f"frame {i}: nothing in {TIMEOUT} s")
            check(arr.reshape(-1), i)
            del arr
        return time.perf_counter() - t0


def shm_setup(tag):
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=SLOTS * FRAME_BYTES)
    fwd_r, fwd_w = mp.Pipe(duplex=False)  # producer -> consumer: slot filled
    back_r, back_w = mp.Pipe(duplex=False)  # consumer -> producer: slot free
    return {"shm": shm, "fwd": (fwd_r, fwd_w), "back": (back_r, back_w)}


def shm_cleanup(ctx):
    ctx["shm"].close()
    ctx["shm"].unlink()


def _shm_frames(shm):
    return [np.ndarray((FRAME_BYTES,), np.uint8, buffer=shm.buf,
                       offset=k * FRAME_BYTES) for k in range(SLOTS)]


def shm_producer(ctx, n, fill):
    frames = _shm_frames(ctx["shm"])
    fwd, back = ctx["fwd"][1], ctx["back"][0]
    free = list(range(SLOTS))
    ctx["ready"].set()
    for i in range(n):
        if not free:
            free.append(back.recv_bytes()[0])
        k = free.pop()
        stamp(frames[k], i, fill)
        fwd.send_bytes(bytes((k,)))
    ctx["done"].wait(TIMEOUT)
    del frames


def shm_consumer(ctx, n, warm):
    frames = _shm_frames(ctx["shm"])
    fwd, back = ctx["fwd"][0], ctx["back"][1]
    t0 = None
    for i in range(n):
        if i == warm:
            t0 = time.perf_counter()
        if not fwd.poll(TIMEOUT):
            raise RuntimeError(f"frame {i}: nothing in {TIMEOUT} s")
        k = fwd.recv_bytes()[0]
        check(frames[k], i)
        back.send_bytes(bytes((k,)))
    dt = time.perf_counter() - t0
    del frames
    return dt


def pickle_setup(tag):
    r, w = mp.Pipe(duplex=False)
    return {"pipe": (r, w)}


def pickle_producer(ctx, n, fill):
    w = ctx["pipe"][1]
    frame = np.zeros(SHAPE, np.uint8)
    flat = frame.reshape(-1)
    ctx["ready"].set()
    for i in range(n):
        stamp(flat, i, fill)
        w.send(frame)
    ctx["done"].wait(TIMEOUT)


def pickle_consumer(ctx, n, warm):
    r = ctx["pipe"][0]
    t0 = None
    for i in range(n):
        if i == warm:
            t0 = time.perf_counter()
        if not r.poll(TIMEOUT):
            raise RuntimeError(f"frame {i}: nothing in {TIMEOUT} s")
        frame = r.recv()
        if frame.shape != SHAPE or frame.dtype != np.uint8:
            raise RuntimeError(f"frame {i}: {frame.shape} {frame.dtype}")
        check(frame.reshape(-1), i)
        del frame
    return time.perf_counter() - t0


def zmq_setup(tag):
    d = tempfile.mkdtemp(prefix="pybench-zmq-")
    return {"addr": f"ipc://{d}/frames", "dir": d}


def zmq_cleanup(ctx):
    shutil.rmtree(ctx["dir"], ignore_errors=True)


def zmq_producer(ctx, n, fill):
    import zmq

    zc = zmq.Context()
    s = zc.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 2)
    s.setsockopt(zmq.LINGER, int(TIMEOUT * 1000))
    s.connect(ctx["addr"])
    frames = [np.zeros(FRAME_BYTES, np.uint8) for _ in range(SLOTS)]
    trackers = [None] * SLOTS
    ctx["ready"].set()
    for i in range(n):
        k = i % SLOTS
        if trackers[k] is not None:
            trackers[k].wait(TIMEOUT)  # zmq is done with this buffer
        stamp(frames[k], i, fill)
        trackers[k] = s.send(frames[k], copy=False, track=True)
    ctx["done"].wait(TIMEOUT)
    s.close()
    zc.term()


def zmq_consumer(ctx, n, warm):
    import zmq

    zc = zmq.Context()
    s = zc.socket(zmq.PULL)
    s.setsockopt(zmq.RCVHWM, 2)
    s.setsockopt(zmq.RCVTIMEO, int(TIMEOUT * 1000))
    s.bind(ctx["addr"])
    t0 = None
    for i in range(n):
        if i == warm:
            t0 = time.perf_counter()
        msg = s.recv(copy=False)
        flat = np.frombuffer(msg.buffer, np.uint8)
        if flat.size != FRAME_BYTES:
            raise RuntimeError(f"frame {i}: {flat.size} bytes")
        check(flat, i)
        del flat, msg
    dt = time.perf_counter() - t0
    s.close(linger=0)
    zc.term()
    return dt


def have_zmq():
    try:
        import zmq  # noqa: F401
        return True
    except ImportError:
        return False


FRAME_VARIANTS = {
    # name: (setup, producer, consumer, cleanup, frames (full), description)
    "shoal": (shoal_setup, shoal_producer, shoal_consumer, None, 3000,
              "shoal loan_array + send / take_array (zero copy)"),
    "shm+pipe": (shm_setup, shm_producer, shm_consumer, shm_cleanup, 3000,
                 "multiprocessing.shared_memory, 4 slots, Pipe signalling"),
    "pickle": (pickle_setup, pickle_producer, pickle_consumer, None, 150,
               "numpy array pickled over multiprocessing.Pipe"),
    "zmq": (zmq_setup, zmq_producer, zmq_consumer, zmq_cleanup, 400,
            "pyzmq PUSH/PULL ipc://, copy=False"),
}


def _child(fn, cpu, ctx, args, q):
    try:
        pin(cpu)
        r = fn(ctx, *args)
        q.put(("ok", r))
    except BaseException:
        q.put(("error", traceback.format_exc()))


def run_frames(variant, tag, n, warm, fill):
    """One round of one variant: frames per second, or raises."""
    setup, producer, consumer, cleanup, _, _ = FRAME_VARIANTS[variant]
    c0, c1 = cpus()
    fork = mp.get_context("fork")
    ctx = setup(tag)
    ctx["ready"] = fork.Event()
    ctx["done"] = fork.Event()
    qp, qc = fork.Queue(), fork.Queue()
    procs = []
    try:
        pc = fork.Process(target=_child,
                          args=(consumer, c1, ctx, (n, warm), qc))
        pc.start()
        procs.append(pc)
        pp = fork.Process(target=_child,
                          args=(producer, c0, ctx, (n, fill), qp))
        pp.start()
        procs.append(pp)
        status, r = qc.get(timeout=TIMEOUT * 4)
        ctx["done"].set()
        pstatus, pr = qp.get(timeout=TIMEOUT * 2)
        for p in procs:
            p.join(TIMEOUT)
        if status != "ok":
            raise RuntimeError(f"{variant} consumer: {r}")
        if pstatus != "ok":
            raise RuntimeError(f"{variant} producer: {pr}")
        return (n - warm) / r
    finally:
        ctx["done"].set()
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        if cleanup:
            cleanup(ctx)


# --------------------------------------------------------------------------
# Round trips


def rtt_echo(tag, strategy, n):
    with shoal.Subscriber(f"pybench/{tag}/ping", timeout=TIMEOUT,
                          strategy=strategy) as sub, \
            shoal.Publisher(f"pybench/{tag}/pong", capacity=64,
                            max_payload=64) as pub:
        if not pub.wait_subscribers(1, timeout=TIMEOUT):
            raise RuntimeError("no one subscribed to pong")
        for _ in range(n):
            b = sub.read(timeout=TIMEOUT)
            if b is None:
                raise RuntimeError("echo: nothing in time")
            pub.send(b)
        return 0


def rtt_measure(tag, strategy, n, warm, q_echo):
    payload = struct.pack("<Q", 0)
    lat = []
    with shoal.Publisher(f"pybench/{tag}/ping", capacity=64,
                         max_payload=64) as pub:
        with shoal.Subscriber(f"pybench/{tag}/pong", timeout=TIMEOUT,
                              strategy=strategy) as sub:
            if not pub.wait_subscribers(1, timeout=TIMEOUT):
                raise RuntimeError("no one subscribed to ping")
            clock = time.perf_counter_ns
            for i in range(n + warm):
                payload = struct.pack("<Q", i)
                t0 = clock()
                pub.send(payload)
                b = sub.read(timeout=TIMEOUT)
                t1 = clock()
                if b != payload:
                    raise RuntimeError(f"round trip {i}: {b!r}")
                if i >= warm:
                    lat.append(t1 - t0)
    lat.sort()
    return {"p50_ns": lat[len(lat) // 2],
            "p99_ns": lat[min(len(lat) - 1, len(lat) * 99 // 100)],
            "mean_ns": sum(lat) / len(lat)}


def run_rtt(strategy, tag, n, warm):
    c0, c1 = cpus()
    fork = mp.get_context("fork")
    q = fork.Queue()
    pe = fork.Process(target=_child,
                      args=(lambda ctx, *a: rtt_echo(*a), c1, None,
                            (tag, strategy, n + warm), q))
    pe.start()
    try:
        pin(c0)
        r = rtt_measure(tag, strategy, n, warm, q)
        status, msg = q.get(timeout=TIMEOUT)
        if status != "ok":
            raise RuntimeError(f"echo: {msg}")
        return r
    finally:
        os.sched_setaffinity(0, set(ALL_CPUS))
        pe.join(TIMEOUT)
        if pe.is_alive():
            pe.kill()
            pe.join()


def run_c(c_bench, only, quick):
    """One round of shoal-bench's figure @only: its p50 and mean (bulk)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [c_bench, "--only", only, "--rounds", "1", "--json", f.name]
        if quick:
            cmd.append("--quick")
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: "
                               f"{r.stderr[-500:]}")
        j = json.load(open(f.name))
    for fig in j["figures"]:
        if fig["name"] == only:
            if fig["status"] != "ok":
                raise RuntimeError(f"{only}: {fig['status']} {fig['note']}")
            return {"p50_ns": fig["p50_ns"], "p99_ns": fig["p99_ns"],
                    "mean_ns": fig.get("bulk_ns") or fig["mean_ns"],
                    "cpu_share": fig.get("cpu_share")}
    raise RuntimeError(f"{only}: not in shoal-bench's output")


# --------------------------------------------------------------------------


ALL_CPUS = sorted(os.sched_getaffinity(0))


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: few frames and round trips")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--c-bench", default=os.environ.get("SHOAL_BENCH"),
                    help="shoal-bench, for the C round trips")
    ap.add_argument("--json")
    ap.add_argument("--fill", action="store_true",
                    help="producers fill every frame (a 6 MB memset)")
    ap.add_argument("--only", choices=("rtt", "frames"))
    ap.add_argument("--variants", default=",".join(FRAME_VARIANTS),
                    help="frame variants to run, comma-separated")
    ap.add_argument("--frames", type=int, default=0,
                    help="frames per variant and round (default: per variant)")
    o = ap.parse_args()
    rounds = o.rounds or (1 if o.quick else 5)
    rtt_n, rtt_warm = (200, 20) if o.quick else (20000, 2000)
    rtt_block_n = 100 if o.quick else 2000
    do_rtt = o.only in (None, "rtt")
    do_frames = o.only in (None, "frames")

    reg = tempfile.mkdtemp(prefix="pybench-reg-")
    os.chmod(reg, 0o700)
    os.environ["SHOAL_DIR"] = reg
    c0, c1 = cpus()
    load = os.getloadavg()
    print(f"pybench: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}, shoal "
          f"{shoal.version()}, CPUs {c0} and {c1}, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {rounds} round(s)"
          f"{', quick' if o.quick else ''}{', --fill' if o.fill else ''}")
    if c0 == c1:
        print("pybench: only one CPU: both sides share it (figures say little)")

    want = o.variants.split(",")
    bad = [v for v in want if v not in FRAME_VARIANTS]
    if bad:
        ap.error(f"unknown variant(s) {bad}: {list(FRAME_VARIANTS)}")
    variants = [v for v in FRAME_VARIANTS
                if v in want and (v != "zmq" or have_zmq())]
    if do_frames and "zmq" not in variants:
        print("pybench: zmq skipped: no pyzmq for this interpreter "
              "(Debian: apt-get install python3-zmq)")
    res = {"rtt": {}, "frames": {v: [] for v in variants}}
    failed = []
    rtt_keys = []
    if do_rtt:
        rtt_keys = ["py-poll", "py-block"]
        if o.c_bench:
            rtt_keys = ["c-poll", "py-poll", "c-block", "py-block"]
        else:
            print("pybench: no --c-bench (or $SHOAL_BENCH): C round trips "
                  "skipped")
    for k in rtt_keys:
        res["rtt"][k] = []

    for rnd in range(rounds):
        for k in rtt_keys:
            tag = f"r{rnd}-{k}"
            try:
                if k == "c-poll":
                    r = run_c(o.c_bench, "rtt-poll-8/pubsub", o.quick)
                elif k == "c-block":
                    r = run_c(o.c_bench, "rtt-block-8/pubsub", o.quick)
                elif k == "py-poll":
                    r = run_rtt("busy_spin", tag, rtt_n, rtt_warm)
                else:
                    r = run_rtt("block", tag, rtt_block_n, rtt_block_n // 10)
            except Exception as e:
                failed.append(f"rtt {k}: {e}")
                print(f"  FAILED rtt {k}: {e}")
                continue
            res["rtt"][k].append(r)
            print(f"[round {rnd + 1}/{rounds}] rtt {k:9s} p50 "
                  f"{r['p50_ns'] / 1000:8.2f} us  mean "
                  f"{r['mean_ns'] / 1000:8.2f} us", flush=True)
        if not do_frames:
            continue
        for v in variants:
            n = o.frames or (12 if o.quick else FRAME_VARIANTS[v][4])
            warm = 2 if o.quick else max(2, n // 20)
            try:
                fps = run_frames(v, f"r{rnd}", n, warm, o.fill)
            except Exception as e:
                failed.append(f"frames {v}: {e}")
                print(f"  FAILED frames {v}: {e}")
                continue
            res["frames"][v].append(fps)
            print(f"[round {rnd + 1}/{rounds}] frames {v:9s} {fps:9.1f} "
                  f"frames/s  ({n} frames, {n - warm} timed)", flush=True)

    # Summary
    summary = {}
    if do_rtt and res["rtt"].get("py-poll"):
        print("\nround trip, 8 B, pub/sub (median over rounds)")
        print(f"  {'':10s} {'p50':>10s} {'p99':>10s} {'mean':>10s}")
        for k in rtt_keys:
            rs = res["rtt"][k]
            if not rs:
                continue
            s = {m: med([r[m] for r in rs])
                 for m in ("p50_ns", "p99_ns", "mean_ns")}
            summary[f"rtt/{k}"] = s
            print(f"  {k:10s} {s['p50_ns'] / 1000:8.2f} us "
                  f"{s['p99_ns'] / 1000:8.2f} us {s['mean_ns'] / 1000:8.2f} us")
        for mode in ("poll", "block"):
            cr, pr = res["rtt"].get(f"c-{mode}"), res["rtt"].get(f"py-{mode}")
            if cr and pr and len(cr) == len(pr):
                over = med([(p["p50_ns"] - c["p50_ns"]) / 2
                            for c, p in zip(cr, pr)])
                summary[f"rtt/overhead-{mode}-ns"] = over
                print(f"  Python overhead per message, {mode}: "
                      f"{over / 1000:.2f} us (p50, median over rounds of "
                      f"(Python - C) / 2)")
                if mode == "poll":
                    print(f"  target: <= 2 us over C polled: "
                          f"{'MET' if over <= 2000 else 'MISSED'}")
    if do_frames:
        print("\nframes 1920x1080x3 uint8, Python -> Python (median over rounds)")
        for v in variants:
            fs = res["frames"][v]
            if fs:
                summary[f"frames/{v}"] = med(fs)
                print(f"  {v:9s} {med(fs):9.1f} frames/s   "
                      f"{FRAME_VARIANTS[v][5]}")
        sh = res["frames"].get("shoal", [])
        for v in variants:
            fs = res["frames"][v]
            if v == "shoal" or not fs or len(fs) != len(sh):
                continue
            ratio = med([a / b for a, b in zip(sh, fs)])
            summary[f"frames/shoal-over-{v}"] = ratio
            extra = ""
            if v == "pickle":
                extra = (f"  target >= 20x: "
                         f"{'MET' if ratio >= 20 else 'MISSED'}")
            elif v == "shm+pipe":
                extra = (f"  target >= 1x: "
                         f"{'MET' if ratio >= 1 else 'MISSED'}")
            print(f"  shoal / {v:9s} {ratio:7.2f}x{extra}")
    if o.json:
        with open(o.json, "w") as f:
            json.dump({"rounds": rounds, "quick": o.quick, "fill": o.fill,
                       "load": load, "raw": res, "summary": summary,
                       "failed": failed}, f, indent=1)
    shutil.rmtree(reg, ignore_errors=True)
    if failed:
        print(f"\npybench: {len(failed)} failed:", *failed, sep="\n  ")
        return 1
    print("\npybench: every variant delivered every frame and message intact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
