/* SPDX-License-Identifier: MIT */
/*
 * The handle every pattern's type is built on, and its zero-copy objects:
 * Loan (a writable slot before it is sent) and Message (a taken message,
 * read-only, until it is released).
 *
 * Lifetimes, so that no view can outlive the memory it points at:
 *  - a Loan or a Message holds a reference to its handle, and every
 *    memoryview (or numpy array) of it holds a reference to it;
 *  - Message.release() while views of it exist only marks it: the real
 *    release happens when the last view goes (buffer release) or the
 *    Message is collected. Until then the message counts as held;
 *  - close() of a handle that still has a Loan outstanding (or a sent
 *    one with views alive) or a Message held (or with views alive) ends
 *    nothing yet: the C handle is ended (for an owner: the service
 *    withdrawn; and its memory unmapped) when the last of them is done.
 *    Calls on a closed handle raise ValueError. A Loan or Message object
 *    that is done and has no views pins nothing, whatever refers to it.
 * A Loan's views stay writable after send() (the memory is still mapped):
 * writing through them then changes a message peers may be reading. That
 * is the caller's bug, not a crash; send() after the last write.
 */
#include <errno.h>
#include <string.h>

#include "handle.h"

/* ---------------------------------------------------------------------- */
/* The handle */

static void end_now(shoalpy_handle *h)
{
	struct shoalpy_pending *n;

	while ((n = h->pending)) {
		h->pending = n->next;
		PyMem_Free(n);
	}
	if (h->h)
		h->ops->end(h->h);
	h->h = NULL;
	shoal_registry_destroy(h->reg);
	h->reg = NULL;
}

void shoalpy_handle_end(shoalpy_handle *h)
{
	end_now(h);
}

/* Releases and aborts queued while another thread was in a call. */
static void drain(shoalpy_handle *h)
{
	struct shoalpy_pending *n;

	while ((n = h->pending)) {
		h->pending = n->next;
		if (n->ptr)
			h->ops->abort(h->h, n->ptr);
		else
			h->ops->release(h->h, &n->taken);
		PyMem_Free(n);
	}
}

int shoalpy_enter(shoalpy_handle *h)
{
	if (!h->h || h->closing) {
		PyErr_Format(PyExc_ValueError, "the %s is closed",
			     h->ops ? h->ops->what : "handle");
		return -1;
	}
	if (h->busy) {
		PyErr_Format(PyExc_RuntimeError,
			     "the %s is in use by another thread",
			     h->ops->what);
		return -1;
	}
	drain(h);
	return 0;
}

int64_t shoalpy_slice_timeout(shoalpy_handle *h, int64_t user_ns)
{
	h->send_timeout_ns = user_ns;
	return user_ns >= 0 && user_ns < SHOALPY_SLICE_NS ? user_ns :
							    SHOALPY_SLICE_NS;
}

/* Work for the handle's next call, when it is busy now. */
static void defer(shoalpy_handle *h, const struct shoalpy_taken *t, void *ptr)
{
	struct shoalpy_pending *n = PyMem_Calloc(1, sizeof(*n));

	/* Out of memory: the message stays held (or the loan outstanding)
	 * until the handle ends, which releases everything. */
	if (!n)
		return;
	if (t)
		n->taken = *t;
	n->ptr = ptr;
	n->next = h->pending;
	h->pending = n;
}

/* One pin fewer (a Loan or Message done with no views left): the
 * deferred end may happen now. */
static void unpin(shoalpy_handle *h)
{
	if (--h->pins == 0 && h->closing)
		end_now(h);
}

void shoalpy_h_dealloc(PyObject *self)
{
	end_now((shoalpy_handle *)self);
	Py_TYPE(self)->tp_free(self);
}

PyObject *shoalpy_h_close(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)noargs;
	if (!h->h || h->closing)
		Py_RETURN_NONE;
	if (h->busy) {
		PyErr_Format(PyExc_RuntimeError,
			     "the %s is in use by another thread",
			     h->ops->what);
		return NULL;
	}
	h->closing = 1;
	if (!h->pins)
		end_now(h);
	Py_RETURN_NONE;
}

PyObject *shoalpy_h_enter(PyObject *self, PyObject *noargs)
{
	(void)noargs;
	return Py_NewRef(self);
}

PyObject *shoalpy_h_exit(PyObject *self, PyObject *args)
{
	(void)args;
	return shoalpy_h_close(self, NULL);
}

