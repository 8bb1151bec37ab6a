"""Zero-copy rpc responses: Server.loan_reply() gives a writable buffer in
the client's response ring, Server.send_reply() sends it in place."""

import errno

import numpy as np
import pytest

import shoal
from conftest import finish


def test_loan_reply_in_place(registry):
    with shoal.Server("rpc/zc", max_response=256) as srv, \
            shoal.Client("rpc/zc", timeout=5) as cli:
        rid = cli.send(b"abc")
        req = srv.take(5)
        assert req.id == rid
        loan = srv.loan_reply(req, 16)
        assert len(loan) == 16
        memoryview(loan)[:6] = bytes(req).upper() + bytes(req)
        req.release()  # a request may be answered after its release
        srv.send_reply(loan, length=6)
        with cli.take(5) as r:
            assert bytes(r) == b"ABCabc"
            assert r.id == rid and not r.more and not r.error
        # The default size is max_response; numpy writes in place.
        rid = cli.send(b"x")
        req = srv.take(5)
        loan = srv.loan_reply(req)
        assert len(loan) == 256
        a = np.frombuffer(loan, np.uint32)
        a[:] = np.arange(64, dtype=np.uint32)
        del a
        srv.send_reply(loan)
        req.release()
        with cli.take(5) as r:
            assert r.id == rid
            assert (np.frombuffer(r, np.uint32) == np.arange(64)).all()


def test_loan_reply_flags_stream(registry):
    with shoal.Server("rpc/zs") as srv, \
            shoal.Client("rpc/zs", timeout=5) as cli:
        rid = cli.send(b"go")
        req = srv.take(5)
        for i in range(3):
            loan = srv.loan_reply(req, 8)
            memoryview(loan)[:2] = b"p%d" % i
            srv.send_reply(loan, 2, more=True)
        loan = srv.loan_reply(req, 8)
        memoryview(loan)[:3] = b"bad"
        srv.send_reply(loan, 3, error=True)
        req.release()
        got = []
        for _ in range(4):
            with cli.take(5) as r:
                assert r.id == rid
                got.append((bytes(r), r.more, r.error))
        assert got == [(b"p0", True, False), (b"p1", True, False),
                       (b"p2", True, False), (b"bad", False, True)]


def test_loan_reply_abort_and_errors(registry):
    with shoal.Server("rpc/ze", max_response=64) as srv, \
            shoal.Client("rpc/ze", timeout=5) as cli, \
            shoal.Server("rpc/other") as other:
        cli.send(b"q")
        req = srv.take(5)
        loan = srv.loan_reply(req, 8)
        with pytest.raises(shoal.Error) as e:
            srv.loan_reply(req, 8)  # one loan at a time
        assert e.value.errno == errno.EBUSY
        loan.abort()
        with pytest.raises(ValueError):
            srv.send_reply(loan)  # aborted already
        with pytest.raises(shoal.Error) as e:
            srv.loan_reply(req, 65)  # above max_response
        assert e.value.errno == errno.EMSGSIZE
        loan = srv.loan_reply(req, 8)
        with pytest.raises(ValueError):
            srv.send_reply(loan, 9)  # more than loaned
        with pytest.raises(ValueError):
            srv.send_reply(loan, -1)
        with pytest.raises(TypeError):
            srv.send_reply(b"not a loan")
        with pytest.raises(ValueError):
            other.send_reply(loan)  # another server's loan
        with pytest.raises(TypeError):
            other.loan_reply(req)  # another server's request
        del loan  # collected unsent: aborted
        loan = srv.loan_reply(req, 8)
        memoryview(loan)[:2] = b"ok"
        srv.send_reply(loan, 2)
        with pytest.raises(ValueError):
            srv.send_reply(loan, 2)  # sent already
        req.release()
        assert cli.read(5) == b"ok"


def test_loan_reply_client_gone(registry, spawn):
    with shoal.Server("rpc/zg") as srv:
        # The client leaves once its request was taken (finish() closes
        # its stdin): leaving earlier could drop the request with it.
        client = spawn("""
            import sys, shoal
            with shoal.Client("rpc/zg", timeout=30) as cli:
                cli.send(b"hello")
                sys.stdin.read()
        """)
        req = srv.take(30)
        assert req is not None and bytes(req) == b"hello"
        finish(client)  # the client is gone before its answer
        # Its death is seen at the loan or the send (EPIPE), or not yet
        # (the line is freed by a later take(): the response is sent into
        # a ring no one reads), as for reply(). Either way the loan ends.
        try:
            loan = srv.loan_reply(req, 8)
            try:
                srv.send_reply(loan, 1)
            finally:
                loan.abort()  # nothing left to give back: a no-op
        except shoal.Error as e:
            assert e.errno == errno.EPIPE
        req.release()
        # The server carries on: a new client gets a zero-copy answer.
        client = spawn("""
            import shoal
            with shoal.Client("rpc/zg", timeout=30) as cli:
                with cli.call(b"hi", timeout=30) as r:
                    print(bytes(r).decode())
        """)
        req = srv.take(30)
        loan = srv.loan_reply(req, 8)
        memoryview(loan)[:5] = b"there"
        srv.send_reply(loan, 5)
        req.release()
        assert finish(client).strip() == "there"
