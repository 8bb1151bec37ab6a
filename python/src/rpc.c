/* SPDX-License-Identifier: MIT */
/*
 * Request/response (docs/rpc.md): Server and Client on the common handle.
 * A request and a response are Messages (read-only buffers in shared
 * memory, released like any message) whose id is the correlation id; a
 * response also says more (more follow for the same request) and error.
 * Server.reply(request, data) answers (a copy into the client's response
 * ring); Server.loan_reply(request, size) gives a Loan in that ring to fill
 * in place and Server.send_reply(loan) sends it (zero copy); Client.send(data)
 * returns the id; Client.call() is in Python.
 */
#include <errno.h>
#include <string.h>

#include "handle.h"

/* Server */

static int srv_take(void *h, struct shoalpy_taken *t, int64_t timeout)
{
	int err = shoal_rpc_server_take(h, &t->raw.req, timeout);

	if (!err) {
		memset(&t->msg, 0, sizeof(t->msg));
		t->msg.data = t->raw.req.data;
		t->msg.len = t->raw.req.len;
		t->id = t->raw.req.id;
		t->flags = 0;
	}
	return err;
}
static int srv_release(void *h, struct shoalpy_taken *t)
{
	return shoal_rpc_server_release(h, &t->raw.req);
}
static int srv_fd(const void *h)
{
	return shoal_rpc_server_fd(h);
}
static int srv_arm(void *h)
{
	return shoal_rpc_server_arm(h);
}
static void srv_disarm(void *h)
{
	shoal_rpc_server_disarm(h);
}
static void srv_end(void *h)
{
	shoal_rpc_server_destroy(h);
}
static int srv_send_flags(void *h, void *ptr, uint32_t len, uint32_t flags)
{
	return shoal_rpc_server_send(h, ptr, len, flags);
}
static int srv_abort(void *h, void *ptr)
{
	return shoal_rpc_server_abort(h, ptr);
}

static const struct shoalpy_ops server_ops = {
	.what = "rpc server",
	.send_flags = srv_send_flags,
	.abort = srv_abort,
	.take = srv_take,
	.release = srv_release,
	.fd = srv_fd,
	.arm = srv_arm,
	.disarm = srv_disarm,
	.end = srv_end,
};

static int server_init(shoalpy_handle *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",
				  "max_clients",
				  "max_request",
				  "max_response",
				  "request_capacity",
				  "response_capacity",
				  "strategy",
				  "send_timeout",
				  "access",
				  "type_name",
				  "type_size",
				  "type_align",
				  "registry",
				  NULL };
	struct shoal_rpc_server_options o;
	struct shoal_rpc_server *srv = NULL;
	const char *name, *type_name = NULL;
	PyObject *strategy = NULL, *access = NULL, *send_timeout = NULL;
	PyObject *registry = Py_None;
	unsigned int max_clients, max_req, max_resp, req_cap, resp_cap;
	unsigned int tsize = 0, talign = 0;
	int st, a, err;
	int64_t user_ns;
	PyThreadState *ts;

	if (self->h || self->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_rpc_server_options_init(&o);
	max_clients = o.max_clients;
	max_req = o.max_request;
	max_resp = o.max_response;
	req_cap = o.request_capacity;
	resp_cap = o.response_capacity;
	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "s|$IIIIIOOOzIIO", kwlist, &name, &max_clients,
		    &max_req, &max_resp, &req_cap, &resp_cap, &strategy,
		    &send_timeout, &access, &type_name, &tsize, &talign,
		    &registry))
		return -1;
	st = o.strategy;
	a = (int)o.access;
	user_ns = o.send_timeout_ns;
	if (shoalpy_strategy(strategy, &st) || shoalpy_access(access, &a) ||
	    (send_timeout && shoalpy_timeout_ns(send_timeout, &user_ns)) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	self->ops = &server_ops;
	o.max_clients = max_clients;
	o.max_request = max_req;
	o.max_response = max_resp;
	o.request_capacity = req_cap;
	o.response_capacity = resp_cap;
	o.strategy = (enum shoal_wait_strategy)st;
	o.access = (uint32_t)a;
	o.send_timeout_ns = shoalpy_slice_timeout(self, user_ns);
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.registry = self->reg;
	ts = PyEval_SaveThread();
	err = shoal_rpc_server_create(name, &o, &srv);
	PyEval_RestoreThread(ts);
	if (err) {
		shoalpy_handle_end(self);
		return shoalpy_raise_int(err);
	}
	self->h = srv;
	self->max_payload = max_resp;
	return 0;
}