PyObject *shoalpy_h_closed(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	return PyBool_FromLong(!h->h || h->closing);
}

/* ---------------------------------------------------------------------- */
/* Loan */

typedef struct {
	PyObject_HEAD shoalpy_handle *owner;
	void *ptr;
	uint32_t size;
	uint32_t length; /* what send() publishes unless told: size */
	int loaned;	 /* 1 until sent or aborted */
	/* Views alive. The loan pins its handle while loaned or viewed. */
	Py_ssize_t exports;
} LoanObject;

static int loan_pins(const LoanObject *l)
{
	return l->loaned || l->exports;
}

/* @l stopped being loaned: unpinned if no view is left either. */
static void loan_done(LoanObject *l)
{
	l->loaned = 0;
	if (!l->exports)
		unpin(l->owner);
}

PyObject *shoalpy_loan_new(shoalpy_handle *h, void *ptr, uint32_t size)
{
	LoanObject *l = PyObject_New(LoanObject, &shoalpy_LoanType);

	if (!l) {
		h->ops->abort(h->h, ptr);
		return NULL;
	}
	Py_INCREF(h);
	l->owner = h;
	l->ptr = ptr;
	l->size = size;
	l->length = size;
	l->loaned = 1;
	l->exports = 0;
	h->pins++;
	return (PyObject *)l;
}

static PyObject *loan_send(shoalpy_handle *h, PyObject *o, Py_ssize_t len,
			   int with_flags, uint32_t flags)
{
	LoanObject *l = (LoanObject *)o;
	int err;

	if (l->owner != h) {
		PyErr_Format(PyExc_ValueError, "the loan is another %s's",
			     h->ops->what);
		return NULL;
	}
	if (!l->loaned) {
		PyErr_SetString(PyExc_ValueError,
				"the loan was sent or aborted already");
		return NULL;
	}
	if (shoalpy_enter(h))
		return NULL;
	if (len < 0)
		len = l->length;
	if ((size_t)len > l->size) {
		PyErr_Format(PyExc_ValueError,
			     "length %zd is more than the %u bytes loaned", len,
			     l->size);
		return NULL;
	}
	err = with_flags ?
		      h->ops->send_flags(h->h, l->ptr, (uint32_t)len, flags) :
		      h->ops->send(h->h, l->ptr, (uint32_t)len);
	/* The rpc server's send ends its loan when the client is gone (the
	 * response is dropped): nothing is left to abort. */
	if (with_flags && err == -EPIPE)
		loan_done(l);
	if (err)
		return shoalpy_raise(err);
	loan_done(l);
	Py_RETURN_NONE;
}

PyObject *shoalpy_loan_send(shoalpy_handle *h, PyObject *o, Py_ssize_t len)
{
	return loan_send(h, o, len, 0, 0);
}

PyObject *shoalpy_loan_send_flags(shoalpy_handle *h, PyObject *o,
				  Py_ssize_t len, uint32_t flags)
{
	if (Py_TYPE(o) != &shoalpy_LoanType) {
		PyErr_Format(PyExc_TypeError, "a Loan of this %s, not %s",
			     h->ops->what, Py_TYPE(o)->tp_name);
		return NULL;
	}
	return loan_send(h, o, len, 1, flags);
}

static PyObject *loan_abort(LoanObject *l, PyObject *noargs)
{
	int err;

	(void)noargs;
	if (!l->loaned)
		Py_RETURN_NONE;
	/* Allowed after close(): it is what a deferred close waits for. */
	if (l->owner->busy) {
		PyErr_Format(PyExc_RuntimeError,
			     "the %s is in use by another thread",
			     l->owner->ops->what);
		return NULL;
	}
	err = l->owner->ops->abort(l->owner->h, l->ptr);
	loan_done(l);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

static void loan_dealloc(LoanObject *l)
{
	shoalpy_handle *h = l->owner;

	/* Collected unsent: aborted (by the next call if the handle is busy
	 * in another thread). */
	if (l->loaned && h->h) {
		if (h->busy)
			defer(h, NULL, l->ptr);
		else
			h->ops->abort(h->h, l->ptr);
	}
	/* No view can be alive: each holds a reference to the loan. */
	if (loan_pins(l))
		unpin(h);
	Py_DECREF(h);
	PyObject_Free(l);
}

static int loan_getbuffer(LoanObject *l, Py_buffer *view, int flags)
{
	if (!l->loaned) {
		PyErr_SetString(PyExc_ValueError,
				"the loan was sent or aborted: no new views");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)l, l->ptr, l->size, 0, flags))
		return -1;
	l->exports++;
	return 0;
}

