/* SPDX-License-Identifier: MIT */
/*
 * Channel: a one-way stream between two processes (docs/channel.md), on
 * the common handle. Channel(name, create=True, role='send') creates it
 * and takes a role; Channel(name) opens it and takes the other one.
 * Anonymous form: Channel(None, create=True) publishes no name; its fds()
 * go to the other process (fork, pass_fds, SCM_RIGHTS), which opens it
 * with Channel(None, fds=(memfd, data_eventfd, space_eventfd)).
 */
#include <errno.h>
#include <string.h>

#include "handle.h"

static int ch_loan(void *h, uint32_t size, void **ptr)
{
	return shoal_channel_loan(h, size, ptr);
}
static int ch_send(void *h, void *ptr, uint32_t len)
{
	return shoal_channel_send(h, ptr, len);
}
static int ch_abort(void *h, void *ptr)
{
	return shoal_channel_abort(h, ptr);
}
static int ch_write(void *h, const void *data, uint32_t len)
{
	return shoal_channel_write(h, data, len);
}
static int ch_take(void *h, struct shoalpy_taken *t, int64_t timeout)
{
	return shoal_channel_take(h, &t->msg, timeout);
}
static int ch_release(void *h, struct shoalpy_taken *t)
{
	return shoal_channel_release(h, &t->msg);
}
static int ch_fd(const void *h)
{
	return shoal_channel_fd(h);
}
static int ch_arm(void *h)
{
	return shoal_channel_arm(h);
}
static void ch_disarm(void *h)
{
	shoal_channel_disarm(h);
}
static void ch_destroy(void *h)
{
	shoal_channel_destroy(h);
}
static void ch_close(void *h)
{
	shoal_channel_close(h);
}

#define CHANNEL_OPS(name, end_fn)                \
	static const struct shoalpy_ops name = { \
		.what = "channel",               \
		.loan = ch_loan,                 \
		.send = ch_send,                 \
		.abort = ch_abort,               \
		.write = ch_write,               \
		.take = ch_take,                 \
		.release = ch_release,           \
		.fd = ch_fd,                     \
		.arm = ch_arm,                   \
		.disarm = ch_disarm,             \
		.end = end_fn,                   \
	}
CHANNEL_OPS(owner_ops, ch_destroy);
CHANNEL_OPS(peer_ops, ch_close);

static const char *const role_names[] = { "send", "recv", NULL };
static const int role_values[] = { SHOAL_CHANNEL_SEND, SHOAL_CHANNEL_RECV };

struct open_ctx {
	const char *name;
	int create;
	int from_fds;
	struct shoal_channel_fds fds;
	struct shoal_channel_options *o;
	struct shoal_channel *ch;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	if (c->from_fds)
		return shoal_channel_open_fds(&c->fds, c->o, &c->ch);
	if (c->create)
		return shoal_channel_create(c->name, c->o, &c->ch);
	c->o->timeout_ns = slice;
	return shoal_channel_open(c->name, c->o, &c->ch);
}

