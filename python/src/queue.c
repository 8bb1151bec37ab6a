/* SPDX-License-Identifier: MIT */
/*
 * Queue: each message to one consumer, on the common handle (handle.c).
 * Queue(name, create=True, ...) creates and announces it; without create
 * it opens an existing one (waiting up to timeout for it to appear).
 */
#include <errno.h>

#include "handle.h"

static int q_loan(void *h, uint32_t size, void **ptr)
{
	return shoal_queue_loan(h, size, ptr);
}
static int q_send(void *h, void *ptr, uint32_t len)
{
	return shoal_queue_send(h, ptr, len);
}
static int q_abort(void *h, void *ptr)
{
	return shoal_queue_abort(h, ptr);
}
static int q_write(void *h, const void *data, uint32_t len)
{
	return shoal_queue_write(h, data, len);
}
static int q_take(void *h, struct shoalpy_taken *t, int64_t timeout)
{
	return shoal_queue_take(h, &t->msg, timeout);
}
static int q_release(void *h, struct shoalpy_taken *t)
{
	return shoal_queue_release(h, &t->msg);
}
static int q_fd(const void *h)
{
	return shoal_queue_fd(h);
}
static void q_disarm(void *h)
{
	shoal_queue_disarm(h);
}

/* arm(): for a consumer, a message; for a producer only, room. */
typedef struct {
	shoalpy_handle base;
	uint32_t role;
	int created;
} QueueObject;

static int q_arm_consumer(void *h)
{
	return shoal_queue_arm(h, SHOAL_QUEUE_CONSUMER);
}
static int q_arm_producer(void *h)
{
	return shoal_queue_arm(h, SHOAL_QUEUE_PRODUCER);
}
static void q_destroy(void *h)
{
	shoal_queue_destroy(h);
}
static void q_close(void *h)
{
	shoal_queue_close(h);
}

#define QUEUE_OPS(name, arm_fn, end_fn)          \
	static const struct shoalpy_ops name = { \
		.what = "queue",                 \
		.loan = q_loan,                  \
		.send = q_send,                  \
		.abort = q_abort,                \
		.write = q_write,                \
		.take = q_take,                  \
		.release = q_release,            \
		.fd = q_fd,                      \
		.arm = arm_fn,                   \
		.disarm = q_disarm,              \
		.end = end_fn,                   \
	}
QUEUE_OPS(ops_owner_consumer, q_arm_consumer, q_destroy);
QUEUE_OPS(ops_owner_producer, q_arm_producer, q_destroy);
QUEUE_OPS(ops_peer_consumer, q_arm_consumer, q_close);
QUEUE_OPS(ops_peer_producer, q_arm_producer, q_close);

static const char *const role_names[] = { "both", "producer", "consumer",
					  NULL };
static const int role_values[] = { SHOAL_QUEUE_BOTH, SHOAL_QUEUE_PRODUCER,
				   SHOAL_QUEUE_CONSUMER };

struct open_ctx {
	const char *name;
	int create;
	struct shoal_queue_options *o;
	struct shoal_queue *q;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	if (c->create)
		return shoal_queue_create(c->name, c->o, &c->q);
	c->o->timeout_ns = slice;
	return shoal_queue_open(c->name, c->o, &c->q);
}