static void loan_releasebuffer(LoanObject *l, Py_buffer *view)
{
	(void)view;
	if (--l->exports == 0 && !l->loaned)
		unpin(l->owner);
}

static Py_ssize_t loan_len(LoanObject *l)
{
	return l->size;
}

static PyObject *loan_get_length(LoanObject *l, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(l->length);
}

static int loan_set_length(LoanObject *l, PyObject *v, void *closure)
{
	Py_ssize_t n;

	(void)closure;
	if (!v) {
		PyErr_SetString(PyExc_TypeError, "cannot delete length");
		return -1;
	}
	n = PyLong_AsSsize_t(v);
	if (n == -1 && PyErr_Occurred())
		return -1;
	if (n < 0 || (size_t)n > l->size) {
		PyErr_Format(PyExc_ValueError, "length must be 0..%u", l->size);
		return -1;
	}
	l->length = (uint32_t)n;
	return 0;
}

static PyObject *loan_header(LoanObject *l, void *closure)
{
	shoalpy_handle *h = l->owner;
	void *p;

	(void)closure;
	if (!l->loaned) {
		PyErr_SetString(PyExc_ValueError, "the loan is done");
		return NULL;
	}
	if (shoalpy_enter(h))
		return NULL;
	if (!h->ops->loan_header || !h->uh_size)
		Py_RETURN_NONE;
	p = h->ops->loan_header(h->h);
	if (!p)
		Py_RETURN_NONE;
	return PyMemoryView_FromMemory(p, h->uh_size, PyBUF_WRITE);
}

static PyBufferProcs loan_as_buffer = {
	(getbufferproc)loan_getbuffer,
	(releasebufferproc)loan_releasebuffer,
};
static PySequenceMethods loan_as_seq = { .sq_length = (lenfunc)loan_len };