struct reply_ctx {
	struct shoal_rpc_server *srv;
	const struct shoal_request *req;
	const void *data;
	uint32_t len, flags;
};

static int reply_op(void *ctx, int64_t slice)
{
	struct reply_ctx *c = ctx;

	(void)slice;
	return shoal_rpc_server_write(c->srv, c->req, c->data, c->len,
				      c->flags);
}

static PyObject *server_reply(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "request", "data", "more", "error", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	const struct shoalpy_taken *t;
	PyObject *request, *data;
	struct reply_ctx c;
	int more = 0, error = 0, err;
	Py_buffer b;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$pp", kwlist, &request,
					 &data, &more, &error))
		return NULL;
	if (shoalpy_enter(h))
		return NULL;
	t = shoalpy_message_taken(h, request);
	if (!t || PyObject_GetBuffer(data, &b, PyBUF_SIMPLE))
		return NULL;
	c.srv = h->h;
	c.req = &t->raw.req;
	c.data = b.buf;
	c.len = (uint32_t)b.len;
	c.flags = (more ? SHOAL_RPC_MORE : 0) | (error ? SHOAL_RPC_ERROR : 0);
	err = (size_t)b.len > UINT32_MAX ? -EMSGSIZE : 0;
	if (!err) {
		h->busy = 1;
		err = shoalpy_wait(reply_op, &c, h->send_timeout_ns);
		h->busy = 0;
	}
	PyBuffer_Release(&b);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

struct loan_reply_ctx {
	struct shoal_rpc_server *srv;
	const struct shoal_request *req;
	uint32_t size;
	void *ptr;
};

static int loan_reply_op(void *ctx, int64_t slice)
{
	struct loan_reply_ctx *c = ctx;

	(void)slice;
	return shoal_rpc_server_loan(c->srv, c->req, c->size, &c->ptr);
}

static PyObject *server_loan_reply(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "request", "size", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	const struct shoalpy_taken *t;
	struct loan_reply_ctx c;
	PyObject *request;
	Py_ssize_t size = -1;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n", kwlist, &request,
					 &size))
		return NULL;
	if (shoalpy_enter(h))
		return NULL;
	t = shoalpy_message_taken(h, request);
	if (!t)
		return NULL;
	if (size < 0)
		size = h->max_payload;
	if ((size_t)size > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "size too large");
		return NULL;
	}
	c.srv = h->h;
	c.req = &t->raw.req;
	c.size = (uint32_t)size;
	c.ptr = NULL;
	h->busy = 1;
	err = shoalpy_wait(loan_reply_op, &c, h->send_timeout_ns);
	h->busy = 0;
	if (err)
		return shoalpy_raise(err);
	return shoalpy_loan_new(h, c.ptr, c.size);
}

static PyObject *server_send_reply(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "loan", "length", "more", "error", NULL };
	PyObject *loan, *length = Py_None;
	int more = 0, error = 0;
	Py_ssize_t n = -1;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$pp", kwlist, &loan,
					 &length, &more, &error))
		return NULL;
	if (length != Py_None) {
		n = PyLong_AsSsize_t(length);
		if (n == -1 && PyErr_Occurred())
			return NULL;
		if (n < 0) {
			PyErr_SetString(PyExc_ValueError,
					"length must not be negative");
			return NULL;
		}
	}
	return shoalpy_loan_send_flags((shoalpy_handle *)self, loan, n,
				       (more ? SHOAL_RPC_MORE : 0) |
					       (error ? SHOAL_RPC_ERROR : 0));
}

static PyObject *server_clients(PyObject *self, PyObject *noargs)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)noargs;
	if (shoalpy_enter(h))
		return NULL;
	return PyLong_FromUnsignedLong(shoal_rpc_server_clients(h->h));
}

