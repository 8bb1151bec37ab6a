# Writes the seed corpus of fuzz/pool_table_fuzz.c: pool tables as a
# publisher lays them out (src/patterns/pubsub_pool.c: the 256-byte table,
# each class's u64 stamps, then each class's chunks, 64-aligned), followed
# by references, and a few that lie. Run:
#   python3 fuzz/make_pool_seeds.py fuzz/corpus/pool_table
import os, struct, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def table(classes, lie=None):
    off = 256
    cls = []
    for size, count in classes:
        cls.append([size, count, off, 0])
        off += count * 8
    off = (off + 63) & ~63
    for c in cls:
        c[3] = off
        off += c[0] * c[1]
    if lie:
        lie(cls)
    t = struct.pack('<II24x', len(classes), 0)
    for c in cls:
        t += struct.pack('<IIQQ', *c)
    t += bytes(24 * (8 - len(cls)) + 32)
    assert len(t) == 256
    return t, off


def refs(classes):
    r = b''
    for c, (size, count) in enumerate(classes):
        r += struct.pack('<IIII', c, count - 1, size, 0)
        r += struct.pack('<IIII', c, count, 1, 0)      # chunk out of range
        r += struct.pack('<IIII', c, 0, size + 1, 0)   # too long
    r += struct.pack('<IIII', len(classes), 0, 0, 0)  # no such class
    return r


def seed(name, classes, lie=None, cut=0):
    t, total = table(classes, lie)
    body = bytearray(total - 256)
    r = refs(classes)
    body[:len(r)] = r[:len(body)]
    blob = (t + bytes(body))[:total - cut] if cut else t + bytes(body)
    open(os.path.join(out, name), 'wb').write(blob)


seed('valid-one', [(64, 4)])
seed('valid-three', [(64, 8), (1024, 4), (4096, 2)])
seed('bad-cut-short', [(64, 4), (1024, 2)], cut=64)
seed('bad-decreasing', [(1024, 2), (64, 2)])
seed('bad-size-unaligned', [(100, 2)])


def overflow(cls):
    cls[0][3] = (1 << 64) - 64


seed('bad-data-offset', [(64, 2)], lie=overflow)