static int queue_init(QueueObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",
				  "create",
				  "capacity",
				  "max_message",
				  "max_participants",
				  "access",
				  "spsc",
				  "role",
				  "strategy",
				  "send_timeout",
				  "type_name",
				  "type_size",
				  "type_align",
				  "timeout",
				  "registry",
				  "max_loans",
				  "max_held",
				  NULL };
	shoalpy_handle *h = &self->base;
	struct shoal_queue_options o;
	struct open_ctx c;
	const char *name, *type_name = NULL;
	PyObject *access = NULL, *role = NULL, *strategy = NULL;
	PyObject *send_timeout = Py_None, *timeout = NULL, *registry = Py_None;
	unsigned int capacity, max_message, max_part, tsize = 0, talign = 0;
	unsigned int max_loans = 1, max_held = 1;
	int create = 0, spsc = 0, a, r, st, err;
	int64_t user_ns, t = 0;

	if (h->h || h->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_queue_options_init(&o);
	capacity = o.capacity;
	max_message = o.max_message;
	max_part = o.max_participants;
	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "s|$pIIIOpOOOzIIOOII", kwlist, &name, &create,
		    &capacity, &max_message, &max_part, &access, &spsc, &role,
		    &strategy, &send_timeout, &type_name, &tsize, &talign,
		    &timeout, &registry, &max_loans, &max_held))
		return -1;
	a = (int)o.access;
	r = (int)o.role;
	st = o.strategy;
	if (shoalpy_access(access, &a) ||
	    shoalpy_choice(role, "role", role_names, role_values, &r) ||
	    shoalpy_strategy(strategy, &st) ||
	    shoalpy_timeout_ns(send_timeout, &user_ns) ||
	    (timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_registry(registry, &h->reg))
		return -1;
	if (spsc && r == SHOAL_QUEUE_BOTH) {
		PyErr_SetString(PyExc_ValueError,
				"an spsc queue handle is role='producer' or "
				"role='consumer'");
		shoalpy_handle_end(h);
		return -1;
	}
	self->role = (uint32_t)r;
	self->created = create;
	if (create)
		h->ops = r == SHOAL_QUEUE_PRODUCER ? &ops_owner_producer :
						     &ops_owner_consumer;
	else
		h->ops = r == SHOAL_QUEUE_PRODUCER ? &ops_peer_producer :
						     &ops_peer_consumer;
	o.capacity = capacity;
	o.max_message = max_message;
	o.max_participants = max_part;
	o.access = (uint32_t)a;
	o.flags = spsc ? SHOAL_QUEUE_SPSC : 0;
	o.role = (uint32_t)r;
	o.strategy = (enum shoal_wait_strategy)st;
	o.send_timeout_ns = shoalpy_slice_timeout(h, user_ns);
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.registry = h->reg;
	o.max_loans = max_loans;
	o.max_held = max_held;
	c.name = name;
	c.o = &o;
	c.q = NULL;
	c.create = create;
	err = shoalpy_open(open_op, &c, create ? 0 : t);
	if (err) {
		shoalpy_handle_end(h);
		return shoalpy_raise_int(err);
	}
	h->h = c.q;
	{
		struct shoal_queue_stats s;

		shoal_queue_get_stats(c.q, &s);
		h->max_payload = s.max_message;
	}
	return 0;
}

static PyObject *queue_stats(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;
	struct shoal_queue_stats s;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	shoal_queue_get_stats(h->h, &s);
	return Py_BuildValue("{sKsKsKsKsIsIsIsIsOsKsKsKsKsK}", "enqueued",
			     (unsigned long long)s.enqueued, "dequeued",
			     (unsigned long long)s.dequeued, "skipped",
			     (unsigned long long)s.skipped, "abandoned",
			     (unsigned long long)s.abandoned, "capacity",
			     s.capacity, "max_message", s.max_message,
			     "max_participants", s.max_participants,
			     "participants", s.participants, "spsc",
			     s.spsc ? Py_True : Py_False, "pushed",
			     (unsigned long long)s.pushed, "popped",
			     (unsigned long long)s.popped, "sleeps",
			     (unsigned long long)s.sleeps, "wakeups",
			     (unsigned long long)s.wakeups, "recovered",
			     (unsigned long long)s.recovered);
}

static PyMethodDef queue_methods[] = {
	SHOALPY_M_SEND,
	SHOALPY_M_LOAN,
	SHOALPY_M_TAKE,
	{ "stats", (PyCFunction)queue_stats, METH_NOARGS,
	  "stats() -> dict: the queue's counters and geometry, and this "
	  "handle's." },
	SHOALPY_M_COMMON,
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef queue_getset[] = {
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject QueueType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Queue",
	.tp_basicsize = sizeof(QueueObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Queue(name, *, create=False, capacity=1024, "
		  "max_message=1024, max_participants=64, access='owner', "
		  "spsc=False, role='both', strategy='adaptive', "
		  "send_timeout=None, type_name=None, type_size=0, "
		  "type_align=0, timeout=0, registry=None, max_loans=1, "
		  "max_held=1)\n\n"
		  "A queue: every message goes to one consumer. create=True "
		  "creates and announces it (close() withdraws it; the others "
		  "drain it, then get EPIPE); otherwise it is opened, waiting "
		  "up to @timeout seconds for it to appear (None: forever). "
		  "Iterating takes messages until the creator is gone and the "
		  "queue is empty. See docs/queue.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)queue_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = shoalpy_h_iternext,
	.tp_methods = queue_methods,
	.tp_getset = queue_getset,
};

int shoalpy_queue_init(PyObject *module)
{
	if (PyType_Ready(&QueueType) ||
	    PyModule_AddObjectRef(module, "Queue", (PyObject *)&QueueType))
		return -1;
	return 0;
}
