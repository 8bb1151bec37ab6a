/* SPDX-License-Identifier: MIT */
/*
 * Stores (docs/store.md): Store(name, create=False, objects=..., ...) and
 * its objects. The C side gives the raw pieces; shoal/__init__.py makes
 * store["name"] a numpy view of an array, or the object itself.
 *
 *  - Store.buffer(name): an array object's memory as a buffer (writable
 *    unless the store was opened read_only), for numpy.frombuffer.
 *  - Store.blackboard(name), .map(name), .stack(name): objects that hold a
 *    reference to the store and call the C operations directly (they never
 *    block, so they keep the GIL).
 *  - Blackboard.wait(): the one call that sleeps, with the GIL released,
 *    in slices so that Ctrl-C is seen.
 * A buffer keeps its store open: close() while buffers are exported is
 * deferred until the last one goes, so no view outlives its memory.
 * A store handle is one thread at a time (busy, as every handle).
 */
#include <errno.h>
#include <string.h>

#include "shoalpy.h"

typedef struct {
	PyObject_HEAD struct shoal_store *s;
	struct shoal_registry *reg;
	int owner, read_only, busy, closing;
	Py_ssize_t exports;
} StoreObject;

typedef struct {
	PyObject_HEAD StoreObject *store;
	uint32_t kind;
	union {
		struct shoal_array a;
		struct shoal_blackboard bb;
		struct shoal_stack st;
		struct shoal_map m;
	} u;
	uint64_t *seen; /* blackboard: the versions wait() last reported */
	void *buf;	/* a value's worth of scratch */
	uint32_t buf_size;
} ObjObject;

static PyTypeObject StoreType, BufferType, BlackboardType, MapType, StackType;

static void store_end(StoreObject *self)
{
	if (!self->s)
		return;
	if (self->owner)
		shoal_store_destroy(self->s);
	else
		shoal_store_close(self->s);
	self->s = NULL;
	shoal_registry_destroy(self->reg);
	self->reg = NULL;
}

/* The start of every call: open and not busy. 0 or -1 raised. */
static int store_enter(StoreObject *self)
{
	if (!self->s || self->closing) {
		PyErr_SetString(PyExc_ValueError, "the store is closed");
		return -1;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the store is in use by another thread");
		return -1;
	}
	return 0;
}

static const char *const kind_names[] = { "array", "blackboard", "stack", "map",
					  NULL };
static const int kind_values[] = { SHOAL_STORE_ARRAY, SHOAL_STORE_BLACKBOARD,
				   SHOAL_STORE_STACK, SHOAL_STORE_MAP };

/* One dict of objects= into @o; @keep holds what the strings point into. */
static int parse_object(PyObject *d, struct shoal_store_object *o,
			PyObject *keep)
{
	PyObject *v;
	int kind;

	if (!PyDict_Check(d)) {
		PyErr_SetString(PyExc_TypeError,
				"objects: each one a dict (name, kind, count, "
				"elem_size, ...)");
		return -1;
	}
	memset(o, 0, sizeof(*o));
	v = PyDict_GetItemString(d, "name");
	if (!v || !(o->name = PyUnicode_AsUTF8(v)) || PyList_Append(keep, v)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError,
					"objects: each one needs a name");
		return -1;
	}
	if (shoalpy_choice(PyDict_GetItemString(d, "kind"), "kind", kind_names,
			   kind_values, &kind))
		return -1;
	o->kind = (uint32_t)kind;
#define U32(key, field)                                                     \
	do {                                                                \
		v = PyDict_GetItemString(d, key);                           \
		if (v) {                                                    \
			unsigned long x_ = PyLong_AsUnsignedLong(v);        \
			if (PyErr_Occurred())                               \
				return -1;                                  \
			if (x_ > UINT32_MAX) {                              \
				PyErr_Format(PyExc_ValueError,              \
					     "objects: %s too large", key); \
				return -1;                                  \
			}                                                   \
			o->field = (uint32_t)x_;                            \
		}                                                           \
	} while (0)
	U32("count", count);
	U32("elem_size", elem_size);
	U32("elem_align", elem_align);
	U32("key_size", key_size);