static PyMethodDef server_methods[] = {
	SHOALPY_M_TAKE,
	{ "reply", (PyCFunction)(void (*)(void))server_reply,
	  METH_VARARGS | METH_KEYWORDS,
	  "reply(request, data, *, more=False, error=False): answer @request "
	  "(a Message from take(); before or after its release) with a copy "
	  "of @data. more=True for all but the last of several responses. "
	  "shoal.Error(EPIPE): the client is gone (the response is "
	  "dropped); EAGAIN: its response ring stayed full for "
	  "send_timeout." },
	{ "loan_reply", (PyCFunction)(void (*)(void))server_loan_reply,
	  METH_VARARGS | METH_KEYWORDS,
	  "loan_reply(request, size=max_response) -> Loan: a writable buffer "
	  "in the response ring of @request's client (a Message from take(); "
	  "before or after its release), to fill in place and send with "
	  "send_reply(), or give back with loan.abort() (collected unsent, it "
	  "is aborted). One loan at a time: shoal.Error(EBUSY) while another "
	  "is out; EMSGSIZE above max_response; EPIPE: the client is gone; "
	  "EAGAIN: its ring stayed full for send_timeout." },
	{ "send_reply", (PyCFunction)(void (*)(void))server_send_reply,
	  METH_VARARGS | METH_KEYWORDS,
	  "send_reply(loan, length=None, *, more=False, error=False): send a "
	  "Loan from loan_reply() in place, @length bytes (default its "
	  "length), with reply()'s flags. shoal.Error(EPIPE): the client is "
	  "gone (the response is dropped, the loan is not sent)." },
	{ "clients", (PyCFunction)server_clients, METH_NOARGS,
	  "clients() -> int: live clients." },
	SHOALPY_M_COMMON,
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef handle_getset[] = {
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ServerType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Server",
	.tp_basicsize = sizeof(shoalpy_handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Server(name, *, max_clients=64, max_request=1024, "
		  "max_response=1024, request_capacity=16, "
		  "response_capacity=32, strategy='adaptive', "
		  "send_timeout=0.01, access='owner', type_name=None, "
		  "type_size=0, type_align=0, registry=None)\n\n"
		  "A request/response server: take() (or iterate) requests, "
		  "reply() to each. close() withdraws it; clients then get "
		  "EPIPE. See docs/rpc.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)server_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = shoalpy_h_iternext,
	.tp_methods = server_methods,
	.tp_getset = handle_getset,
};

/* Client */

static int cli_take(void *h, struct shoalpy_taken *t, int64_t timeout)
{
	int err = shoal_rpc_client_take(h, &t->raw.resp, timeout);

	if (!err) {
		memset(&t->msg, 0, sizeof(t->msg));
		t->msg.data = t->raw.resp.data;
		t->msg.len = t->raw.resp.len;
		t->id = t->raw.resp.id;
		t->flags = t->raw.resp.flags;
	}
	return err;
}
static int cli_release(void *h, struct shoalpy_taken *t)
{
	return shoal_rpc_client_release(h, &t->raw.resp);
}
static int cli_fd(const void *h)
{
	return shoal_rpc_client_fd(h);
}
static int cli_arm(void *h)
{
	return shoal_rpc_client_arm(h);
}
static void cli_disarm(void *h)
{
	shoal_rpc_client_disarm(h);
}
static void cli_end(void *h)
{
	shoal_rpc_client_close(h);
}

static const struct shoalpy_ops client_ops = {
	.what = "rpc client",
	.take = cli_take,
	.release = cli_release,
	.fd = cli_fd,
	.arm = cli_arm,
	.disarm = cli_disarm,
	.end = cli_end,
};

struct open_ctx {
	const char *name;
	struct shoal_rpc_client_options *o;
	struct shoal_rpc_client *cli;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	c->o->timeout_ns = slice;
	return shoal_rpc_client_open(c->name, c->o, &c->cli);
}

static int client_init(shoalpy_handle *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",      "timeout",   "strategy",
				  "type_name", "type_size", "type_align",
				  "registry",  NULL };
	struct shoal_rpc_client_options o;
	struct open_ctx c;
	const char *name, *type_name = NULL;
	PyObject *timeout = NULL, *strategy = NULL, *registry = Py_None;
	unsigned int tsize = 0, talign = 0;
	int st, err;
	int64_t t = 0;

	if (self->h || self->ops) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_rpc_client_options_init(&o);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$OOzIIO", kwlist, &name,
					 &timeout, &strategy, &type_name,
					 &tsize, &talign, &registry))
		return -1;
	st = o.strategy;
	if ((timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_strategy(strategy, &st) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	self->ops = &client_ops;
	o.strategy = (enum shoal_wait_strategy)st;
	o.type_name = type_name;
	o.type_size = tsize;
	o.type_align = talign;
	o.registry = self->reg;
	c.name = name;
	c.o = &o;
	c.cli = NULL;
	err = shoalpy_open(open_op, &c, t);
	if (err) {
		shoalpy_handle_end(self);
		return shoalpy_raise_int(err);
	}
	self->h = c.cli;
	return 0;
}

struct send_ctx {
	struct shoal_rpc_client *cli;
	const void *data;
	uint32_t len;
	uint64_t id;
};

static int send_op(void *ctx, int64_t slice)
{
	struct send_ctx *c = ctx;

	(void)slice;
	return shoal_rpc_client_write(c->cli, c->data, c->len, &c->id);
}

static PyObject *client_send(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "data", "timeout", NULL };
	shoalpy_handle *h = (shoalpy_handle *)self;
	PyObject *data, *timeout = Py_None;
	struct send_ctx c;
	Py_buffer b;
	int64_t t;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O", kwlist, &data,
					 &timeout) ||
	    shoalpy_timeout_ns(timeout, &t))
		return NULL;
	if (shoalpy_enter(h) || PyObject_GetBuffer(data, &b, PyBUF_SIMPLE))
		return NULL;
	c.cli = h->h;
	c.data = b.buf;
	c.len = (uint32_t)b.len;
	c.id = 0;
	err = (size_t)b.len > UINT32_MAX ? -EMSGSIZE : 0;
	if (!err) {
		/* The request ring is full (-EAGAIN, the client never
		 * blocks in C): retried by slices up to @timeout. */
		h->busy = 1;
		err = shoalpy_wait(send_op, &c, t);
		h->busy = 0;
	}
	PyBuffer_Release(&b);
	if (err)
		return shoalpy_raise(err);
	return PyLong_FromUnsignedLongLong(c.id);
}

