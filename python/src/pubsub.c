/* SPDX-License-Identifier: MIT */
/*
 * Publisher, Subscriber, and the two zero-copy objects they hand out:
 * Loan (a writable slot, before it is sent) and Message (a taken message,
 * read-only, until it is released).
 *
 * Lifetimes, so that no view can outlive the memory it points at:
 *  - a Loan or a Message holds a reference to its handle, and every
 *    memoryview (or numpy array) of it holds a reference to it;
 *  - Message.release() while views of it exist only marks it: the real
 *    shoal_sub_release() happens when the last view goes (buffer release)
 *    or the Message is collected. Until then the message counts as held;
 *  - close() of a handle with Loans or Messages still alive withdraws
 *    nothing yet: the C handle is destroyed (and its memory unmapped) when
 *    the last of them goes. Calls on a closed handle raise ValueError.
 * A Loan's views stay writable after send() (the memory is still mapped):
 * writing through them then changes a message subscribers may be reading.
 * That is the caller's bug, not a crash; send() after the last write.
 */
#include <errno.h>
#include <string.h>

#include "shoalpy.h"

/* ---------------------------------------------------------------------- */
/* Publisher */

typedef struct {
	PyObject_HEAD struct shoal_pub *h;
	struct shoal_registry *reg;
	int64_t send_timeout_ns; /* the user's; the C handle gets slices */
	uint32_t max_payload, uh_size;
	int busy, closing;
	Py_ssize_t loans; /* Loan objects alive */
	struct shoalpy_pending *pending;
} PublisherObject;

typedef struct {
	PyObject_HEAD PublisherObject *pub;
	void *ptr;
	uint32_t size;
	uint32_t length; /* what send() publishes unless told: size */
	int state;	 /* LOANED, DONE */
	Py_ssize_t exports;
} LoanObject;

enum {
	LOANED,
	DONE
};

static PyTypeObject PublisherType, LoanType;

static void pub_destroy(PublisherObject *p)
{
	struct shoalpy_pending *n;

	while ((n = p->pending)) {
		p->pending = n->next;
		PyMem_Free(n);
	}
	shoal_pub_destroy(p->h);
	p->h = NULL;
	shoal_registry_destroy(p->reg);
	p->reg = NULL;
}

/* Aborts queued while another thread was in a call. */
static void pub_drain(PublisherObject *p)
{
	struct shoalpy_pending *n;

	while ((n = p->pending)) {
		p->pending = n->next;
		shoal_pub_abort(p->h, n->ptr);
		PyMem_Free(n);
	}
}

/* The start of every call: the handle is open and ours. 0 or -1. */
static int pub_enter(PublisherObject *p)
{
	if (!p->h || p->closing) {
		PyErr_SetString(PyExc_ValueError, "the publisher is closed");
		return -1;
	}
	if (p->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the publisher is in use by another thread");
		return -1;
	}
	pub_drain(p);
	return 0;
}

static const char *const delivery_names[] = { "reliable", "lossy", NULL };
static const int delivery_values[] = { SHOAL_DELIVERY_RELIABLE,
				       SHOAL_DELIVERY_LOSSY };
static const char *const access_names[] = { "owner", "group", "anyone", NULL };
static const int access_values[] = { SHOAL_ACCESS_OWNER, SHOAL_ACCESS_GROUP,
				     SHOAL_ACCESS_ANYONE };

static int pub_init(PublisherObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",
				  "delivery",
				  "capacity",
				  "max_payload",
				  "user_header_size",
				  "history",
				  "max_subscribers",
				  "send_timeout",
				  "timestamp",
				  "access",
				  "type_name",
				  "type_size",
				  "type_align",
				  "registry",
				  NULL };
	struct shoal_pub_options o;
	const char *name, *type_name = NULL;
	PyObject *delivery = NULL, *send_timeout = Py_None, *access = NULL;
	PyObject *registry = Py_None;
	int timestamp = 0, d, a, err;
	PyThreadState *ts;
	unsigned int capacity, max_payload, uh, history, max_subs, tsize = 0,
								   talign = 0;

	if (self->h) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_pub_options_init(&o);
	capacity = o.capacity;
	max_payload = o.max_payload;
	uh = o.user_header_size;
	history = o.history;
	max_subs = o.max_subscribers;
	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "s|$OIIIIIOpOzIIO", kwlist, &name, &delivery,
		    &capacity, &max_payload, &uh, &history, &max_subs,
		    &send_timeout, &timestamp, &access, &type_name, &tsize,
		    &talign, &registry))
		return -1;
	d = o.delivery;
	a = (int)o.access;
	if (shoalpy_choice(delivery, "delivery", delivery_names,
			   delivery_values, &d) ||
	    shoalpy_choice(access, "access", access_names, access_values, &a) ||
	    shoalpy_timeout_ns(send_timeout, &self->send_timeout_ns) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	o.delivery = (enum shoal_delivery)d;
	o.access = (uint32_t)a;
	o.capacity = capacity;
	o.max_payload = max_payload;
	o.user_header_size = uh;
	o.history = history;
	o.max_subscribers = max_subs;
	o.flags = timestamp ? SHOAL_PUB_TIMESTAMP : 0;
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.registry = self->reg;
	/* The C handle waits one slice at a time; shoalpy_wait() loops up to
	 * the user's timeout, seeing signals between slices. */
	o.send_timeout_ns = self->send_timeout_ns >= 0 &&
					    self->send_timeout_ns <
						    SHOALPY_SLICE_NS ?
				    self->send_timeout_ns :
				    SHOALPY_SLICE_NS;
	ts = PyEval_SaveThread();
	err = shoal_pub_create(name, &o, &self->h);
	PyEval_RestoreThread(ts);
	if (err) {
		shoal_registry_destroy(self->reg);
		self->reg = NULL;
		return shoalpy_raise_int(err);
	}
	self->max_payload = max_payload;
	self->uh_size = uh;
	return 0;
}