#undef U32
	v = PyDict_GetItemString(d, "many_writers");
	if (v && PyObject_IsTrue(v))
		o->flags |= SHOAL_STORE_MANY_WRITERS;
	v = PyDict_GetItemString(d, "type_name");
	if (v && v != Py_None) {
		if (!(o->type_name = PyUnicode_AsUTF8(v)) ||
		    PyList_Append(keep, v))
			return -1;
	}
	return 0;
}

struct open_ctx {
	const char *name;
	int create;
	struct shoal_store_options *o;
	struct shoal_store *s;
};

static int open_op(void *ctx, int64_t slice)
{
	struct open_ctx *c = ctx;

	if (c->create)
		return shoal_store_create(c->name, c->o, &c->s);
	c->o->timeout_ns = slice;
	return shoal_store_open(c->name, c->o, &c->s);
}

static int store_init(StoreObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name",      "create",      "objects",
				  "read_only", "max_objects", "reserve",
				  "event_ids", "access",      "timeout",
				  "registry",  NULL };
	struct shoal_store_options o;
	struct shoal_store_object *objs = NULL;
	struct open_ctx c;
	const char *name;
	PyObject *objects = Py_None, *access = NULL, *timeout = NULL;
	PyObject *registry = Py_None, *keep = NULL, *seq = NULL;
	unsigned int max_objects, event_ids;
	unsigned long long reserve = 0;
	int create = 0, read_only = 0, a, err = -1;
	int64_t t = 0;
	Py_ssize_t n = 0;

	if (self->s) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	shoal_store_options_init(&o);
	max_objects = o.max_objects;
	event_ids = o.event_ids;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$pOpIKIOOO", kwlist,
					 &name, &create, &objects, &read_only,
					 &max_objects, &reserve, &event_ids,
					 &access, &timeout, &registry))
		return -1;
	a = (int)o.access;
	if (shoalpy_access(access, &a) ||
	    (timeout && shoalpy_timeout_ns(timeout, &t)) ||
	    shoalpy_registry(registry, &self->reg))
		return -1;
	keep = PyList_New(0);
	if (!keep)
		return -1;
	if (objects != Py_None) {
		seq = PySequence_Fast(objects, "objects: a list of dicts");
		if (!seq)
			goto out;
		n = PySequence_Fast_GET_SIZE(seq);
		objs = PyMem_Calloc((size_t)(n ? n : 1), sizeof(*objs));
		if (!objs) {
			PyErr_NoMemory();
			goto out;
		}
		for (Py_ssize_t i = 0; i < n; i++)
			if (parse_object(PySequence_Fast_GET_ITEM(seq, i),
					 &objs[i], keep))
				goto out;
	}
	o.objects = objs;
	o.nobjects = (uint32_t)n;
	o.max_objects = max_objects;
	o.reserve_bytes = reserve;
	o.event_ids = event_ids;
	o.access = (uint32_t)a;
	o.registry = self->reg;
	o.flags = read_only && !create ? SHOAL_STORE_READ_ONLY : 0;
	c.name = name;
	c.o = &o;
	c.s = NULL;
	c.create = create;
	err = shoalpy_open(open_op, &c, create ? 0 : t);
	if (err) {
		shoal_registry_destroy(self->reg);
		self->reg = NULL;
		err = shoalpy_raise_int(err);
		goto out;
	}
	self->s = c.s;
	self->owner = create;
	self->read_only = o.flags & SHOAL_STORE_READ_ONLY ? 1 : 0;
out:
	PyMem_Free(objs);
	Py_XDECREF(seq);
	Py_DECREF(keep);
	return err;
}

