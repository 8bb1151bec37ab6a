/* SPDX-License-Identifier: MIT */
/*
 * Publisher and Subscriber: pub/sub on the common handle (handle.c), plus
 * what only pub/sub has (a user header on send, waiting for subscribers,
 * the publisher epoch, the stats).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "handle.h"

/* The C calls behind the common verbs (typed wrappers: calling through a
 * pointer of another type is undefined). */
static int pub_loan(void *h, uint32_t size, void **ptr)
{
	return shoal_pub_loan(h, size, ptr);
}
static int pub_send_c(void *h, void *ptr, uint32_t len)
{
	return shoal_pub_send(h, ptr, len);
}
static int pub_abort(void *h, void *ptr)
{
	return shoal_pub_abort(h, ptr);
}
static int pub_write(void *h, const void *data, uint32_t len)
{
	return shoal_pub_write(h, data, len, NULL);
}
static void *pub_loan_header(void *h)
{
	return shoal_pub_loan_header(h);
}
static void pub_end(void *h)
{
	shoal_pub_destroy(h);
}

static const struct shoalpy_ops pub_ops = {
	.what = "publisher",
	.loan = pub_loan,
	.send = pub_send_c,
	.abort = pub_abort,
	.write = pub_write,
	.loan_header = pub_loan_header,
	.end = pub_end,
};

static int sub_take_c(void *h, struct shoalpy_taken *t, int64_t timeout)
{
	return shoal_sub_take(h, &t->msg, timeout);
}
static int sub_release(void *h, struct shoalpy_taken *t)
{
	return shoal_sub_release(h, &t->msg);
}
static int sub_valid(void *h, const struct shoalpy_taken *t)
{
	return shoal_sub_valid(h, &t->msg);
}
static int sub_fd(const void *h)
{
	return shoal_sub_fd(h);
}
static int sub_arm(void *h)
{
	return shoal_sub_arm(h);
}
static void sub_disarm(void *h)
{
	shoal_sub_disarm(h);
}
static void sub_end(void *h)
{
	shoal_sub_close(h);
}

static const struct shoalpy_ops sub_ops = {
	.what = "subscriber",
	.take = sub_take_c,
	.release = sub_release,
	.valid = sub_valid,
	.fd = sub_fd,
	.arm = sub_arm,
	.disarm = sub_disarm,
	.end = sub_end,
};

/* ---------------------------------------------------------------------- */
/* Publisher */

static const char *const delivery_names[] = { "reliable", "lossy", NULL };
static const int delivery_values[] = { SHOAL_DELIVERY_RELIABLE,
				       SHOAL_DELIVERY_LOSSY };

/* pools=[(size, count), ...]: up to SHOAL_PUB_POOLS_MAX size classes. */
static int parse_pools(PyObject *seq, struct shoal_pool *pool, uint32_t *n)
{
	PyObject *fast = PySequence_Fast(seq, "pools: a sequence of "
					      "(size, count) pairs");
	Py_ssize_t len;

	if (!fast)
		return -1;
	len = PySequence_Fast_GET_SIZE(fast);
	if (len < 1 || len > (Py_ssize_t)SHOAL_PUB_POOLS_MAX) {
		Py_DECREF(fast);
		PyErr_Format(PyExc_ValueError,
			     "pools: 1..%u (size, count) pairs, not %zd",
			     SHOAL_PUB_POOLS_MAX, len);
		return -1;
	}
	for (Py_ssize_t i = 0; i < len; i++) {
		unsigned int size, count;

		PyObject *pair = PySequence_Fast_GET_ITEM(fast, i);

		if (!PyTuple_Check(pair)) {
			Py_DECREF(fast);
			PyErr_SetString(PyExc_TypeError,
					"pools: each a (size, count) pair");
			return -1;
		}
		if (!PyArg_ParseTuple(pair,
				      "II;pools: each a (size, count) pair",
				      &size, &count)) {
			Py_DECREF(fast);
			return -1;
		}
		pool[i].size = size;
		pool[i].count = count;
	}
	Py_DECREF(fast);
	*n = (uint32_t)len;
	return 0;
}