static void pub_dealloc(PublisherObject *self)
{
	pub_destroy(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

struct write_ctx {
	struct shoal_pub *h;
	const void *data, *uh;
	uint32_t len;
};

static int write_op(void *ctx, int64_t slice)
{
	struct write_ctx *c = ctx;

	(void)slice; /* the handle's send timeout is the slice */
	return shoal_pub_write(c->h, c->data, c->len, c->uh);
}

/* send(data, header=None): a copy of a bytes-like object, or a Loan. */
static PyObject *loan_send(LoanObject *l, Py_ssize_t len);

static PyObject *pub_send(PublisherObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "data", "header", "length", NULL };
	PyObject *data, *header = Py_None, *length = Py_None;
	struct write_ctx c;
	Py_buffer b, hb = { 0 };
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO", kwlist, &data,
					 &header, &length))
		return NULL;
	if (Py_TYPE(data) == &LoanType) {
		LoanObject *l = (LoanObject *)data;
		Py_ssize_t n = -1;

		if (l->pub != self) {
			PyErr_SetString(PyExc_ValueError,
					"the loan is another publisher's");
			return NULL;
		}
		if (length != Py_None) {
			n = PyLong_AsSsize_t(length);
			if (n == -1 && PyErr_Occurred())
				return NULL;
		}
		return loan_send(l, n);
	}
	if (pub_enter(self))
		return NULL;
	if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE))
		return NULL;
	if (header != Py_None) {
		if (PyObject_GetBuffer(header, &hb, PyBUF_SIMPLE)) {
			PyBuffer_Release(&b);
			return NULL;
		}
		if ((size_t)hb.len != self->uh_size) {
			PyErr_Format(PyExc_ValueError,
				     "header must be %u bytes (the "
				     "user_header_size), not %zd",
				     self->uh_size, hb.len);
			goto fail;
		}
	}
	if ((size_t)b.len > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "message too long");
		goto fail;
	}
	c.h = self->h;
	c.data = b.buf;
	c.len = (uint32_t)b.len;
	c.uh = hb.obj ? hb.buf : NULL;
	self->busy = 1;
	err = shoalpy_wait(write_op, &c, self->send_timeout_ns);
	self->busy = 0;
	if (err) {
		shoalpy_raise(err);
		goto fail;
	}
	PyBuffer_Release(&b);
	if (hb.obj)
		PyBuffer_Release(&hb);
	Py_RETURN_NONE;
fail:
	PyBuffer_Release(&b);
	if (hb.obj)
		PyBuffer_Release(&hb);
	return NULL;
}

struct loan_ctx {
	struct shoal_pub *h;
	uint32_t size;
	void *ptr;
};

static int loan_op(void *ctx, int64_t slice)
{
	struct loan_ctx *c = ctx;

	(void)slice;
	return shoal_pub_loan(c->h, c->size, &c->ptr);
}

static PyObject *pub_loan(PublisherObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "size", NULL };
	Py_ssize_t size = -1;
	struct loan_ctx c;
	LoanObject *l;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|n", kwlist, &size))
		return NULL;
	if (pub_enter(self))
		return NULL;
	if (size < 0)
		size = self->max_payload;
	if ((size_t)size > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "size too large");
		return NULL;
	}
	c.h = self->h;
	c.size = (uint32_t)size;
	c.ptr = NULL;
	self->busy = 1;
	err = shoalpy_wait(loan_op, &c, self->send_timeout_ns);
	self->busy = 0;
	if (err)
		return shoalpy_raise(err);
	l = PyObject_New(LoanObject, &LoanType);
	if (!l) {
		shoal_pub_abort(self->h, c.ptr);
		return NULL;
	}
	Py_INCREF(self);
	l->pub = self;
	l->ptr = c.ptr;
	l->size = c.size;
	l->length = c.size;
	l->state = LOANED;
	l->exports = 0;
	self->loans++;
	return (PyObject *)l;
}