static int channel_init(shoalpy_handle *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {
		"name",	   "create",   "capacity",  "slot_size",
		"role",	   "access",   "strategy",  "send_timeout",
		"timeout", "registry", "max_loans", "max_held",
		"fds",	   NULL
	};
	struct shoal_channel_options o;
	struct open_ctx c;
	const char *name;
	PyObject *role = NULL, *access = NULL, *strategy = NULL;
	PyObject *send_timeout = Py_None, *timeout = NULL, *registry = Py_None;
	PyObject *fds = Py_None;
	unsigned int capacity, slot_size, max_loans = 1, max_held = 1;
	int create = 0, r, a, st, err;
	int64_t user_ns, t = 0;

	if (self->h || self->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_channel_options_init(&o);
	capacity = o.capacity;
	slot_size = o.slot_size;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "z|$pIIOOOOOOIIO", kwlist,
					 &name, &create, &capacity, &slot_size,
					 &role, &access, &strategy,
					 &send_timeout, &timeout, &registry,
					 &max_loans, &max_held, &fds))
		return -1;
	memset(&c, 0, sizeof(c));
	if (fds != Py_None) {
		if (name || create) {
			PyErr_SetString(PyExc_ValueError,
					"fds= opens an anonymous channel: no "
					"name, no create");
			return -1;
		}
		if (!PyArg_ParseTuple(fds,
				      "iii;fds: (memfd, data_eventfd, "
				      "space_eventfd)",
				      &c.fds.memfd, &c.fds.data_eventfd,
				      &c.fds.space_eventfd))
			return -1;
		c.from_fds = 1;
	} else if (!name && !create) {
		PyErr_SetString(PyExc_ValueError,
				"a channel without a name is anonymous: "
				"create=True, or fds= to open one");
		return -1;
	}
	r = (int)o.role;
	a = (int)o.access;
	st = o.strategy;
	if (shoalpy_choice(role, "role", role_names, role_values, &r) ||
	    shoalpy_access(access, &a) || shoalpy_strategy(strategy, &st) ||
	    shoalpy_timeout_ns(send_timeout, &user_ns) ||
	    (timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	if (role && !create) {
		PyErr_SetString(PyExc_ValueError,
				"role is the creator's choice: an opener "
				"takes the other one");
		shoalpy_handle_end(self);
		return -1;
	}
	self->ops = create ? &owner_ops : &peer_ops;
	o.capacity = capacity;
	o.slot_size = slot_size;
	o.role = (enum shoal_channel_role)r;
	o.access = (uint32_t)a;
	o.strategy = (enum shoal_wait_strategy)st;
	o.send_timeout_ns = shoalpy_slice_timeout(self, user_ns);
	o.registry = self->reg;
	o.max_loans = max_loans;
	o.max_held = max_held;
	c.name = name;
	c.o = &o;
	c.ch = NULL;
	c.create = create;
	/* Only a named open waits (for the name to appear). */
	err = shoalpy_open(open_op, &c, create || c.from_fds ? 0 : t);
	if (err) {
		shoalpy_handle_end(self);
		return shoalpy_raise_int(err);
	}
	self->h = c.ch;
	{
		struct shoal_channel_stats s;

		shoal_channel_get_stats(c.ch, &s);
		self->max_payload = s.slot_size;
	}
	return 0;
}

static PyObject *channel_stats(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	struct shoal_channel_stats s;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	shoal_channel_get_stats(h->h, &s);
	return Py_BuildValue("{sssOsKsKsKsIsI}", "role",
			     s.role == SHOAL_CHANNEL_SEND ? "send" : "recv",
			     "peer", s.peer ? Py_True : Py_False, "messages",
			     (unsigned long long)s.messages, "wakeups",
			     (unsigned long long)s.wakeups, "sleeps",
			     (unsigned long long)s.sleeps, "capacity",
			     s.capacity, "slot_size", s.slot_size);
}

static PyObject *channel_fds(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	struct shoal_channel_fds f;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	shoal_channel_get_fds(h->h, &f);
	return Py_BuildValue("(iii)", f.memfd, f.data_eventfd, f.space_eventfd);
}

static PyMethodDef channel_methods[] = {
	SHOALPY_M_SEND,
	SHOALPY_M_LOAN,
	SHOALPY_M_TAKE,
	{ "stats", (PyCFunction)channel_stats, METH_NOARGS,
	  "stats() -> dict: role, peer, messages, wakeups, sleeps, capacity, "
	  "slot_size." },
	{ "fds", channel_fds, METH_NOARGS,
	  "fds() -> (memfd, data_eventfd, space_eventfd): the descriptors of\n"
	  "the anonymous form, still owned by this handle (valid while it is\n"
	  "open). Hand them to the other process (fork, subprocess pass_fds,\n"
	  "socket.send_fds), which opens the channel with\n"
	  "Channel(None, fds=...) and takes the other role." },
	SHOALPY_M_COMMON,
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef channel_getset[] = {
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ChannelType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Channel",
	.tp_basicsize = sizeof(shoalpy_handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Channel(name, *, create=False, capacity=1024, "
		  "slot_size=1024, role='send', access='owner', "
		  "strategy='adaptive', send_timeout=None, timeout=0, "
		  "registry=None, max_loans=1, max_held=1, fds=None)\n\n"
		  "A one-way stream between two processes. create=True "
		  "creates it and takes @role ('send' or 'recv'); otherwise "
		  "it is opened (waiting up to @timeout seconds) with the "
		  "other role. Anonymous form: name None with create=True "
		  "publishes no name; the other process opens it from the "
		  "creator's fds(): Channel(None, fds=(memfd, data_eventfd, "
		  "space_eventfd)) (the fds are duplicated). "
		  "The sender send()s or loan()s, the receiver "
		  "take()s or iterates; when either side leaves, the other "
		  "gets EPIPE (a receiver after draining). See "
		  "docs/channel.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)channel_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = shoalpy_h_iternext,
	.tp_methods = channel_methods,
	.tp_getset = channel_getset,
};

int shoalpy_channel_init(PyObject *module)
{
	if (PyType_Ready(&ChannelType) ||
	    PyModule_AddObjectRef(module, "Channel", (PyObject *)&ChannelType))
		return -1;
	return 0;
}
