/* SPDX-License-Identifier: MIT */
/*
 * Discovery from Python: list() of the live services, and Watch, the
 * services appearing and disappearing as they do.
 */
#include <errno.h>
#include <poll.h>

#include "shoalpy.h"

static const char *pattern_name(uint32_t p)
{
	switch (p) {
	case SHOAL_PATTERN_CHANNEL:
		return "channel";
	case SHOAL_PATTERN_PUBSUB:
		return "pubsub";
	case SHOAL_PATTERN_QUEUE:
		return "queue";
	case SHOAL_PATTERN_RPC:
		return "rpc";
	case SHOAL_PATTERN_EVENT:
		return "event";
	case SHOAL_PATTERN_STORE:
		return "store";
	default:
		return "unknown";
	}
}

static const char *access_name(uint32_t a)
{
	switch (a) {
	case SHOAL_ACCESS_OWNER:
		return "owner";
	case SHOAL_ACCESS_GROUP:
		return "group";
	case SHOAL_ACCESS_ANYONE:
		return "anyone";
	default:
		return "unknown";
	}
}

/* A dict of what the registry says of a service. */
static PyObject *info_dict(const struct shoal_service_info *i)
{
	return Py_BuildValue("{sssssssisIsKsKsIsIsLss}", "name", i->name,
			     "pattern", pattern_name(i->pattern), "access",
			     access_name(i->access), "pid", (int)i->pid, "uid",
			     (unsigned int)i->uid, "epoch",
			     (unsigned long long)i->epoch, "memfd_size",
			     (unsigned long long)i->memfd_size, "type_size",
			     (unsigned int)i->type_size, "type_align",
			     (unsigned int)i->type_align, "created_ns",
			     (long long)i->created_ns, "origin", i->origin);
}

struct list_ctx {
	PyObject *list;
	int failed;
};

static int add_one(const struct shoal_service_info *info, void *user)
{
	struct list_ctx *c = user;
	PyObject *d = info_dict(info);

	if (d && *info->type_name) {
		PyObject *t = PyUnicode_FromString(info->type_name);

		if (!t || PyDict_SetItemString(d, "type_name", t))
			Py_CLEAR(d);
		Py_XDECREF(t);
	} else if (d && PyDict_SetItemString(d, "type_name", Py_None)) {
		Py_CLEAR(d);
	}
	if (!d || PyList_Append(c->list, d)) {
		Py_XDECREF(d);
		c->failed = 1;
		return 1; /* stop */
	}
	Py_DECREF(d);
	return 0;
}

static PyObject *list_services(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "registry", NULL };
	PyObject *registry = Py_None;
	struct shoal_registry *reg = NULL;
	struct list_ctx c = { NULL, 0 };
	int n;

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O", kwlist, &registry))
		return NULL;
	if (registry == Py_None) {
		struct shoal_registry_options o;

		shoal_registry_options_init(&o);
		n = shoal_registry_create(&o, &reg);
		if (n)
			return shoalpy_raise(n);
	} else if (shoalpy_registry(registry, &reg)) {
		return NULL;
	}
	c.list = PyList_New(0);
	if (!c.list) {
		shoal_registry_destroy(reg);
		return NULL;
	}
	n = shoal_registry_list(reg, add_one, &c);
	shoal_registry_destroy(reg);
	if (c.failed) {
		Py_DECREF(c.list);
		return NULL;
	}
	if (n < 0) {
		Py_DECREF(c.list);
		return shoalpy_raise(n);
	}
	return c.list;
}

/* Watch */

typedef struct {
	PyObject_HEAD struct shoal_registry *reg;
	struct shoal_watch *w;
	int busy;
} WatchObject;

static int watch_init(WatchObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "registry", NULL };
	PyObject *registry = Py_None;
	int err;

	if (self->w) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O", kwlist, &registry))
		return -1;
	if (registry == Py_None) {
		struct shoal_registry_options o;

		shoal_registry_options_init(&o);
		err = shoal_registry_create(&o, &self->reg);
		if (err)
			return shoalpy_raise_int(err);
	} else if (shoalpy_registry(registry, &self->reg)) {
		return -1;
	}
	err = shoal_registry_watch(self->reg, &self->w);
	if (err) {
		shoal_registry_destroy(self->reg);
		self->reg = NULL;
		return shoalpy_raise_int(err);
	}
	return 0;
}

static void watch_destroy(WatchObject *self)
{
	shoal_watch_close(self->w);
	self->w = NULL;
	shoal_registry_destroy(self->reg);
	self->reg = NULL;
}