static PyObject *pub_subscribers(PublisherObject *self, PyObject *noargs)
{
	(void)noargs;
	if (pub_enter(self))
		return NULL;
	return PyLong_FromUnsignedLong(shoal_pub_subscribers(self->h));
}

struct subs_ctx {
	struct shoal_pub *h;
	uint32_t n;
};

static int subs_op(void *ctx, int64_t slice)
{
	struct subs_ctx *c = ctx;

	return shoal_pub_wait_subscribers(c->h, c->n, slice);
}

static PyObject *pub_wait_subscribers(PublisherObject *self, PyObject *args,
				      PyObject *kw)
{
	static char *kwlist[] = { "n", "timeout", NULL };
	PyObject *timeout = Py_None;
	struct subs_ctx c;
	unsigned int n = 1;
	int64_t t;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|IO", kwlist, &n, &timeout))
		return NULL;
	if (shoalpy_timeout_ns(timeout, &t) || pub_enter(self))
		return NULL;
	c.h = self->h;
	c.n = n;
	self->busy = 1;
	err = shoalpy_wait(subs_op, &c, t);
	self->busy = 0;
	if (err == -ETIMEDOUT || err == -EAGAIN)
		Py_RETURN_FALSE;
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_TRUE;
}

static PyObject *pub_stats(PublisherObject *self, PyObject *noargs)
{
	struct shoal_pub_stats s;

	(void)noargs;
	if (pub_enter(self))
		return NULL;
	shoal_pub_get_stats(self->h, &s);
	return Py_BuildValue("{sKsKsKsKsKsI}", "sent",
			     (unsigned long long)s.sent, "blocked",
			     (unsigned long long)s.blocked, "failed",
			     (unsigned long long)s.failed, "wakeups",
			     (unsigned long long)s.wakeups, "evicted",
			     (unsigned long long)s.evicted, "subscribers",
			     s.subscribers);
}

static PyObject *pub_close(PublisherObject *self, PyObject *noargs)
{
	(void)noargs;
	if (!self->h || self->closing)
		Py_RETURN_NONE;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the publisher is in use by another thread");
		return NULL;
	}
	self->closing = 1;
	if (!self->loans)
		pub_destroy(self);
	Py_RETURN_NONE;
}

static PyObject *pub_epoch(PublisherObject *self, void *closure)
{
	(void)closure;
	if (pub_enter(self))
		return NULL;
	return PyLong_FromUnsignedLongLong(shoal_pub_epoch(self->h));
}

static PyObject *pub_closed(PublisherObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(!self->h || self->closing);
}

static PyObject *self_enter(PyObject *self, PyObject *noargs)
{
	(void)noargs;
	return Py_NewRef(self);
}

static PyObject *pub_exit(PyObject *self, PyObject *args)
{
	(void)args;
	return pub_close((PublisherObject *)self, NULL);
}