static void store_dealloc(PyObject *op)
{
	store_end((StoreObject *)op);
	Py_TYPE(op)->tp_free(op);
}

static PyObject *store_close(PyObject *op, PyObject *noargs)
{
	StoreObject *self = (StoreObject *)op;

	(void)noargs;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the store is in use by another thread");
		return NULL;
	}
	/* Views of its memory keep it mapped: the last one ends it. */
	self->closing = 1;
	if (!self->exports)
		store_end(self);
	Py_RETURN_NONE;
}

static PyObject *info_dict(const struct shoal_store_object_info *i)
{
	return Py_BuildValue(
		"{s:s,s:s,s:I,s:I,s:I,s:I,s:N,s:s,s:K,s:K}", "name", i->name,
		"kind", kind_names[i->kind - 1], "count", i->count, "elem_size",
		i->elem_size, "elem_align", i->elem_align, "key_size",
		i->key_size, "many_writers",
		PyBool_FromLong(i->flags & SHOAL_STORE_MANY_WRITERS),
		"type_name", i->type_name, "offset",
		(unsigned long long)i->offset, "size",
		(unsigned long long)i->size);
}

static PyObject *store_objects(PyObject *op, PyObject *noargs)
{
	StoreObject *self = (StoreObject *)op;
	PyObject *l;
	uint32_t n;

	(void)noargs;
	if (store_enter(self))
		return NULL;
	l = PyList_New(0);
	n = shoal_store_object_count(self->s);
	for (uint32_t i = 0; l && i < n; i++) {
		struct shoal_store_object_info info;
		PyObject *d;
		int err = shoal_store_object_at(self->s, i, &info);

		if (err) {
			Py_DECREF(l);
			return shoalpy_raise(err);
		}
		d = info_dict(&info);
		if (!d || PyList_Append(l, d))
			Py_CLEAR(l);
		Py_XDECREF(d);
	}
	return l;
}

static PyObject *store_add(PyObject *op, PyObject *d)
{
	StoreObject *self = (StoreObject *)op;
	struct shoal_store_object o;
	PyObject *keep;
	int r;

	if (store_enter(self))
		return NULL;
	keep = PyList_New(0);
	if (!keep)
		return NULL;
	r = parse_object(d, &o, keep) ? SHOALPY_EXC :
					shoal_store_add(self->s, &o);
	Py_DECREF(keep);
	if (r == SHOALPY_EXC)
		return NULL;
	if (r < 0)
		return shoalpy_raise(r);
	return PyLong_FromLong(r);
}

/* A new object of @type over @self's object @name. */
static PyObject *obj_new(StoreObject *self, PyTypeObject *type, uint32_t kind,
			 PyObject *name_obj)
{
	const char *name = PyUnicode_AsUTF8(name_obj);
	ObjObject *o;
	int err = 0;

	if (!name || store_enter(self))
		return NULL;
	o = PyObject_New(ObjObject, type);
	if (!o)
		return NULL;
	o->store = self;
	Py_INCREF(self);
	o->kind = kind;
	o->seen = NULL;
	o->buf = NULL;
	o->buf_size = 0;
	switch (kind) {
	case SHOAL_STORE_ARRAY:
		err = shoal_store_array(self->s, name, &o->u.a);
		break;
	case SHOAL_STORE_BLACKBOARD:
		err = shoal_store_blackboard(self->s, name, &o->u.bb);
		if (!err) {
			o->buf_size = o->u.bb.value_size;
			o->seen = PyMem_Calloc(o->u.bb.count, sizeof(uint64_t));
			for (uint32_t k = 0; o->seen && k < o->u.bb.count; k++)
				o->seen[k] =
					shoal_blackboard_version(&o->u.bb, k);
		}
		break;
	case SHOAL_STORE_STACK:
		err = shoal_store_stack(self->s, name, &o->u.st);
		o->buf_size = err ? 0 : o->u.st.elem_size;
		break;
	default:
		err = shoal_store_map(self->s, name, &o->u.m);
		o->buf_size = err ? 0 : o->u.m.value_size;
		break;
	}
	if (err) {
		Py_DECREF(o);
		return shoalpy_raise(err);
	}
	o->buf = PyMem_Malloc(o->buf_size ? o->buf_size : 1);
	if (!o->buf || (kind == SHOAL_STORE_BLACKBOARD && !o->seen)) {
		Py_DECREF(o);
		return PyErr_NoMemory();
	}
	return (PyObject *)o;
}