static PyMethodDef loan_methods[] = {
	{ "abort", (PyCFunction)loan_abort, METH_NOARGS,
	  "abort(): give the slot back unsent." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef loan_getset[] = {
	{ "length", (getter)loan_get_length, (setter)loan_set_length,
	  "Bytes send() publishes when not told: the loaned size at first.",
	  NULL },
	{ "header", (getter)loan_header, NULL,
	  "The slot's user header as a writable memoryview, or None.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject shoalpy_LoanType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Loan",
	.tp_basicsize = sizeof(LoanObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A loaned slot: a writable buffer in shared memory. Fill it "
		  "(memoryview(loan)[:] = ..., numpy.frombuffer(loan, "
		  "dtype)), then send(loan) on its handle, or loan.abort(). "
		  "Collected unsent, it is aborted.",
	.tp_dealloc = (destructor)loan_dealloc,
	.tp_as_buffer = &loan_as_buffer,
	.tp_as_sequence = &loan_as_seq,
	.tp_methods = loan_methods,
	.tp_getset = loan_getset,
};

/* ---------------------------------------------------------------------- */
/* Message */

typedef struct {
	PyObject_HEAD shoalpy_handle *owner;
	struct shoalpy_taken t;
	int state; /* HELD, RELEASE_PENDING, RELEASED */
	int intact;
	Py_ssize_t exports;
	uint64_t lost_before;
} MessageObject;

enum {
	HELD,
	RELEASE_PENDING,
	RELEASED
};

PyObject *shoalpy_message_new(shoalpy_handle *h, const struct shoalpy_taken *t)
{
	MessageObject *o = PyObject_New(MessageObject, &shoalpy_MessageType);

	if (!o) {
		struct shoalpy_taken copy = *t;

		h->ops->release(h->h, &copy);
		return NULL;
	}
	Py_INCREF(h);
	o->owner = h;
	o->t = *t;
	o->state = HELD;
	o->intact = 1;
	o->exports = 0;
	o->lost_before = h->lost;
	h->lost = 0;
	h->pins++; /* until released */
	return (PyObject *)o;
}

const struct shoalpy_taken *shoalpy_message_taken(shoalpy_handle *h,
						  PyObject *o)
{
	if (Py_TYPE(o) != &shoalpy_MessageType ||
	    ((MessageObject *)o)->owner != h) {
		PyErr_Format(PyExc_TypeError, "not a message of this %s",
			     h->ops->what);
		return NULL;
	}
	return &((MessageObject *)o)->t;
}

/* The real release of @m: now, or (the handle busy) by its next call. */
static void msg_do_release(MessageObject *m)
{
	shoalpy_handle *h = m->owner;

	if (m->state == RELEASED)
		return;
	m->state = RELEASED;
	if (h->h) {
		if (h->busy)
			defer(h, &m->t, NULL);
		else
			m->intact = h->ops->release(h->h, &m->t) == 0;
	}
	unpin(h);
}

static int msg_getbuffer(MessageObject *m, Py_buffer *view, int flags)
{
	if (m->state != HELD) {
		PyErr_SetString(PyExc_ValueError,
				"the message was released: no new views");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)m, (void *)m->t.msg.data,
			      m->t.msg.len, 1, flags))
		return -1;
	m->exports++;
	return 0;
}

static void msg_releasebuffer(MessageObject *m, Py_buffer *view)
{
	(void)view;
	if (--m->exports == 0 && m->state == RELEASE_PENDING)
		msg_do_release(m);
}

static PyObject *msg_release(MessageObject *m, PyObject *noargs)
{
	(void)noargs;
	if (m->state == RELEASED)
		return PyBool_FromLong(m->intact);
	if (m->exports) {
		/* Views alive: released when the last goes. */
		m->state = RELEASE_PENDING;
		Py_RETURN_NONE;
	}
	if (m->owner->busy) {
		PyErr_Format(PyExc_RuntimeError,
			     "the %s is in use by another thread",
			     m->owner->ops->what);
		return NULL;
	}
	msg_do_release(m);
	return PyBool_FromLong(m->intact);
}

static PyObject *msg_valid(MessageObject *m, PyObject *noargs)
{
	shoalpy_handle *h = m->owner;

	(void)noargs;
	if (m->state == RELEASED)
		return PyBool_FromLong(m->intact);
	if (!h->ops->valid || !h->h)
		Py_RETURN_TRUE;
	return PyBool_FromLong(h->ops->valid(h->h, &m->t));
}

static PyObject *msg_tobytes(MessageObject *m, PyObject *noargs)
{
	(void)noargs;
	if (m->state != HELD) {
		PyErr_SetString(PyExc_ValueError, "the message was released");
		return NULL;
	}
	return PyBytes_FromStringAndSize(m->t.msg.data, m->t.msg.len);
}

static void msg_dealloc(MessageObject *m)
{
	shoalpy_handle *h = m->owner;

	if (h->iter_last == (PyObject *)m)
		h->iter_last = NULL;
	msg_do_release(m);
	Py_DECREF(h);
	PyObject_Free(m);
}

static Py_ssize_t msg_len(MessageObject *m)
{
	return m->t.msg.len;
}

static PyObject *msg_exit(PyObject *self, PyObject *args)
{
	PyObject *r;

	(void)args;
	r = msg_release((MessageObject *)self, NULL);
	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_NONE;
}

static PyObject *msg_seq(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(m->t.msg.seq);
}

static PyObject *msg_publisher(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(m->t.msg.publisher);
}

static PyObject *msg_id(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(m->t.id);
}

static PyObject *msg_more(MessageObject *m, void *closure)
{
	(void)closure;
	return PyBool_FromLong(!!(m->t.flags & SHOAL_RPC_MORE));
}

static PyObject *msg_error(MessageObject *m, void *closure)
{
	(void)closure;
	return PyBool_FromLong(!!(m->t.flags & SHOAL_RPC_ERROR));
}

static PyObject *msg_epoch(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(m->t.msg.epoch);
}

static PyObject *msg_timestamp(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromLongLong(m->t.msg.timestamp_ns);
}

static PyObject *msg_lost_before(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(m->lost_before);
}

static PyObject *msg_header(MessageObject *m, void *closure)
{
	(void)closure;
	if (m->state != HELD) {
		PyErr_SetString(PyExc_ValueError, "the message was released");
		return NULL;
	}
	if (!m->t.msg.user_header)
		Py_RETURN_NONE;
	return PyBytes_FromStringAndSize(m->t.msg.user_header,
					 m->t.msg.user_header_size);
}

static PyBufferProcs msg_as_buffer = {
	(getbufferproc)msg_getbuffer,
	(releasebufferproc)msg_releasebuffer,
};
static PySequenceMethods msg_as_seq = { .sq_length = (lenfunc)msg_len };

static PyMethodDef msg_methods[] = {
	{ "release", (PyCFunction)msg_release, METH_NOARGS,
	  "release() -> bool | None\n\n"
	  "Done with the message: its slot goes back. True if it was intact\n"
	  "all along, False if it was overwritten while held (lossy\n"
	  "pub/sub: what was read may be torn). With views (memoryview,\n"
	  "numpy arrays) still alive, returns None and the release happens\n"
	  "when the last view goes." },
	{ "valid", (PyCFunction)msg_valid, METH_NOARGS,
	  "valid() -> bool: still intact (lossy pub/sub can overwrite a held\n"
	  "message)." },
	{ "tobytes", (PyCFunction)msg_tobytes, METH_NOARGS,
	  "tobytes() -> bytes: a copy of the payload." },
	{ "__enter__", shoalpy_h_enter, METH_NOARGS, NULL },
	{ "__exit__", msg_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef msg_getset[] = {
	{ "seq", (getter)msg_seq, NULL,
	  "pub/sub: the publisher's sequence number, from 0.", NULL },
	{ "epoch", (getter)msg_epoch, NULL,
	  "pub/sub: the publisher incarnation.", NULL },
	{ "publisher", (getter)msg_publisher, NULL,
	  "pub/sub: the publisher's slot (0 with one publisher).", NULL },
	{ "id", (getter)msg_id, NULL,
	  "rpc: the request's correlation id (a response: the request it "
	  "answers).",
	  NULL },
	{ "more", (getter)msg_more, NULL,
	  "rpc response: more responses to the same request follow.", NULL },
	{ "error", (getter)msg_error, NULL,
	  "rpc response: the server marked it an error.", NULL },
	{ "timestamp_ns", (getter)msg_timestamp, NULL,
	  "pub/sub: CLOCK_MONOTONIC at send with timestamp=True, else 0.",
	  NULL },
	{ "lost_before", (getter)msg_lost_before, NULL,
	  "Lossy pub/sub: messages skipped just before this one.", NULL },
	{ "header", (getter)msg_header, NULL,
	  "pub/sub: a copy of the user header, or None.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject shoalpy_MessageType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Message",
	.tp_basicsize = sizeof(MessageObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A taken message: a read-only buffer in shared memory "
		  "(memoryview(msg), numpy.frombuffer(msg, dtype), bytes(msg)) "
		  "valid until it is released. Use it in a with block, or "
		  "call release(); collected, it is released.",
	.tp_dealloc = (destructor)msg_dealloc,
	.tp_as_buffer = &msg_as_buffer,
	.tp_as_sequence = &msg_as_seq,
	.tp_methods = msg_methods,
	.tp_getset = msg_getset,
};

/* ---------------------------------------------------------------------- */
/* The common verbs */

struct write_ctx {
	shoalpy_handle *h;
	const void *data;
	uint32_t len;
};

static int write_op(void *ctx, int64_t slice)
{
	struct write_ctx *c = ctx;

	(void)slice; /* the handle's own send timeout is the slice */
	return c->h->ops->write(c->h->h, c->data, c->len);
}

PyObject *shoalpy_h_send(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "data", "length", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	PyObject *data, *length = Py_None;
	struct write_ctx c;
	Py_buffer b;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O", kwlist, &data,
					 &length))
		return NULL;
	if (Py_TYPE(data) == &shoalpy_LoanType) {
		Py_ssize_t n = -1;

		if (length != Py_None) {
			n = PyLong_AsSsize_t(length);
			if (n == -1 && PyErr_Occurred())
				return NULL;
		}
		return shoalpy_loan_send(h, data, n);
	}
	if (shoalpy_enter(h) || PyObject_GetBuffer(data, &b, PyBUF_SIMPLE))
		return NULL;
	if ((size_t)b.len > UINT32_MAX) {
		PyBuffer_Release(&b);
		PyErr_SetString(PyExc_ValueError, "message too long");
		return NULL;
	}
	c.h = h;
	c.data = b.buf;
	c.len = (uint32_t)b.len;
	h->busy = 1;
	err = shoalpy_wait(write_op, &c, h->send_timeout_ns);
	h->busy = 0;
	PyBuffer_Release(&b);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

struct loan_ctx {
	shoalpy_handle *h;
	uint32_t size;
	void *ptr;
};

static int loan_op(void *ctx, int64_t slice)
{
	struct loan_ctx *c = ctx;

	(void)slice;
	return c->h->ops->loan(c->h->h, c->size, &c->ptr);
}

PyObject *shoalpy_h_loan(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "size", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	Py_ssize_t size = -1;
	struct loan_ctx c;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|n", kwlist, &size))
		return NULL;
	if (shoalpy_enter(h))
		return NULL;
	if (size < 0)
		size = h->max_payload;
	if ((size_t)size > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "size too large");
		return NULL;
	}
	c.h = h;
	c.size = (uint32_t)size;
	c.ptr = NULL;
	h->busy = 1;
	err = shoalpy_wait(loan_op, &c, h->send_timeout_ns);
	h->busy = 0;
	if (err)
		return shoalpy_raise(err);
	return shoalpy_loan_new(h, c.ptr, c.size);
}

struct take_ctx {
	shoalpy_handle *h;
	struct shoalpy_taken t;
};

static int take_op(void *ctx, int64_t slice)
{
	struct take_ctx *c = ctx;

	return c->h->ops->take(c->h->h, &c->t, slice);
}

PyObject *shoalpy_take(shoalpy_handle *h, int64_t t)
{
	struct take_ctx c;
	int err;

	if (shoalpy_enter(h))
		return NULL;
	memset(&c, 0, sizeof(c));
	c.h = h;
	for (;;) {
		h->busy = 1;
		err = shoalpy_wait(take_op, &c, t);
		h->busy = 0;
		drain(h); /* releases collected meanwhile */
		if (err != -EOVERFLOW)
			break;
		/* Lossy and lapped: count the loss and take the next one
		 * (the loss is not a message: the wait starts again). */
		h->lost += c.t.msg.lost;
	}
	if (err == -ETIMEDOUT || err == -EAGAIN)
		Py_RETURN_NONE;
	if (err)
		return shoalpy_raise(err);
	return shoalpy_message_new(h, &c.t);
}

PyObject *shoalpy_h_take(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	int64_t t;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout) ||
	    shoalpy_timeout_ns(timeout, &t))
		return NULL;
	return shoalpy_take((shoalpy_handle *)self, t);
}

PyObject *shoalpy_h_read(PyObject *self, PyObject *args, PyObject *kw)
{
	PyObject *m = shoalpy_h_take(self, args, kw), *b, *r;

	if (!m || m == Py_None)
		return m;
	b = msg_tobytes((MessageObject *)m, NULL);
	r = msg_release((MessageObject *)m, NULL);
	Py_XDECREF(r);
	Py_DECREF(m);
	if (!r)
		Py_CLEAR(b);
	return b;
}

PyObject *shoalpy_h_iternext(PyObject *self)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	PyObject *m;

	/* for msg in handle: the previous message is done (released now,
	 * or when its last view goes). */
	if (h->iter_last) {
		PyObject *r = msg_release((MessageObject *)h->iter_last, NULL);

		h->iter_last = NULL;
		if (!r)
			return NULL;
		Py_DECREF(r);
	}
	m = shoalpy_take(h, -1);
	if (m) {
		h->iter_last = m;
		return m;
	}
	/* The end of the stream: the peer is gone (EPIPE). */
	shoalpy_clear_epipe();
	return NULL;
}

PyObject *shoalpy_h_fileno(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromLong(h->ops->fd(h->h));
}

PyObject *shoalpy_h_arm(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	int r;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	r = h->ops->arm(h->h);
	if (r < 0)
		return shoalpy_raise(r);
	return PyBool_FromLong(r);
}

PyObject *shoalpy_h_disarm(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	h->ops->disarm(h->h);
	Py_RETURN_NONE;
}

int shoalpy_handle_types_init(PyObject *module)
{
	if (PyType_Ready(&shoalpy_LoanType) ||
	    PyType_Ready(&shoalpy_MessageType) ||
	    PyModule_AddObjectRef(module, "Loan",
				  (PyObject *)&shoalpy_LoanType) ||
	    PyModule_AddObjectRef(module, "Message",
				  (PyObject *)&shoalpy_MessageType))
		return -1;
	return 0;
}