static int pub_init(shoalpy_handle *self, PyObject *args, PyObject *kw)
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
				  "max_publishers",
				  "max_loans",
				  "pools",
				  "origin",
				  "trusted_subscribers",
				  NULL };
	struct shoal_pub_options o;
	struct shoal_pub *pub = NULL;
	const char *name, *type_name = NULL, *origin = NULL;
	PyObject *delivery = NULL, *send_timeout = Py_None, *access = NULL;
	PyObject *registry = Py_None, *pools = Py_None;
	struct shoal_pool pool[SHOAL_PUB_POOLS_MAX];
	int timestamp = 0, trusted = 0, d, a, err;
	unsigned int capacity, max_payload, uh, history, max_subs, tsize = 0,
								   talign = 0;
	unsigned int max_pubs = 1, max_loans = 1;
	PyThreadState *ts;
	int64_t user_ns;

	if (self->h || self->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_pub_options_init(&o);
	capacity = o.capacity;
	max_payload = UINT_MAX; /* not given */
	uh = o.user_header_size;
	history = o.history;
	max_subs = o.max_subscribers;
	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "s|$OIIIIIOpOzIIOIIOzp", kwlist, &name, &delivery,
		    &capacity, &max_payload, &uh, &history, &max_subs,
		    &send_timeout, &timestamp, &access, &type_name, &tsize,
		    &talign, &registry, &max_pubs, &max_loans, &pools, &origin,
		    &trusted))
		return -1;
	if (pools != Py_None && parse_pools(pools, pool, &o.npools))
		return -1;
	if (o.npools)
		o.pools = pool;
	/* With pools the default max_payload is the largest chunk. */
	if (max_payload == UINT_MAX)
		max_payload = o.npools ? 0 : o.max_payload;
	d = o.delivery;
	a = (int)o.access;
	if (shoalpy_choice(delivery, "delivery", delivery_names,
			   delivery_values, &d) ||
	    shoalpy_access(access, &a) ||
	    shoalpy_timeout_ns(send_timeout, &user_ns) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	self->ops = &pub_ops;
	o.delivery = (enum shoal_delivery)d;
	o.access = (uint32_t)a;
	o.capacity = capacity;
	o.max_payload = max_payload;
	o.user_header_size = uh;
	o.history = history;
	o.max_subscribers = max_subs;
	o.max_publishers = max_pubs;
	o.max_loans = max_loans;
	o.flags = (timestamp ? SHOAL_PUB_TIMESTAMP : 0) |
		  (trusted ? SHOAL_PUB_TRUSTED_SUBSCRIBERS : 0);
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.origin = origin;
	o.registry = self->reg;
	o.send_timeout_ns = shoalpy_slice_timeout(self, user_ns);
	ts = PyEval_SaveThread();
	err = shoal_pub_create(name, &o, &pub);
	PyEval_RestoreThread(ts);
	if (err) {
		shoalpy_handle_end(self);
		return shoalpy_raise_int(err);
	}
	self->h = pub;
	self->max_payload = o.npools ? pool[o.npools - 1].size : max_payload;
	self->uh_size = uh;
	return 0;
}

struct hwrite_ctx {
	struct shoal_pub *pub;
	const void *data, *uh;
	uint32_t len;
};

static int hwrite_op(void *ctx, int64_t slice)
{
	struct hwrite_ctx *c = ctx;

	(void)slice;
	return shoal_pub_write(c->pub, c->data, c->len, c->uh);
}

/* send(data, header=None, length=None): the common send, plus a user
 * header for a copied message. */
static PyObject *pub_send(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "data", "header", "length", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	PyObject *data, *header = Py_None, *length = Py_None;
	struct hwrite_ctx c;
	Py_buffer b, hb;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO", kwlist, &data,
					 &header, &length))
		return NULL;
	if (header == Py_None) {
		PyObject *a = Py_BuildValue("(OO)", data, length), *r;

		if (!a)
			return NULL;
		r = shoalpy_h_send(self, a, NULL);
		Py_DECREF(a);
		return r;
	}
	if (Py_TYPE(data) == &shoalpy_LoanType) {
		PyErr_SetString(PyExc_ValueError,
				"a loan's header is written in place "
				"(loan.header), not passed to send()");
		return NULL;
	}
	if (shoalpy_enter(h) || PyObject_GetBuffer(header, &hb, PyBUF_SIMPLE))
		return NULL;
	if ((size_t)hb.len != h->uh_size) {
		PyErr_Format(PyExc_ValueError,
			     "header must be %u bytes (the user_header_size), "
			     "not %zd",
			     h->uh_size, hb.len);
		PyBuffer_Release(&hb);
		return NULL;
	}
	if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE)) {
		PyBuffer_Release(&hb);
		return NULL;
	}
	c.pub = h->h;
	c.data = b.buf;
	c.len = (uint32_t)b.len;
	c.uh = hb.buf;
	err = (size_t)b.len > UINT32_MAX ? -EMSGSIZE : 0;
	if (!err) {
		h->busy = 1;
		err = shoalpy_wait(hwrite_op, &c, h->send_timeout_ns);
		h->busy = 0;
	}
	PyBuffer_Release(&b);
	PyBuffer_Release(&hb);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