static void watch_dealloc(WatchObject *self)
{
	watch_destroy(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

struct next_ctx {
	struct shoal_watch *w;
	struct shoal_watch_event ev;
};

/* One event now, or a wait of up to @slice on the watch's fd. */
static int next_op(void *ctx, int64_t slice)
{
	struct next_ctx *c = ctx;
	struct pollfd p;
	int r = shoal_watch_next(c->w, &c->ev);

	if (r != 0)
		return r; /* 1: an event, or -errno */
	if (slice == 0)
		return -EAGAIN;
	p.fd = shoal_watch_fd(c->w);
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, (int)(slice / 1000000) ? (int)(slice / 1000000) : 1) <
		    0 &&
	    errno != EINTR)
		return -errno;
	r = shoal_watch_next(c->w, &c->ev);
	return r == 0 ? -ETIMEDOUT : r;
}

static PyObject *watch_next(WatchObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None, *d;
	struct next_ctx c;
	int64_t t;
	int r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout) ||
	    shoalpy_timeout_ns(timeout, &t))
		return NULL;
	if (!self->w) {
		PyErr_SetString(PyExc_ValueError, "the watch is closed");
		return NULL;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the watch is in use by another thread");
		return NULL;
	}
	c.w = self->w;
	self->busy = 1;
	r = shoalpy_wait(next_op, &c, t);
	self->busy = 0;
	if (r == -ETIMEDOUT || r == -EAGAIN)
		Py_RETURN_NONE;
	if (r < 0)
		return shoalpy_raise(r);
	d = info_dict(&c.ev.info);
	if (!d)
		return NULL;
	return Py_BuildValue(
		"(sN)", c.ev.type == SHOAL_WATCH_APPEARED ? "appeared" : "gone",
		d);
}

static PyObject *watch_iternext(WatchObject *self)
{
	static PyObject *noargs;

	if (!noargs && !(noargs = PyTuple_New(0)))
		return NULL;
	/* Forever: iteration ends only by break or an exception. */
	return watch_next(self, noargs, NULL);
}

static PyObject *watch_fileno(WatchObject *self, PyObject *noargs)
{
	(void)noargs;
	if (!self->w) {
		PyErr_SetString(PyExc_ValueError, "the watch is closed");
		return NULL;
	}
	return PyLong_FromLong(shoal_watch_fd(self->w));
}

static PyObject *watch_close(WatchObject *self, PyObject *noargs)
{
	(void)noargs;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the watch is in use by another thread");
		return NULL;
	}
	watch_destroy(self);
	Py_RETURN_NONE;
}

static PyObject *watch_enter(PyObject *self, PyObject *noargs)
{
	(void)noargs;
	return Py_NewRef(self);
}

static PyObject *watch_exit(PyObject *self, PyObject *args)
{
	(void)args;
	return watch_close((WatchObject *)self, NULL);
}

static PyMethodDef watch_methods[] = {
	{ "next", (PyCFunction)(void (*)(void))watch_next,
	  METH_VARARGS | METH_KEYWORDS,
	  "next(timeout=None) -> (str, dict) | None\n\n"
	  "The next change: ('appeared', info) or ('gone', info), waiting up\n"
	  "to @timeout seconds (None: forever); None when nothing came. The\n"
	  "services present when the watch started come first, as\n"
	  "'appeared'. A service whose owner dies is 'gone' at once." },
	{ "fileno", (PyCFunction)watch_fileno, METH_NOARGS,
	  "fileno() -> int: readable when next() may have an event." },
	{ "close", (PyCFunction)watch_close, METH_NOARGS, "close()" },
	{ "__enter__", watch_enter, METH_NOARGS, NULL },
	{ "__exit__", watch_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject WatchType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Watch",
	.tp_basicsize = sizeof(WatchObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Watch(*, registry=None): services appearing and "
		  "disappearing. Iterate it, or call next(timeout).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)watch_init,
	.tp_dealloc = (destructor)watch_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)watch_iternext,
	.tp_methods = watch_methods,
};

static PyMethodDef registry_methods[] = {
	{ "list", (PyCFunction)(void (*)(void))list_services,
	  METH_VARARGS | METH_KEYWORDS,
	  "list(*, registry=None) -> list[dict]\n\n"
	  "The live services: name, pattern, access, pid, uid, epoch,\n"
	  "memfd_size, type_name, type_size, type_align, created_ns,\n"
	  "origin (where a stand-in such as a gateway's mirror comes\n"
	  "from; '' for a local service)." },
	{ NULL, NULL, 0, NULL },
};

int shoalpy_registry_init(PyObject *module)
{
	if (PyType_Ready(&WatchType) ||
	    PyModule_AddObjectRef(module, "Watch", (PyObject *)&WatchType) ||
	    PyModule_AddFunctions(module, registry_methods))
		return -1;
	return 0;
}
