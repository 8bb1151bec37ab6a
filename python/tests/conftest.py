"""Fixtures of the shoal package's tests: a private registry directory per
test (SHOAL_DIR, mode 0700, also for the processes a test starts), and a
helper to run Python or C peers as separate processes."""

import os
import subprocess
import sys
import textwrap

import pytest


@pytest.fixture
def registry(tmp_path, monkeypatch):
    d = tmp_path / "registry"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("SHOAL_DIR", str(d))
    return str(d)


@pytest.fixture
def spawn(registry):
    """spawn(code) starts `python -c code` (dedented) in another process,
    with this test's registry; returns the Popen (text stdout/stderr)."""
    procs = []

    def start(code, *args):
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code),
                              *map(str, args)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ))
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def peer(registry):
    """peer(mode, name, n) starts the C peer (tests/c_peer.c)."""
    exe = os.environ.get("SHOAL_PY_PEER")
    if not exe:
        pytest.skip("SHOAL_PY_PEER not set: run through ctest")
    procs = []

    def start(*args):
        p = subprocess.Popen([exe, *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ))
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def finish(p, timeout=60):
    """Wait for a spawned process; assert it exited 0; return its stdout."""
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
    return out
