"""Prints the mean of every frame a camera publishes: the Python half of
examples/camera_producer.c (any publisher of uint8 tensor frames will do).

    ./build/examples/camera_producer 30 camera/front &
    PYTHONPATH=build/python /usr/bin/python3 examples/frame_mean.py camera/front

Each frame is a read-only numpy array aliasing the publisher's shared
memory: nothing is copied. The array keeps its message held while it lives
(the publisher cannot reuse that slot), so it is dropped as soon as its mean
is known. Ends when the publisher is gone.
"""

import errno
import sys

import shoal


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "camera/front"
    # Waits up to 60 s for the service to appear.
    with shoal.Subscriber(name, timeout=60) as sub:
        while True:
            try:
                t = sub.take_tensor(timeout=60)
            except shoal.Error as e:
                if e.errno == errno.EPIPE:  # the camera is gone
                    return 0
                raise
            if t is None:
                print("frame_mean: no frame in 60 s", file=sys.stderr)
                return 1
            with t:
                arr = t.array  # shape (1080, 1920, 3), dtype uint8
                print(f"frame {t.frame_id}: mean {arr.mean():.4f}",
                      flush=True)
                del arr


if __name__ == "__main__":
    sys.exit(main())
