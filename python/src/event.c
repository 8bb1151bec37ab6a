/* SPDX-License-Identifier: MIT */
/*
 * Events: numbered signals without payload (docs/event.md). Events(name,
 * create=True) creates the service; otherwise it is opened. notify(id)
 * signals; listen(ids) then wait() receives.
 */
#include <errno.h>

#include "handle.h"

static int ev_fd(const void *h)
{
	return shoal_event_fd(h);
}
static int ev_arm(void *h)
{
	return shoal_event_arm(h);
}
static void ev_disarm(void *h)
{
	shoal_event_disarm(h);
}
static void ev_destroy(void *h)
{
	shoal_event_destroy(h);
}
static void ev_close(void *h)
{
	shoal_event_close(h);
}

static const struct shoalpy_ops owner_ops = {
	.what = "event service",
	.fd = ev_fd,
	.arm = ev_arm,
	.disarm = ev_disarm,
	.end = ev_destroy,
};
static const struct shoalpy_ops peer_ops = {
	.what = "event service",
	.fd = ev_fd,
	.arm = ev_arm,
	.disarm = ev_disarm,
	.end = ev_close,
};

struct open_ctx {
	const char *name;
	int create;
	struct shoal_event_options *o;
	struct shoal_event *ev;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	if (c->create)
		return shoal_event_create(c->name, c->o, &c->ev);
	c->o->timeout_ns = slice;
	return shoal_event_open(c->name, c->o, &c->ev);
}

static int events_init(shoalpy_handle *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {
		"name",	    "create",	 "ids",	    "max_listeners", "access",
		"strategy", "type_name", "timeout", "registry",	     NULL
	};
	struct shoal_event_options o;
	struct open_ctx c;
	const char *name, *type_name = NULL;
	PyObject *access = NULL, *strategy = NULL, *timeout = NULL;
	PyObject *registry = Py_None;
	unsigned int ids, max_listeners;
	int create = 0, a, st, err;
	int64_t t = 0;

	if (self->h || self->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_event_options_init(&o);
	ids = o.ids;
	max_listeners = o.max_listeners;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$pIIOOzOO", kwlist, &name,
					 &create, &ids, &max_listeners, &access,
					 &strategy, &type_name, &timeout,
					 &registry))
		return -1;
	a = (int)o.access;
	st = o.strategy;
	if (shoalpy_access(access, &a) || shoalpy_strategy(strategy, &st) ||
	    (timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	self->ops = create ? &owner_ops : &peer_ops;
	o.ids = ids;
	o.max_listeners = max_listeners;
	o.access = (uint32_t)a;
	o.strategy = (enum shoal_wait_strategy)st;
	o.type_name = type_name;
	o.registry = self->reg;
	c.name = name;
	c.o = &o;
	c.ev = NULL;
	c.create = create;
	err = shoalpy_open(open_op, &c, create ? 0 : t);
	if (err) {
		shoalpy_handle_end(self);
		return shoalpy_raise_int(err);
	}
	self->h = c.ev;
	return 0;
}

/* An iterable of ids into @set. 0, or -1 raised. */
static int id_set(shoalpy_handle *h, PyObject *ids, struct shoal_event_set *set)
{
	uint32_t n = shoal_event_ids(h->h);
	PyObject *it, *item;

	shoal_event_set_clear(set);
	if (PyLong_Check(ids)) {
		long id = PyLong_AsLong(ids);

		if (id < 0 || (unsigned long)id >= n) {
			PyErr_Format(PyExc_ValueError,
				     "event id %ld is not in 0..%u", id, n - 1);
			return -1;
		}
		shoal_event_set_add(set, (uint32_t)id);
		return 0;
	}
	it = PyObject_GetIter(ids);
	if (!it)
		return -1;
	while ((item = PyIter_Next(it))) {
		long id = PyLong_AsLong(item);

		Py_DECREF(item);
		if (id == -1 && PyErr_Occurred())
			break;
		if (id < 0 || (unsigned long)id >= n) {
			PyErr_Format(PyExc_ValueError,
				     "event id %ld is not in 0..%u", id, n - 1);
			break;
		}
		shoal_event_set_add(set, (uint32_t)id);
	}
	Py_DECREF(it);
	return PyErr_Occurred() ? -1 : 0;
}

static PyObject *ev_notify(PyObject *self, PyObject *arg)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	long id;
	int r;

	if (shoalpy_enter(h))
		return NULL;
	id = PyLong_AsLong(arg);
	if (id == -1 && PyErr_Occurred())
		return NULL;
	if (id < 0 || id > (long)UINT32_MAX) {
		PyErr_Format(PyExc_ValueError, "event id %ld out of range", id);
		return NULL;
	}
	r = shoal_event_notify(h->h, (uint32_t)id);
	if (r < 0)
		return shoalpy_raise(r);
	return PyLong_FromLong(r);
}