static PyMethodDef pub_methods[] = {
	{ "send", (PyCFunction)(void (*)(void))pub_send,
	  METH_VARARGS | METH_KEYWORDS,
	  "send(data, header=None, length=None)\n\n"
	  "Publish @data: a bytes-like object (copied into the next slot),\n"
	  "or a Loan of this publisher (published in place, @length bytes,\n"
	  "default all it was loaned with). Reliable delivery waits for room\n"
	  "up to send_timeout and raises shoal.Error(EAGAIN) after it." },
	{ "loan", (PyCFunction)(void (*)(void))pub_loan,
	  METH_VARARGS | METH_KEYWORDS,
	  "loan(size=max_payload) -> Loan\n\n"
	  "Reserve the next slot: a writable buffer of @size bytes in shared\n"
	  "memory (memoryview(loan), numpy.frombuffer(loan, ...)). Fill it,\n"
	  "then send(loan) or loan.abort()." },
	{ "subscribers", (PyCFunction)pub_subscribers, METH_NOARGS,
	  "subscribers() -> int: live subscribers now." },
	{ "wait_subscribers", (PyCFunction)(void (*)(void))pub_wait_subscribers,
	  METH_VARARGS | METH_KEYWORDS,
	  "wait_subscribers(n=1, timeout=None) -> bool\n\n"
	  "Wait, asleep, until at least @n subscribers are attached: True,\n"
	  "or False when @timeout seconds passed first." },
	{ "stats", (PyCFunction)pub_stats, METH_NOARGS,
	  "stats() -> dict: sent, blocked, failed, wakeups, evicted, "
	  "subscribers.\n\n'failed' also counts each 0.1 s slice of a "
	  "Python send that found no room (the wait is cut in slices so "
	  "that signals are seen)." },
	{ "close", (PyCFunction)pub_close, METH_NOARGS,
	  "close(): withdraw the service. Subscribers get what was sent, then\n"
	  "EPIPE. With Loans still alive, the memory stays mapped until the\n"
	  "last one goes." },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", pub_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef pub_getset[] = {
	{ "epoch", (getter)pub_epoch, NULL,
	  "This publisher's incarnation of the name.", NULL },
	{ "closed", (getter)pub_closed, NULL, "True after close().", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject PublisherType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Publisher",
	.tp_basicsize = sizeof(PublisherObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Publisher(name, *, delivery='reliable', capacity=1024, "
		  "max_payload=4096, user_header_size=0, history=0, "
		  "max_subscribers=64, send_timeout=None, timestamp=False, "
		  "access='owner', type_name=None, type_size=0, type_align=0, "
		  "registry=None)\n\n"
		  "Publish a service under @name for any number of "
		  "subscribers in other processes. See docs/pubsub.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)pub_init,
	.tp_dealloc = (destructor)pub_dealloc,
	.tp_methods = pub_methods,
	.tp_getset = pub_getset,
};

/* ---------------------------------------------------------------------- */
/* Loan */

static void loan_done(LoanObject *l)
{
	l->state = DONE;
}

static PyObject *loan_send(LoanObject *l, Py_ssize_t len)
{
	PublisherObject *p = l->pub;
	int err;

	if (l->state != LOANED) {
		PyErr_SetString(PyExc_ValueError,
				"the loan was sent or aborted already");
		return NULL;
	}
	if (pub_enter(p))
		return NULL;
	if (len < 0)
		len = l->length;
	if ((size_t)len > l->size) {
		PyErr_Format(PyExc_ValueError,
			     "length %zd is more than the %u bytes loaned", len,
			     l->size);
		return NULL;
	}
	err = shoal_pub_send(p->h, l->ptr, (uint32_t)len);
	if (err)
		return shoalpy_raise(err);
	loan_done(l);
	Py_RETURN_NONE;
}

static PyObject *loan_abort(LoanObject *l, PyObject *noargs)
{
	int err;

	(void)noargs;
	if (l->state != LOANED)
		Py_RETURN_NONE;
	if (pub_enter(l->pub))
		return NULL;
	err = shoal_pub_abort(l->pub->h, l->ptr);
	loan_done(l);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

static void loan_dealloc(LoanObject *l)
{
	PublisherObject *p = l->pub;

	if (l->state == LOANED && p->h) {
		if (p->busy) {
			struct shoalpy_pending *n = PyMem_Calloc(1, sizeof(*n));

			if (n) {
				n->ptr = l->ptr;
				n->next = p->pending;
				p->pending = n;
			}
		} else {
			shoal_pub_abort(p->h, l->ptr);
		}
	}
	if (--p->loans == 0 && p->closing)
		pub_destroy(p);
	Py_DECREF(p);
	PyObject_Free(l);
}

static int loan_getbuffer(LoanObject *l, Py_buffer *view, int flags)
{
	if (l->state != LOANED) {
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
	l->exports--;
}

static Py_ssize_t loan_len(LoanObject *l)
{
	return l->size;
}

static PyObject *loan_header(LoanObject *l, void *closure)
{
	void *h;

	(void)closure;
	if (l->state != LOANED || pub_enter(l->pub)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "the loan is done");
		return NULL;
	}
	h = shoal_pub_loan_header(l->pub->h);
	if (!h)
		Py_RETURN_NONE;
	return PyMemoryView_FromMemory(h, l->pub->uh_size, PyBUF_WRITE);
}

static PyBufferProcs loan_as_buffer = {
	(getbufferproc)loan_getbuffer,
	(releasebufferproc)loan_releasebuffer,
};
static PySequenceMethods loan_as_seq = { .sq_length = (lenfunc)loan_len };

static PyMethodDef loan_methods[] = {
	{ "abort", (PyCFunction)loan_abort, METH_NOARGS,
	  "abort(): give the slot back unpublished." },
	{ NULL, NULL, 0, NULL },
};

static PyObject *loan_get_length(LoanObject *l, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(l->length);
}

static int loan_set_length(LoanObject *l, PyObject *v, void *closure)
{
	Py_ssize_t n;

	(void)closure;
	n = v ? PyLong_AsSsize_t(v) : -1;
	if (n == -1 && (!v || PyErr_Occurred())) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError,
					"cannot delete length");
		return -1;
	}
	if (n < 0 || (size_t)n > l->size) {
		PyErr_Format(PyExc_ValueError, "length must be 0..%u", l->size);
		return -1;
	}
	l->length = (uint32_t)n;
	return 0;
}

static PyGetSetDef loan_getset[] = {
	{ "length", (getter)loan_get_length, (setter)loan_set_length,
	  "Bytes send() publishes when not told: the loaned size at first.",
	  NULL },
	{ "header", (getter)loan_header, NULL,
	  "The slot's user header as a writable memoryview, or None.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject LoanType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Loan",
	.tp_basicsize = sizeof(LoanObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A loaned slot: a writable buffer in shared memory. Fill it "
		  "(memoryview(loan)[:] = ..., numpy.frombuffer(loan, "
		  "dtype)), then Publisher.send(loan) or loan.abort(). "
		  "Collected unsent, it is aborted.",
	.tp_dealloc = (destructor)loan_dealloc,
	.tp_as_buffer = &loan_as_buffer,
	.tp_as_sequence = &loan_as_seq,
	.tp_methods = loan_methods,
	.tp_getset = loan_getset,
};

/* ---------------------------------------------------------------------- */
/* Subscriber and Message */

typedef struct {
	PyObject_HEAD struct shoal_sub *h;
	struct shoal_registry *reg;
	int busy, closing;
	Py_ssize_t held; /* Message objects not yet released */
	uint64_t lost;	 /* lossy: skipped, as the next message reports */
	struct shoalpy_pending *pending;
	/* The message iteration yielded last (borrowed: its dealloc clears
	 * this), released when the next one is asked for. */
	PyObject *iter_last;
} SubscriberObject;

typedef struct {
	PyObject_HEAD SubscriberObject *sub;
	struct shoal_msg m;
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

static PyTypeObject SubscriberType;

static void sub_destroy(SubscriberObject *s)
{
	struct shoalpy_pending *n;

	while ((n = s->pending)) {
		s->pending = n->next;
		PyMem_Free(n);
	}
	shoal_sub_close(s->h);
	s->h = NULL;
	shoal_registry_destroy(s->reg);
	s->reg = NULL;
}

static void sub_drain(SubscriberObject *s)
{
	struct shoalpy_pending *n;

	while ((n = s->pending)) {
		s->pending = n->next;
		shoal_sub_release(s->h, &n->msg);
		PyMem_Free(n);
	}
}

static int sub_enter(SubscriberObject *s)
{
	if (!s->h || s->closing) {
		PyErr_SetString(PyExc_ValueError, "the subscriber is closed");
		return -1;
	}
	if (s->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the subscriber is in use by another thread");
		return -1;
	}
	sub_drain(s);
	return 0;
}

static const char *const strategy_names[] = { "busy_spin", "spin_yield",
					      "adaptive", "block", NULL };
static const int strategy_values[] = { SHOAL_WAIT_BUSY_SPIN,
				       SHOAL_WAIT_SPIN_YIELD,
				       SHOAL_WAIT_ADAPTIVE, SHOAL_WAIT_BLOCK };

struct open_ctx {
	const char *name;
	struct shoal_sub_options *o;
	struct shoal_sub **out;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	c->o->timeout_ns = slice;
	return shoal_sub_open(c->name, c->o, c->out);
}

static int sub_init(SubscriberObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",      "timeout",    "history",
				  "reattach",  "strategy",   "type_name",
				  "type_size", "type_align", "registry",
				  NULL };
	struct shoal_sub_options o;
	struct open_ctx c;
	const char *name, *type_name = NULL;
	PyObject *timeout = NULL, *strategy = NULL, *registry = Py_None;
	unsigned int history = 0, tsize = 0, talign = 0;
	int reattach = 0, st, err;
	int64_t t = 0;

	if (self->h) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_sub_options_init(&o);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$OIpOzIIO", kwlist, &name,
					 &timeout, &history, &reattach,
					 &strategy, &type_name, &tsize, &talign,
					 &registry))
		return -1;
	st = o.strategy;
	/* timeout: how long to wait for the service to appear; absent is 0
	 * (fail at once), None forever. */
	if ((timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_choice(strategy, "strategy", strategy_names,
			   strategy_values, &st) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	o.strategy = (enum shoal_wait_strategy)st;
	o.history = history;
	o.flags = reattach ? SHOAL_SUB_REATTACH : 0;
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.registry = self->reg;
	c.name = name;
	c.o = &o;
	c.out = &self->h;
	/* Waiting for the service: in slices, so Ctrl-C is seen; -ENOENT
	 * and -ETIMEDOUT of a slice both mean "not there yet". */
	if (t == 0) {
		PyThreadState *ts = PyEval_SaveThread();

		err = shoal_sub_open(name, &o, &self->h);
		PyEval_RestoreThread(ts);
	} else {
		err = shoalpy_wait(open_op, &c, t);
	}
	if (err) {
		shoal_registry_destroy(self->reg);
		self->reg = NULL;
		return shoalpy_raise_int(err == -EAGAIN ? -ETIMEDOUT : err);
	}
	return 0;
}

static void sub_dealloc(SubscriberObject *self)
{
	sub_destroy(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The real release of @m, now or (the handle busy) by the next call. */
static void msg_do_release(MessageObject *m)
{
	SubscriberObject *s = m->sub;

	if (m->state == RELEASED)
		return;
	m->state = RELEASED;
	if (s->h) {
		if (s->busy) {
			struct shoalpy_pending *n = PyMem_Calloc(1, sizeof(*n));

			if (n) {
				n->msg = m->m;
				n->next = s->pending;
				s->pending = n;
			}
		} else {
			m->intact = shoal_sub_release(s->h, &m->m) == 0;
		}
	}
	if (--s->held == 0 && s->closing)
		sub_destroy(s);
}

struct take_ctx {
	struct shoal_sub *h;
	struct shoal_msg m;
};

static int take_op(void *ctx, int64_t slice)
{
	struct take_ctx *c = ctx;

	return shoal_sub_take(c->h, &c->m, slice);
}

/* The next message within @t ns (-1: forever), None, or NULL raised. */
static PyObject *take(SubscriberObject *self, int64_t t)
{
	struct take_ctx c;
	MessageObject *m;
	int err;

	if (sub_enter(self))
		return NULL;
	c.h = self->h;
	for (;;) {
		self->busy = 1;
		err = shoalpy_wait(take_op, &c, t);
		self->busy = 0;
		sub_drain(self); /* releases collected meanwhile */
		if (err != -EOVERFLOW)
			break;
		/* Lossy and lapped: count the loss, and take the next one
		 * (the wait starts again: the loss is not a message). */
		self->lost += c.m.lost;
	}
	if (err == -ETIMEDOUT || err == -EAGAIN)
		Py_RETURN_NONE;
	if (err)
		return shoalpy_raise(err);
	m = PyObject_New(MessageObject, &shoalpy_MessageType);
	if (!m) {
		shoal_sub_release(self->h, &c.m);
		return NULL;
	}
	Py_INCREF(self);
	m->sub = self;
	m->m = c.m;
	m->state = HELD;
	m->intact = 1;
	m->exports = 0;
	m->lost_before = self->lost;
	self->lost = 0;
	self->held++;
	return (PyObject *)m;
}

/* take(timeout=None) -> Message or None. */
static PyObject *sub_take(SubscriberObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	int64_t t;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout) ||
	    shoalpy_timeout_ns(timeout, &t))
		return NULL;
	return take(self, t);
}

static PyObject *msg_release(MessageObject *m, PyObject *noargs);

static PyObject *sub_iternext(SubscriberObject *self)
{
	PyObject *m;

	/* for msg in sub: the previous message is done (released now, or
	 * when its last view goes). */
	if (self->iter_last) {
		PyObject *r =
			msg_release((MessageObject *)self->iter_last, NULL);

		self->iter_last = NULL;
		if (!r)
			return NULL;
		Py_DECREF(r);
	}
	m = take(self, -1);
	if (m)
		self->iter_last = m;

	/* Iteration ends when the publisher is gone (EPIPE). */
	if (!m && PyErr_ExceptionMatches(shoalpy_Error)) {
		PyObject *type, *value, *tb;
		int is_epipe = 0;

		PyErr_Fetch(&type, &value, &tb);
		PyErr_NormalizeException(&type, &value, &tb);
		if (value) {
			PyObject *e = PyObject_GetAttrString(value, "errno");

			is_epipe = e && PyLong_Check(e) &&
				   PyLong_AsLong(e) == EPIPE;
			Py_XDECREF(e);
			PyErr_Clear();
		}
		if (is_epipe) {
			Py_XDECREF(type);
			Py_XDECREF(value);
			Py_XDECREF(tb);
			return NULL; /* StopIteration */
		}
		PyErr_Restore(type, value, tb);
	}
	return m;
}

static PyObject *sub_fileno(SubscriberObject *self, PyObject *noargs)
{
	(void)noargs;
	if (sub_enter(self))
		return NULL;
	return PyLong_FromLong(shoal_sub_fd(self->h));
}

static PyObject *sub_arm(SubscriberObject *self, PyObject *noargs)
{
	int r;

	(void)noargs;
	if (sub_enter(self))
		return NULL;
	r = shoal_sub_arm(self->h);
	if (r < 0)
		return shoalpy_raise(r);
	return PyBool_FromLong(r);
}

static PyObject *sub_disarm(SubscriberObject *self, PyObject *noargs)
{
	(void)noargs;
	if (sub_enter(self))
		return NULL;
	shoal_sub_disarm(self->h);
	Py_RETURN_NONE;
}

static PyObject *sub_stats(SubscriberObject *self, PyObject *noargs)
{
	struct shoal_sub_stats s;

	(void)noargs;
	if (sub_enter(self))
		return NULL;
	shoal_sub_get_stats(self->h, &s);
	return Py_BuildValue("{sKsKsKsKsKsK}", "received",
			     (unsigned long long)s.received, "lost",
			     (unsigned long long)s.lost, "stale",
			     (unsigned long long)s.stale, "sleeps",
			     (unsigned long long)s.sleeps, "reattached",
			     (unsigned long long)s.reattached, "epoch",
			     (unsigned long long)s.epoch);
}

static PyObject *sub_close(SubscriberObject *self, PyObject *noargs)
{
	(void)noargs;
	if (!self->h || self->closing)
		Py_RETURN_NONE;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the subscriber is in use by another thread");
		return NULL;
	}
	self->closing = 1;
	if (!self->held)
		sub_destroy(self);
	Py_RETURN_NONE;
}

static PyObject *sub_exit(PyObject *self, PyObject *args)
{
	(void)args;
	return sub_close((SubscriberObject *)self, NULL);
}

static PyObject *sub_epoch(SubscriberObject *self, void *closure)
{
	(void)closure;
	if (sub_enter(self))
		return NULL;
	return PyLong_FromUnsignedLongLong(shoal_sub_epoch(self->h));
}

static PyObject *sub_connected(SubscriberObject *self, void *closure)
{
	(void)closure;
	if (sub_enter(self))
		return NULL;
	return PyBool_FromLong(shoal_sub_connected(self->h));
}

static PyObject *sub_closed(SubscriberObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(!self->h || self->closing);
}

static PyMethodDef sub_methods[] = {
	{ "take", (PyCFunction)(void (*)(void))sub_take,
	  METH_VARARGS | METH_KEYWORDS,
	  "take(timeout=None) -> Message | None\n\n"
	  "The next message, in place in shared memory (no copy), waiting up\n"
	  "to @timeout seconds (None: forever; 0: only what is there). None\n"
	  "when nothing came in time. Raises shoal.Error(EPIPE) once the\n"
	  "publisher is gone and everything it sent was taken. A lossy\n"
	  "subscriber that was lapped goes on with the oldest message left;\n"
	  "Message.lost_before says how many it missed." },
	{ "fileno", (PyCFunction)sub_fileno, METH_NOARGS,
	  "fileno() -> int: readable when take() may return something. For\n"
	  "selectors: arm() first (True: something is pending already)." },
	{ "arm", (PyCFunction)sub_arm, METH_NOARGS,
	  "arm() -> bool: ask for a wake-up on fileno(). True: something is\n"
	  "pending already, take now instead of polling." },
	{ "disarm", (PyCFunction)sub_disarm, METH_NOARGS,
	  "disarm(): after fileno() was readable (or before giving up)." },
	{ "stats", (PyCFunction)sub_stats, METH_NOARGS,
	  "stats() -> dict: received, lost, stale, sleeps, reattached, "
	  "epoch." },
	{ "close", (PyCFunction)sub_close, METH_NOARGS,
	  "close(): leave the service. Messages still alive keep it mapped\n"
	  "until the last one is released or collected." },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", sub_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef sub_getset[] = {
	{ "epoch", (getter)sub_epoch, NULL,
	  "The publisher incarnation attached to (0: none).", NULL },
	{ "connected", (getter)sub_connected, NULL,
	  "True while attached to a live publisher.", NULL },
	{ "closed", (getter)sub_closed, NULL, "True after close().", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject SubscriberType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Subscriber",
	.tp_basicsize = sizeof(SubscriberObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Subscriber(name, *, timeout=0, history=0, reattach=False, "
		  "strategy='adaptive', type_name=None, type_size=0, "
		  "type_align=0, registry=None)\n\n"
		  "Join the publisher of @name, waiting up to @timeout seconds "
		  "for it to appear (None: forever). Iterating yields "
		  "messages until the publisher is gone; each is released "
		  "when the next is asked for (or when its last view goes).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)sub_init,
	.tp_dealloc = (destructor)sub_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)sub_iternext,
	.tp_methods = sub_methods,
	.tp_getset = sub_getset,
};

/* Message */

const struct shoal_msg *shoalpy_message_msg(PyObject *o)
{
	MessageObject *m = (MessageObject *)o;

	if (m->state != HELD) {
		PyErr_SetString(PyExc_ValueError, "the message was released");
		return NULL;
	}
	return &m->m;
}

static int msg_getbuffer(MessageObject *m, Py_buffer *view, int flags)
{
	if (m->state != HELD) {
		PyErr_SetString(PyExc_ValueError,
				"the message was released: no new views");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)m, (void *)m->m.data, m->m.len,
			      1, flags))
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
		/* Views alive: release when the last goes. */
		m->state = RELEASE_PENDING;
		Py_RETURN_NONE;
	}
	if (m->sub->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the subscriber is in use by another thread");
		return NULL;
	}
	msg_do_release(m);
	return PyBool_FromLong(m->intact);
}

static PyObject *msg_valid(MessageObject *m, PyObject *noargs)
{
	(void)noargs;
	if (m->state != HELD || !m->sub->h)
		return PyBool_FromLong(m->state == RELEASED ? m->intact : 1);
	return PyBool_FromLong(shoal_sub_valid(m->sub->h, &m->m));
}

static PyObject *msg_tobytes(MessageObject *m, PyObject *noargs)
{
	(void)noargs;
	if (m->state != HELD) {
		PyErr_SetString(PyExc_ValueError, "the message was released");
		return NULL;
	}
	return PyBytes_FromStringAndSize(m->m.data, m->m.len);
}

static void msg_dealloc(MessageObject *m)
{
	SubscriberObject *s = m->sub;

	if (s->iter_last == (PyObject *)m)
		s->iter_last = NULL;
	msg_do_release(m);
	Py_DECREF(s);
	PyObject_Free(m);
}

static Py_ssize_t msg_len(MessageObject *m)
{
	return m->m.len;
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

#define MSG_U64(field, doc)                                           \
	static PyObject *msg_##field(MessageObject *m, void *closure) \
	{                                                             \
		(void)closure;                                        \
		return PyLong_FromUnsignedLongLong(m->m.field);       \
	}
MSG_U64(seq, "")
MSG_U64(epoch, "")

static PyObject *msg_timestamp(MessageObject *m, void *closure)
{
	(void)closure;
	return PyLong_FromLongLong(m->m.timestamp_ns);
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
	if (!m->m.user_header)
		Py_RETURN_NONE;
	return PyBytes_FromStringAndSize(m->m.user_header,
					 m->m.user_header_size);
}

static PyBufferProcs msg_as_buffer = {
	(getbufferproc)msg_getbuffer,
	(releasebufferproc)msg_releasebuffer,
};
static PySequenceMethods msg_as_seq = { .sq_length = (lenfunc)msg_len };

static PyMethodDef msg_methods[] = {
	{ "release", (PyCFunction)msg_release, METH_NOARGS,
	  "release() -> bool | None\n\n"
	  "Done with the message: its slot goes back to the publisher. True\n"
	  "if it was intact all along, False if it was overwritten while\n"
	  "held (lossy delivery: what was read may be torn). With views\n"
	  "(memoryview, numpy arrays) still alive, returns None and the\n"
	  "release happens when the last view goes." },
	{ "valid", (PyCFunction)msg_valid, METH_NOARGS,
	  "valid() -> bool: still intact (lossy delivery can overwrite a\n"
	  "held message)." },
	{ "tobytes", (PyCFunction)msg_tobytes, METH_NOARGS,
	  "tobytes() -> bytes: a copy of the payload." },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", msg_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef msg_getset[] = {
	{ "seq", (getter)msg_seq, NULL,
	  "The publisher's sequence number, from 0.", NULL },
	{ "epoch", (getter)msg_epoch, NULL, "The publisher incarnation.",
	  NULL },
	{ "timestamp_ns", (getter)msg_timestamp, NULL,
	  "CLOCK_MONOTONIC at send with timestamp=True, else 0.", NULL },
	{ "lost_before", (getter)msg_lost_before, NULL,
	  "Lossy: messages skipped just before this one.", NULL },
	{ "header", (getter)msg_header, NULL,
	  "A copy of the user header, or None.", NULL },
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

int shoalpy_pubsub_init(PyObject *module)
{
	if (PyType_Ready(&PublisherType) || PyType_Ready(&LoanType) ||
	    PyType_Ready(&SubscriberType) || PyType_Ready(&shoalpy_MessageType))
		return -1;
	if (PyModule_AddObjectRef(module, "Publisher",
				  (PyObject *)&PublisherType) ||
	    PyModule_AddObjectRef(module, "Loan", (PyObject *)&LoanType) ||
	    PyModule_AddObjectRef(module, "Subscriber",
				  (PyObject *)&SubscriberType) ||
	    PyModule_AddObjectRef(module, "Message",
				  (PyObject *)&shoalpy_MessageType))
		return -1;
	return 0;
}