static PyObject *pub_subscribers(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromUnsignedLong(shoal_pub_subscribers(h->h));
}

struct subs_ctx {
	struct shoal_pub *pub;
	uint32_t n;
};

static int subs_op(void *ctx, int64_t slice)
{
	struct subs_ctx *c = ctx;

	return shoal_pub_wait_subscribers(c->pub, c->n, slice);
}

static PyObject *pub_wait_subscribers(PyObject *self, PyObject *args,
				      PyObject *kw)
{
	static char *kwlist[] = { "n", "timeout", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	PyObject *timeout = Py_None;
	struct subs_ctx c;
	unsigned int n = 1;
	int64_t t;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|IO", kwlist, &n, &timeout))
		return NULL;
	if (shoalpy_timeout_ns(timeout, &t) || shoalpy_enter(h))
		return NULL;
	c.pub = h->h;
	c.n = n;
	h->busy = 1;
	err = shoalpy_wait(subs_op, &c, t);
	h->busy = 0;
	if (err == -ETIMEDOUT || err == -EAGAIN)
		Py_RETURN_FALSE;
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_TRUE;
}

static PyObject *pub_stats(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	struct shoal_pub_stats s;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	shoal_pub_get_stats(h->h, &s);
	return Py_BuildValue("{sKsKsKsKsKsI}", "sent",
			     (unsigned long long)s.sent, "blocked",
			     (unsigned long long)s.blocked, "failed",
			     (unsigned long long)s.failed, "wakeups",
			     (unsigned long long)s.wakeups, "evicted",
			     (unsigned long long)s.evicted, "subscribers",
			     s.subscribers);
}

static PyObject *pub_epoch(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromUnsignedLongLong(shoal_pub_epoch(h->h));
}

static PyMethodDef pub_methods[] = {
	{ "send", (PyCFunction)(void (*)(void))pub_send,
	  METH_VARARGS | METH_KEYWORDS,
	  "send(data, header=None, length=None)\n\n"
	  "Publish @data: a bytes-like object (copied into the next slot,\n"
	  "with @header, user_header_size bytes), or a Loan of this\n"
	  "publisher (published in place, @length bytes, default its\n"
	  "length). Reliable delivery waits for room up to send_timeout and\n"
	  "raises shoal.Error(EAGAIN) after it." },
	SHOALPY_M_LOAN,
	{ "subscribers", (PyCFunction)pub_subscribers, METH_NOARGS,
	  "subscribers() -> int: live subscribers, counted now." },
	{ "wait_subscribers", (PyCFunction)(void (*)(void))pub_wait_subscribers,
	  METH_VARARGS | METH_KEYWORDS,
	  "wait_subscribers(n=1, timeout=None) -> bool\n\n"
	  "Wait, asleep, until at least @n subscribers are attached: True,\n"
	  "or False when @timeout seconds passed first." },
	{ "stats", (PyCFunction)pub_stats, METH_NOARGS,
	  "stats() -> dict: sent, blocked, failed, wakeups, evicted,\n"
	  "subscribers (as last counted by a send). 'failed' also counts\n"
	  "each 0.1 s slice of a send that found no room: Python's waits are\n"
	  "cut in slices so that signals are seen." },
	{ "close", (PyCFunction)shoalpy_h_close, METH_NOARGS,
	  "close(): withdraw the service. Subscribers get what was sent, then\n"
	  "EPIPE. With Loans still alive, the memory stays mapped until the\n"
	  "last one goes." },
	{ "__enter__", shoalpy_h_enter, METH_NOARGS, NULL },
	{ "__exit__", shoalpy_h_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef pub_getset[] = {
	{ "epoch", (getter)pub_epoch, NULL,
	  "This publisher's incarnation of the name.", NULL },
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject PublisherType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Publisher",
	.tp_basicsize = sizeof(shoalpy_handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Publisher(name, *, delivery='reliable', capacity=1024, "
		  "max_payload=4096, user_header_size=0, history=0, "
		  "max_subscribers=64, send_timeout=None, timestamp=False, "
		  "access='owner', type_name=None, type_size=0, type_align=0, "
		  "registry=None, max_publishers=1, max_loans=1, "
		  "pools=None, origin=None)\n\n"
		  "Publish a service under @name for any number of "
		  "subscribers in other processes; with max_publishers > 1, "
		  "join it as one of up to that many publishers. pools, a "
		  "list of (size, count) pairs with sizes increasing, gives "
		  "the service payload pools: each message takes a chunk of "
		  "the smallest size that holds it (max_payload is then the "
		  "largest size). See docs/pubsub.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)pub_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_methods = pub_methods,
	.tp_getset = pub_getset,
};

/* ---------------------------------------------------------------------- */
/* Subscriber */

struct open_ctx {
	const char *name;
	struct shoal_sub_options *o;
	struct shoal_sub *sub;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	c->o->timeout_ns = slice;
	return shoal_sub_open(c->name, c->o, &c->sub);
}

static int sub_init(shoalpy_handle *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",      "timeout",    "history",
				  "reattach",  "strategy",   "type_name",
				  "type_size", "type_align", "registry",
				  "max_held",  NULL };
	struct shoal_sub_options o;
	struct open_ctx c;
	const char *name, *type_name = NULL;
	PyObject *timeout = NULL, *strategy = NULL, *registry = Py_None;
	unsigned int history = 0, tsize = 0, talign = 0;
	/* Two by default, not C's one: `a = sub.take_array()` takes the
	 * next message before the previous array is let go. */
	unsigned int max_held = 2;
	int reattach = 0, st, err;
	int64_t t = 0;

	if (self->h || self->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_sub_options_init(&o);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$OIpOzIIOI", kwlist,
					 &name, &timeout, &history, &reattach,
					 &strategy, &type_name, &tsize, &talign,
					 &registry, &max_held))
		return -1;
	st = o.strategy;
	/* timeout: how long to wait for the service to appear; absent is 0
	 * (fail at once), None forever. */
	if ((timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_strategy(strategy, &st) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	self->ops = &sub_ops;
	o.strategy = (enum shoal_wait_strategy)st;
	o.history = history;
	o.max_held = max_held;
	o.flags = reattach ? SHOAL_SUB_REATTACH : 0;
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.registry = self->reg;
	c.name = name;
	c.o = &o;
	c.sub = NULL;
	/* Waiting for the service goes in slices, so Ctrl-C is seen; a
	 * slice's -ETIMEDOUT means "not there yet". */
	err = shoalpy_open(open_op, &c, t);
	if (err) {
		shoalpy_handle_end(self);
		return shoalpy_raise_int(err);
	}
	self->h = c.sub;
	return 0;
}

static PyObject *sub_stats(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	struct shoal_sub_stats s;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	shoal_sub_get_stats(h->h, &s);
	return Py_BuildValue("{sKsKsKsKsKsK}", "received",
			     (unsigned long long)s.received, "lost",
			     (unsigned long long)s.lost, "stale",
			     (unsigned long long)s.stale, "sleeps",
			     (unsigned long long)s.sleeps, "reattached",
			     (unsigned long long)s.reattached, "epoch",
			     (unsigned long long)s.epoch);
}

static PyObject *sub_epoch(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromUnsignedLongLong(shoal_sub_epoch(h->h));
}

static PyObject *sub_connected(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	if (shoalpy_enter(h))
		return NULL;
	return PyBool_FromLong(shoal_sub_connected(h->h));
}

static PyMethodDef sub_methods[] = {
	SHOALPY_M_TAKE,
	{ "stats", (PyCFunction)sub_stats, METH_NOARGS,
	  "stats() -> dict: received, lost, stale, sleeps, reattached, "
	  "epoch." },
	SHOALPY_M_COMMON,
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef sub_getset[] = {
	{ "epoch", (getter)sub_epoch, NULL,
	  "The publisher incarnation attached to (0: none).", NULL },
	{ "connected", (getter)sub_connected, NULL,
	  "True while attached to a live publisher.", NULL },
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject SubscriberType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Subscriber",
	.tp_basicsize = sizeof(shoalpy_handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc =
		"Subscriber(name, *, timeout=0, history=0, reattach=False, "
		"strategy='adaptive', type_name=None, type_size=0, "
		"type_align=0, registry=None, max_held=2)\n\n"
		"Join the publisher(s) of @name, holding up to @max_held "
		"messages at once (released in any order), waiting up to @timeout seconds "
		"for it to appear (None: forever). Iterating yields "
		"messages until the publisher is gone; each is released "
		"when the next is asked for (or when its last view goes).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)sub_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = shoalpy_h_iternext,
	.tp_methods = sub_methods,
	.tp_getset = sub_getset,
};

int shoalpy_pubsub_init(PyObject *module)
{
	if (PyType_Ready(&PublisherType) || PyType_Ready(&SubscriberType) ||
	    PyModule_AddObjectRef(module, "Publisher",
				  (PyObject *)&PublisherType) ||
	    PyModule_AddObjectRef(module, "Subscriber",
				  (PyObject *)&SubscriberType))
		return -1;
	return 0;
}