static PyObject *store_buffer(PyObject *op, PyObject *name)
{
	return obj_new((StoreObject *)op, &BufferType, SHOAL_STORE_ARRAY, name);
}
static PyObject *store_blackboard(PyObject *op, PyObject *name)
{
	return obj_new((StoreObject *)op, &BlackboardType,
		       SHOAL_STORE_BLACKBOARD, name);
}
static PyObject *store_stack(PyObject *op, PyObject *name)
{
	return obj_new((StoreObject *)op, &StackType, SHOAL_STORE_STACK, name);
}
static PyObject *store_map(PyObject *op, PyObject *name)
{
	return obj_new((StoreObject *)op, &MapType, SHOAL_STORE_MAP, name);
}

static PyObject *store_enter_with(PyObject *op, PyObject *noargs)
{
	(void)noargs;
	Py_INCREF(op);
	return op;
}

static PyObject *store_exit_with(PyObject *op, PyObject *args)
{
	(void)args;
	return store_close(op, NULL);
}

static PyObject *store_closed(PyObject *op, void *closure)
{
	StoreObject *self = (StoreObject *)op;

	(void)closure;
	return PyBool_FromLong(!self->s || self->closing);
}

static PyObject *store_read_only(PyObject *op, void *closure)
{
	(void)closure;
	return PyBool_FromLong(((StoreObject *)op)->read_only);
}