static PyObject *client_connected(PyObject *self, void *closure)
{
	shoalpy_handle *h = (shoalpy_handle *)self;

	(void)closure;
	if (shoalpy_enter(h))
		return NULL;
	return PyBool_FromLong(shoal_rpc_client_connected(h->h));
}

static PyMethodDef client_methods[] = {
	{ "send", (PyCFunction)(void (*)(void))client_send,
	  METH_VARARGS | METH_KEYWORDS,
	  "send(data, timeout=None) -> int: send a request (a copy of @data) "
	  "and return its correlation id; waits up to @timeout while the "
	  "request ring is full (then shoal.Error(EAGAIN))." },
	SHOALPY_M_TAKE,
	SHOALPY_M_COMMON,
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef client_getset[] = {
	{ "connected", (getter)client_connected, NULL,
	  "True while the server is alive and serving.", NULL },
	{ "closed", (getter)shoalpy_h_closed, NULL, "True after close().",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ClientType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Client",
	.tp_basicsize = sizeof(shoalpy_handle),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Client(name, *, timeout=0, strategy='adaptive', "
		  "type_name=None, type_size=0, type_align=0, registry=None)"
		  "\n\nA request/response client of server @name (waiting up "
		  "to @timeout seconds for it to appear). send() a request, "
		  "take() responses (Messages with .id, .more, .error), or "
		  "call() for one answer. See docs/rpc.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)client_init,
	.tp_dealloc = shoalpy_h_dealloc,
	.tp_methods = client_methods,
	.tp_getset = client_getset,
};

int shoalpy_rpc_init(PyObject *module)
{
	if (PyType_Ready(&ServerType) || PyType_Ready(&ClientType) ||
	    PyModule_AddObjectRef(module, "Server", (PyObject *)&ServerType) ||
	    PyModule_AddObjectRef(module, "Client", (PyObject *)&ClientType))
		return -1;
	return 0;
}