static PyObject *ev_listen(PyObject *self, PyObject *ids)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	struct shoal_event_set set;
	int err;

	if (shoalpy_enter(h) || id_set(h, ids, &set))
		return NULL;
	err = shoal_event_listen(h->h, &set);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

struct wait_ctx {
	struct shoal_event *ev;
	const struct shoal_event_set *set;
	struct shoal_event_set fired;
};

static int wait_op(void *ctx, int64_t slice)
{
	struct wait_ctx *c = ctx;
	int r = shoal_event_wait(c->ev, c->set, slice, &c->fired);

	return r > 0 ? 0 : r;
}

/* The ids of @set as a sorted list. */
static PyObject *id_list(const struct shoal_event_set *set)
{
	PyObject *l = PyList_New(0);

	for (int id = shoal_event_set_next(set, 0); l && id >= 0;
	     id = shoal_event_set_next(set, (uint32_t)id + 1)) {
		PyObject *v = PyLong_FromLong(id);

		if (!v || PyList_Append(l, v))
			Py_CLEAR(l);
		Py_XDECREF(v);
	}
	return l;
}

static PyObject *do_wait(shoalpy_handle *h, PyObject *ids, int64_t t)
{
	struct shoal_event_set set;
	struct wait_ctx c;
	int err;

	if (shoalpy_enter(h))
		return NULL;
	if (ids && ids != Py_None && id_set(h, ids, &set))
		return NULL;
	c.ev = h->h;
	c.set = ids && ids != Py_None ? &set : NULL;
	shoal_event_set_clear(&c.fired);
	h->busy = 1;
	err = shoalpy_wait(wait_op, &c, t);
	h->busy = 0;
	if (err == -ETIMEDOUT || err == -EAGAIN)
		return PyList_New(0);
	if (err)
		return shoalpy_raise(err);
	return id_list(&c.fired);
}

static PyObject *ev_wait(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout", "ids", NULL };
	PyObject *timeout = Py_None, *ids = Py_None;
	int64_t t;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO", kwlist, &timeout,
					 &ids) ||
	    shoalpy_timeout_ns(timeout, &t))
		return NULL;
	return do_wait((shoalpy_handle *)self, ids, t);
}

/* for ids in events: each wait's ids, until the creator is gone. */
static PyObject *ev_iternext(PyObject *self)
{
	PyObject *r = do_wait((shoalpy_handle *)self, NULL, -1);

	if (!r)
		shoalpy_clear_epipe(); /* EPIPE ends the iteration */
	return r;
}

static PyObject *ev_ids(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromUnsignedLong(shoal_event_ids(h->h));
}

static PyObject *ev_epoch(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromUnsignedLongLong(shoal_event_epoch(h->h));
}

static PyMethodDef ev_methods[] = {
	{ "notify", ev_notify, METH_O,
	  "notify(id) -> int: signal @id to every listener interested in it "
	  "(how many listener lines were signalled). Never blocks." },
	{ "listen", ev_listen, METH_O,
	  "listen(ids): become a listener (first call) for @ids (an int or "
	  "an iterable of ints), replacing the previous interest." },
	{ "wait", (PyCFunction)(void (*)(void))ev_wait,
	  METH_VARARGS | METH_KEYWORDS,
	  "wait(timeout=None, ids=None) -> list[int]: wait until an id of "
	  "@ids (default: the interest) is pending and take all pending "
	  "ones of it; [] when nothing came in time. shoal.Error(EPIPE) once "
	  "the creator is gone." },
	SHOALPY_M_COMMON,
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef ev_getset[] = {
	{ "ids", (getter)ev_ids, NULL, "The service's number of ids.", NULL },
	{ "epoch", (getter)ev_epoch, NULL,
	  "The creator's incarnation of the name.", NULL },
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject EventsType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Events",
	.tp_basicsize = sizeof(shoalpy_handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Events(name, *, create=False, ids=256, max_listeners=64, "
		  "access='owner', strategy='adaptive', type_name=None, "
		  "timeout=0, registry=None)\n\n"
		  "An event service: numbered signals without payload. "
		  "create=True creates it; otherwise it is opened, waiting up "
		  "to @timeout seconds for it to appear. Any handle can "
		  "notify(id); listen(ids) then wait() (or iterate) receives. "
		  "See docs/event.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)events_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = ev_iternext,
	.tp_methods = ev_methods,
	.tp_getset = ev_getset,
};

int shoalpy_event_init(PyObject *module)
{
	if (PyType_Ready(&EventsType) ||
	    PyModule_AddObjectRef(module, "Events", (PyObject *)&EventsType))
		return -1;
	return 0;
}