static PyMethodDef store_methods[] = {
	{ "objects", store_objects, METH_NOARGS,
	  "objects() -> list[dict]: the table (name, kind, count, elem_size, "
	  "elem_align, key_size, many_writers, type_name, offset, size)." },
	{ "add", store_add, METH_O,
	  "add(obj: dict) -> int: the owner adds an object (as in objects=); "
	  "its index." },
	{ "buffer", store_buffer, METH_O,
	  "buffer(name) -> a buffer over array @name's elements (writable "
	  "unless read_only), for numpy.frombuffer." },
	{ "blackboard", store_blackboard, METH_O,
	  "blackboard(name) -> Blackboard" },
	{ "stack", store_stack, METH_O, "stack(name) -> Stack" },
	{ "map", store_map, METH_O, "map(name) -> Map" },
	{ "close", store_close, METH_NOARGS,
	  "close(): destroy (owner) or close; deferred while buffers of it "
	  "are alive." },
	{ "__enter__", store_enter_with, METH_NOARGS, NULL },
	{ "__exit__", store_exit_with, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef store_getset[] = {
	{ "closed", store_closed, NULL, "True after close().", NULL },
	{ "read_only", store_read_only, NULL,
	  "True when opened read_only: writes raise EPERM.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject StoreType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal._Store",
	.tp_basicsize = sizeof(StoreObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc =
		"_Store(name, *, create=False, objects=None, read_only=False, "
		"max_objects=64, reserve=0, event_ids=256, access='owner', "
		"timeout=0, registry=None): the C half of shoal.Store.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)store_init,
	.tp_dealloc = store_dealloc,
	.tp_methods = store_methods,
	.tp_getset = store_getset,
};

/* ------------------------------------------------------------------------
 * Objects
 */

static void obj_dealloc(PyObject *op)
{
	ObjObject *o = (ObjObject *)op;

	PyMem_Free(o->seen);
	PyMem_Free(o->buf);
	Py_XDECREF(o->store);
	Py_TYPE(op)->tp_free(op);
}

static int obj_enter(ObjObject *o)
{
	return store_enter(o->store);
}

/* Bytes of a bytes-like @v into @view (PyBuffer_Release it). */
static int bytes_of(PyObject *v, Py_buffer *view)
{
	if (PyUnicode_Check(v)) {
		PyErr_SetString(PyExc_TypeError,
				"a bytes-like value (encode str first)");
		return -1;
	}
	return PyObject_GetBuffer(v, view, PyBUF_SIMPLE);
}

/* A key: bytes-like, or str (its UTF-8). */
static int key_of(PyObject *k, Py_buffer *view, PyObject **tmp)
{
	*tmp = NULL;
	if (PyUnicode_Check(k)) {
		*tmp = PyUnicode_AsUTF8String(k);
		if (!*tmp)
			return -1;
		k = *tmp;
	}
	if (PyObject_GetBuffer(k, view, PyBUF_SIMPLE)) {
		Py_XDECREF(*tmp);
		return -1;
	}
	return 0;
}

/* --- the array buffer */

static int buf_get(PyObject *op, Py_buffer *view, int flags)
{
	ObjObject *o = (ObjObject *)op;
	int ro = o->store->read_only;

	if (!o->store->s) {
		PyErr_SetString(PyExc_BufferError, "the store is closed");
		return -1;
	}
	if (PyBuffer_FillInfo(view, op, shoal_array_ptr(&o->u.a, 0),
			      (Py_ssize_t)o->u.a.count * o->u.a.elem_size, ro,
			      flags))
		return -1;
	o->store->exports++;
	return 0;
}

static void buf_release(PyObject *op, Py_buffer *view)
{
	ObjObject *o = (ObjObject *)op;

	(void)view;
	if (--o->store->exports == 0 && o->store->closing)
		store_end(o->store);
}

static PyBufferProcs buf_procs = { buf_get, buf_release };

static PyTypeObject BufferType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.StoreBuffer",
	.tp_basicsize = sizeof(ObjObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The memory of a store's array (buffer protocol).",
	.tp_dealloc = obj_dealloc,
	.tp_as_buffer = &buf_procs,
};

/* --- Blackboard */

static int bb_key(ObjObject *o, PyObject *k, uint32_t *out)
{
	unsigned long v = PyLong_AsUnsignedLong(k);

	if (PyErr_Occurred())
		return -1;
	if (v >= o->u.bb.count) {
		PyErr_Format(PyExc_KeyError, "key %lu: the blackboard has %u",
			     v, o->u.bb.count);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static Py_ssize_t bb_len(PyObject *op)
{
	return ((ObjObject *)op)->u.bb.count;
}

static PyObject *bb_read(ObjObject *o, PyObject *k, int with_version)
{
	uint64_t version = 0;
	uint32_t key;
	int n;

	if (obj_enter(o) || bb_key(o, k, &key))
		return NULL;
	/* -EAGAIN: writers overtook every retry; try again (bounded by
	 * the writers' progress, as a C caller would). */
	for (int i = 0; i < 1000; i++) {
		n = shoal_blackboard_read(&o->u.bb, key, o->buf, o->buf_size,
					  &version);
		if (n != -EAGAIN)
			break;
	}
	if (n < 0)
		return shoalpy_raise(n);
	if (with_version)
		return Py_BuildValue("(y#K)", (const char *)o->buf,
				     (Py_ssize_t)n,
				     (unsigned long long)version);
	return PyBytes_FromStringAndSize(o->buf, n);
}

static PyObject *bb_getitem(PyObject *op, PyObject *k)
{
	return bb_read((ObjObject *)op, k, 0);
}

static int bb_setitem(PyObject *op, PyObject *k, PyObject *v)
{
	ObjObject *o = (ObjObject *)op;
	Py_buffer view;
	uint32_t key;
	int err;

	if (!v) {
		PyErr_SetString(PyExc_TypeError,
				"blackboard keys cannot be deleted");
		return -1;
	}
	if (obj_enter(o) || bb_key(o, k, &key) || bytes_of(v, &view))
		return -1;
	if ((size_t)view.len > o->u.bb.value_size) {
		PyBuffer_Release(&view);
		PyErr_Format(PyExc_ValueError,
			     "a value of this blackboard has up to %u bytes",
			     o->u.bb.value_size);
		return -1;
	}
	do
		err = shoal_blackboard_write(&o->u.bb, key, view.buf,
					     (uint32_t)view.len);
	while (err == -EBUSY);
	PyBuffer_Release(&view);
	return err ? shoalpy_raise_int(err) : 0;
}

static PyObject *bb_get_version(PyObject *op, PyObject *k)
{
	ObjObject *o = (ObjObject *)op;
	uint32_t key;

	if (obj_enter(o) || bb_key(o, k, &key))
		return NULL;
	return PyLong_FromUnsignedLongLong(
		shoal_blackboard_version(&o->u.bb, key));
}

static PyObject *bb_read_versioned(PyObject *op, PyObject *k)
{
	return bb_read((ObjObject *)op, k, 1);
}

struct bb_wait_ctx {
	struct shoal_store *s;
	struct shoal_store_watch *w;
	uint32_t n;
};

static int bb_wait_op(void *ctx, int64_t slice)
{
	struct bb_wait_ctx *c = ctx;
	int r = shoal_store_wait(c->s, c->w, c->n, slice);

	return r > 0 ? 0 : r;
}

static PyObject *bb_wait(PyObject *op, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "keys", "timeout", NULL };
	ObjObject *o = (ObjObject *)op;
	PyObject *keys = Py_None, *timeout = Py_None, *seq = NULL, *l = NULL;
	struct shoal_store_watch *w;
	struct bb_wait_ctx c;
	uint32_t n;
	int64_t t;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO", kwlist, &keys,
					 &timeout) ||
	    shoalpy_timeout_ns(timeout, &t) || obj_enter(o))
		return NULL;
	if (keys != Py_None) {
		seq = PySequence_Fast(keys, "keys: a list of ints");
		if (!seq)
			return NULL;
		n = (uint32_t)PySequence_Fast_GET_SIZE(seq);
	} else {
		n = o->u.bb.count;
	}
	if (!n) {
		Py_XDECREF(seq);
		PyErr_SetString(PyExc_ValueError, "no keys to wait for");
		return NULL;
	}
	w = PyMem_Calloc(n, sizeof(*w));
	if (!w) {
		Py_XDECREF(seq);
		return PyErr_NoMemory();
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t key = i;

		if (seq && bb_key(o, PySequence_Fast_GET_ITEM(seq, i), &key)) {
			PyMem_Free(w);
			Py_DECREF(seq);
			return NULL;
		}
		w[i] = (struct shoal_store_watch){ &o->u.bb, key, 0,
						   o->seen[key] };
	}
	Py_XDECREF(seq);
	c = (struct bb_wait_ctx){ o->store->s, w, n };
	o->store->busy = 1;
	err = shoalpy_wait(bb_wait_op, &c, t);
	o->store->busy = 0;
	if (err && err != -ETIMEDOUT && err != -EAGAIN) {
		PyMem_Free(w);
		return shoalpy_raise(err);
	}
	l = PyList_New(0);
	for (uint32_t i = 0; l && !err && i < n; i++) {
		PyObject *v;

		if (!w[i].changed || o->seen[w[i].key] == w[i].seen)
			continue;
		o->seen[w[i].key] = w[i].seen;
		v = PyLong_FromUnsignedLong(w[i].key);
		if (!v || PyList_Append(l, v))
			Py_CLEAR(l);
		Py_XDECREF(v);
	}
	PyMem_Free(w);
	return l;
}

static PyObject *bb_value_size(PyObject *op, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(((ObjObject *)op)->u.bb.value_size);
}

static PyMappingMethods bb_mapping = { bb_len, bb_getitem, bb_setitem };

static PyMethodDef bb_methods[] = {
	{ "version", bb_get_version, METH_O,
	  "version(key) -> int: completed writes of @key (0: never)." },
	{ "read", bb_read_versioned, METH_O,
	  "read(key) -> (bytes, version): the latest value and its version." },
	{ "wait", (PyCFunction)(void (*)(void))bb_wait,
	  METH_VARARGS | METH_KEYWORDS,
	  "wait(keys=None, timeout=None) -> list[int]: wait until any of "
	  "@keys (default: all) changed since this object last reported it; "
	  "the keys that did ([] on timeout). Releases the GIL." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef bb_getset[] = {
	{ "value_size", bb_value_size, NULL, "Bytes of a value.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject BlackboardType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Blackboard",
	.tp_basicsize = sizeof(ObjObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A store's blackboard: bb[key] is the latest value (bytes "
		  "of value_size, zero-padded), bb[key] = data writes it; "
		  "version(key), read(key), wait(keys, timeout).",
	.tp_dealloc = obj_dealloc,
	.tp_as_mapping = &bb_mapping,
	.tp_methods = bb_methods,
	.tp_getset = bb_getset,
};

/* --- Map */

static PyObject *map_lookup(ObjObject *o, PyObject *k, int raise)
{
	Py_buffer kv;
	PyObject *tmp;
	int n;

	if (obj_enter(o) || key_of(k, &kv, &tmp))
		return NULL;
	for (int i = 0; i < 1000; i++) {
		n = shoal_map_get(&o->u.m, kv.buf, (uint32_t)kv.len, o->buf,
				  o->buf_size);
		if (n != -EAGAIN)
			break;
	}
	PyBuffer_Release(&kv);
	Py_XDECREF(tmp);
	if (n == -ENOENT && !raise)
		Py_RETURN_NONE;
	if (n == -ENOENT) {
		PyErr_SetObject(PyExc_KeyError, k);
		return NULL;
	}
	if (n < 0)
		return shoalpy_raise(n);
	return PyBytes_FromStringAndSize(o->buf, n);
}

static PyObject *map_getitem(PyObject *op, PyObject *k)
{
	return map_lookup((ObjObject *)op, k, 1);
}

static int map_setitem(PyObject *op, PyObject *k, PyObject *v)
{
	ObjObject *o = (ObjObject *)op;
	Py_buffer kv, vv;
	PyObject *tmp;
	int err;

	if (obj_enter(o) || key_of(k, &kv, &tmp))
		return -1;
	if (!v) {
		do
			err = shoal_map_delete(&o->u.m, kv.buf,
					       (uint32_t)kv.len);
		while (err == -EBUSY);
	} else if (bytes_of(v, &vv)) {
		err = SHOALPY_EXC;
	} else {
		do
			err = shoal_map_put(&o->u.m, kv.buf, (uint32_t)kv.len,
					    vv.buf, (uint32_t)vv.len);
		while (err == -EBUSY);
		PyBuffer_Release(&vv);
	}
	PyBuffer_Release(&kv);
	Py_XDECREF(tmp);
	if (err == SHOALPY_EXC)
		return -1;
	if (err == -ENOENT && !v) {
		PyErr_SetObject(PyExc_KeyError, k);
		return -1;
	}
	return err ? shoalpy_raise_int(err) : 0;
}

static int map_contains(PyObject *op, PyObject *k)
{
	PyObject *r = map_lookup((ObjObject *)op, k, 0);
	int has;

	if (!r)
		return -1;
	has = r != Py_None;
	Py_DECREF(r);
	return has;
}

static PyObject *map_get(PyObject *op, PyObject *args)
{
	PyObject *k, *dflt = Py_None, *r;

	if (!PyArg_ParseTuple(args, "O|O", &k, &dflt))
		return NULL;
	r = map_lookup((ObjObject *)op, k, 0);
	if (r == Py_None) {
		Py_DECREF(r);
		Py_INCREF(dflt);
		return dflt;
	}
	return r;
}

static Py_ssize_t map_len_capacity(PyObject *op)
{
	return ((ObjObject *)op)->u.m.capacity;
}

static PyMappingMethods map_mapping = { NULL, map_getitem, map_setitem };
static PySequenceMethods map_seq = { .sq_contains = map_contains };

static PyObject *map_capacity(PyObject *op, void *closure)
{
	(void)closure;
	return PyLong_FromSsize_t(map_len_capacity(op));
}

static PyMethodDef map_methods[] = {
	{ "get", map_get, METH_VARARGS,
	  "get(key, default=None) -> bytes: the value of @key, or @default." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef map_getset[] = {
	{ "capacity", map_capacity, NULL, "Slots of the map.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject MapType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Map",
	.tp_basicsize = sizeof(ObjObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc =
		"A store's map: m[key] (key bytes or str; value bytes of "
		"value_size, zero-padded; KeyError if absent), m[key] = data, "
		"del m[key], key in m, get(key, default).",
	.tp_dealloc = obj_dealloc,
	.tp_as_mapping = &map_mapping,
	.tp_as_sequence = &map_seq,
	.tp_methods = map_methods,
	.tp_getset = map_getset,
};

/* --- Stack */

static PyObject *stack_push(PyObject *op, PyObject *v)
{
	ObjObject *o = (ObjObject *)op;
	Py_buffer view;
	int err;

	if (obj_enter(o) || bytes_of(v, &view))
		return NULL;
	do
		err = shoal_stack_push(&o->u.st, view.buf, (uint32_t)view.len);
	while (err == -EBUSY);
	PyBuffer_Release(&view);
	if (err)
		return shoalpy_raise(err);
	Py_RETURN_NONE;
}

static PyObject *stack_pop(PyObject *op, PyObject *noargs)
{
	ObjObject *o = (ObjObject *)op;
	int n;

	(void)noargs;
	if (obj_enter(o))
		return NULL;
	do
		n = shoal_stack_pop(&o->u.st, o->buf, o->buf_size);
	while (n == -EBUSY);
	if (n == -EAGAIN)
		Py_RETURN_NONE;
	if (n < 0)
		return shoalpy_raise(n);
	return PyBytes_FromStringAndSize(o->buf, n);
}

static PyMethodDef stack_methods[] = {
	{ "push", stack_push, METH_O,
	  "push(data): push a bytes-like element (up to elem_size bytes); "
	  "shoal.Error(EAGAIN) when full." },
	{ "pop", stack_pop, METH_NOARGS,
	  "pop() -> bytes | None: the top element (elem_size bytes, "
	  "zero-padded), None when empty." },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject StackType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shoal.Stack",
	.tp_basicsize = sizeof(ObjObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A store's lock-free stack: push(data), pop().",
	.tp_dealloc = obj_dealloc,
	.tp_methods = stack_methods,
};

int shoalpy_store_init(PyObject *module)
{
	if (PyType_Ready(&StoreType) || PyType_Ready(&BufferType) ||
	    PyType_Ready(&BlackboardType) || PyType_Ready(&MapType) ||
	    PyType_Ready(&StackType) ||
	    PyModule_AddObjectRef(module, "_Store", (PyObject *)&StoreType) ||
	    PyModule_AddObjectRef(module, "Blackboard",
				  (PyObject *)&BlackboardType) ||
	    PyModule_AddObjectRef(module, "Map", (PyObject *)&MapType) ||
	    PyModule_AddObjectRef(module, "Stack", (PyObject *)&StackType))
		return -1;
	return 0;
}
