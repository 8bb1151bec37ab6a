/* SPDX-License-Identifier: MIT */
/*
 * Tensor frames from Python: writing a tensor header into a loan, checking
 * one in a message (both by include/shoal/tensor.h, so a Python reader
 * trusts a header exactly as far as a C reader does), and DLPack export of
 * a checked tensor. numpy itself is not needed here: the package builds
 * arrays from the offsets and strides these return (python/shoal/).
 */
#include <errno.h>
#include <string.h>

#include "shoalpy.h"

static const char *const dtype_names[] = {
	"bool",	    "int8",	 "uint8",      "int16",	  "uint16",  "int32",
	"uint32",   "int64",	 "uint64",     "float16", "float32", "float64",
	"bfloat16", "complex64", "complex128", NULL,
};

static int dtype_code(PyObject *o, uint32_t *out)
{
	const char *s = PyUnicode_AsUTF8(o);

	if (!s)
		return -1;
	for (uint32_t i = 0; dtype_names[i]; i++)
		if (!strcmp(s, dtype_names[i])) {
			*out = i + SHOAL_DTYPE_BOOL;
			return 0;
		}
	PyErr_Format(PyExc_TypeError,
		     "dtype '%s' cannot travel in a tensor "
		     "frame (bool, [u]int8..64, float16/32/64, bfloat16, "
		     "complex64/128)",
		     s);
	return -1;
}

/* A tuple of @n unsigned or signed 64-bit values into @out. */
static int u64_seq(PyObject *seq, const char *what, uint32_t max, uint64_t *out,
		   uint32_t *n)
{
	PyObject *f = PySequence_Fast(seq, what);
	Py_ssize_t len;

	if (!f)
		return -1;
	len = PySequence_Fast_GET_SIZE(f);
	if (len > (Py_ssize_t)max) {
		PyErr_Format(PyExc_ValueError, "%s: at most %u dimensions",
			     what, max);
		Py_DECREF(f);
		return -1;
	}
	for (Py_ssize_t i = 0; i < len; i++) {
		PyObject *v = PySequence_Fast_GET_ITEM(f, i);
		long long x = PyLong_AsLongLong(v);

		if (x == -1 && PyErr_Occurred()) {
			Py_DECREF(f);
			return -1;
		}
		out[i] = (uint64_t)x;
		if (x < 0 && !strcmp(what, "shape")) {
			PyErr_SetString(PyExc_ValueError,
					"shape: lengths must be >= 0");
			Py_DECREF(f);
			return -1;
		}
	}
	*n = (uint32_t)len;
	Py_DECREF(f);
	return 0;
}

static PyObject *describe(const struct shoal_tensor *t, const void *base)
{
	PyObject *shape = PyTuple_New(t->ndim), *strides = PyTuple_New(t->ndim);

	if (!shape || !strides) {
		Py_XDECREF(shape);
		Py_XDECREF(strides);
		return NULL;
	}
	for (uint32_t i = 0; i < t->ndim; i++) {
		PyTuple_SET_ITEM(shape, i,
				 PyLong_FromUnsignedLongLong(t->shape[i]));
		PyTuple_SET_ITEM(strides, i,
				 PyLong_FromLongLong(t->strides[i]));
	}
	return Py_BuildValue(
		"{sssNsNsnsKsKsLsKsI}", "dtype", shoal_dtype_name(t->dtype),
		"shape", shape, "strides", strides, "offset",
		(Py_ssize_t)((const char *)t->data - (const char *)base),
		"data_bytes", (unsigned long long)t->data_bytes, "frame_id",
		(unsigned long long)t->frame_id, "timestamp_ns",
		(long long)t->timestamp_ns, "used", (unsigned long long)t->used,
		"itemsize", t->itemsize);
}

/* dtype, shape, strides (None: C order) and align into *@spec, whose
 * shape and strides point at @sh and @st. 0, or -1 raised. */
static int parse_spec(PyObject *dtype, PyObject *shape, PyObject *strides,
		      unsigned int align, struct shoal_tensor_spec *spec,
		      uint64_t *sh, uint64_t *st)
{
	uint32_t nd, nst;

	memset(spec, 0, sizeof(*spec));
	if (dtype_code(dtype, &spec->dtype) ||
	    u64_seq(shape, "shape", SHOAL_TENSOR_MAX_DIMS, sh, &nd))
		return -1;
	spec->ndim = nd;
	spec->shape = sh;
	if (strides != Py_None) {
		if (u64_seq(strides, "strides", SHOAL_TENSOR_MAX_DIMS, st,
			    &nst))
			return -1;
		if (nst != nd) {
			PyErr_SetString(PyExc_ValueError,
					"strides and shape differ in length");
			return -1;
		}
		spec->strides = (const int64_t *)st;
	}
	spec->align = align;
	return 0;
}

/* tensor_view(buffer) -> dict: the checked header of a tensor frame. */
static PyObject *tensor_view(PyObject *self, PyObject *obj)
{
	struct shoal_tensor t;
	PyObject *r;
	Py_buffer b;
	int err;

	(void)self;
	if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE))
		return NULL;
	err = shoal_tensor_view(b.buf, (uint64_t)b.len, &t);
	r = err ? shoalpy_raise(err) : describe(&t, b.buf);
	PyBuffer_Release(&b);
	return r;
}

/* tensor_init(buffer, dtype, shape, strides=None, align=0, frame_id=0,
 * timestamp_ns=0) -> dict: writes the header into a writable buffer. */
static PyObject *tensor_init(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "buffer",	  "dtype", "shape",
				  "strides",	  "align", "frame_id",
				  "timestamp_ns", NULL };
	PyObject *buf, *dtype, *shape, *strides = Py_None, *r;
	uint64_t sh[SHOAL_TENSOR_MAX_DIMS], st[SHOAL_TENSOR_MAX_DIMS];
	struct shoal_tensor_spec spec;
	struct shoal_tensor t;
	unsigned long long frame_id = 0;
	long long ts = 0;
	unsigned int align = 0;
	Py_buffer b;
	int err;

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|OIKL", kwlist, &buf,
					 &dtype, &shape, &strides, &align,
					 &frame_id, &ts))
		return NULL;
	if (parse_spec(dtype, shape, strides, align, &spec, sh, st))
		return NULL;
	spec.frame_id = frame_id;
	spec.timestamp_ns = ts;
	if (PyObject_GetBuffer(buf, &b, PyBUF_WRITABLE))
		return NULL;
	err = shoal_tensor_init(b.buf, (uint64_t)b.len, &spec, &t);
	r = err ? shoalpy_raise(err) : describe(&t, b.buf);
	PyBuffer_Release(&b);
	return r;
}

/* tensor_bytes(dtype, shape, strides=None, align=0) -> int */
static PyObject *tensor_bytes(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "dtype", "shape", "strides", "align", NULL };
	PyObject *dtype, *shape, *strides = Py_None;
	uint64_t sh[SHOAL_TENSOR_MAX_DIMS], st[SHOAL_TENSOR_MAX_DIMS], n;
	struct shoal_tensor_spec spec;
	unsigned int align = 0;

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OI", kwlist, &dtype,
					 &shape, &strides, &align))
		return NULL;
	if (parse_spec(dtype, shape, strides, align, &spec, sh, st))
		return NULL;
	n = shoal_tensor_bytes(&spec);
	if (!n)
		return shoalpy_raise(-EINVAL);
	return PyLong_FromUnsignedLongLong(n);
}

/*
 * DLPack (v0.8 ABI, the one numpy 1.22+ and torch consume): a capsule
 * named "dltensor" holding a DLManagedTensor whose manager keeps a buffer
 * view of the message, so the message stays held (and mapped) until the
 * consumer calls the deleter. The structs are DLPack's, written from its
 * specification.
 */
typedef struct {
	int32_t device_type; /* kDLCPU = 1 */
	int32_t device_id;
} DLDevice;
typedef struct {
	uint8_t code, bits;
	uint16_t lanes;
} DLDataType;
typedef struct {
	void *data;
	DLDevice device;
	int32_t ndim;
	DLDataType dtype;
	int64_t *shape;
	int64_t *strides; /* in elements */
	uint64_t byte_offset;
} DLTensor;
typedef struct DLManagedTensor {
	DLTensor dl_tensor;
	void *manager_ctx;
	void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;

struct dl_ctx {
	DLManagedTensor m;
	Py_buffer view; /* keeps the message held */
	int64_t shape[SHOAL_TENSOR_MAX_DIMS];
	int64_t strides[SHOAL_TENSOR_MAX_DIMS];
};

static void dl_deleter(DLManagedTensor *m)
{
	struct dl_ctx *c = m->manager_ctx;
	PyGILState_STATE g = PyGILState_Ensure();

	PyBuffer_Release(&c->view);
	PyMem_RawFree(c);
	PyGILState_Release(g);
}

static void capsule_destructor(PyObject *cap)
{
	/* Consumed capsules are renamed "used_dltensor": theirs to free. */
	if (PyCapsule_IsValid(cap, "dltensor")) {
		DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");

		if (m && m->deleter)
			m->deleter(m);
	}
	PyErr_Clear();
}

/* dlpack(buffer) -> capsule of the tensor frame in @buffer. */
static PyObject *dlpack(PyObject *self, PyObject *obj)
{
	struct shoal_tensor t;
	struct dl_ctx *c;
	uint8_t code, bits;
	PyObject *cap;
	int err;

	(void)self;
	c = PyMem_RawCalloc(1, sizeof(*c));
	if (!c)
		return PyErr_NoMemory();
	if (PyObject_GetBuffer(obj, &c->view, PyBUF_SIMPLE)) {
		PyMem_RawFree(c);
		return NULL;
	}
	err = shoal_tensor_view(c->view.buf, (uint64_t)c->view.len, &t);
	if (!err)
		err = shoal_dtype_dlpack(t.dtype, &code, &bits);
	if (err) {
		PyBuffer_Release(&c->view);
		PyMem_RawFree(c);
		return shoalpy_raise(err);
	}
	for (uint32_t i = 0; i < t.ndim; i++) {
		c->shape[i] = (int64_t)t.shape[i];
		c->strides[i] = t.strides[i] / (int64_t)t.itemsize;
	}
	c->m.dl_tensor.data = t.data;
	c->m.dl_tensor.device.device_type = 1; /* kDLCPU */
	c->m.dl_tensor.ndim = (int32_t)t.ndim;
	c->m.dl_tensor.dtype.code = code;
	c->m.dl_tensor.dtype.bits = bits;
	c->m.dl_tensor.dtype.lanes = 1;
	c->m.dl_tensor.shape = c->shape;
	c->m.dl_tensor.strides = c->strides;
	c->m.manager_ctx = c;
	c->m.deleter = dl_deleter;
	cap = PyCapsule_New(&c->m, "dltensor", capsule_destructor);
	if (!cap) {
		PyBuffer_Release(&c->view);
		PyMem_RawFree(c);
	}
	return cap;
}

static PyMethodDef tensor_methods[] = {
	{ "tensor_view", tensor_view, METH_O,
	  "tensor_view(buffer) -> dict: the tensor header at the start of\n"
	  "@buffer, checked as untrusted (docs/tensor-format.md): dtype,\n"
	  "shape, strides (bytes), offset of the data, data_bytes, frame_id,\n"
	  "timestamp_ns, used, itemsize. shoal.Error(EBADMSG) if invalid." },
	{ "tensor_init", (PyCFunction)(void (*)(void))tensor_init,
	  METH_VARARGS | METH_KEYWORDS,
	  "tensor_init(buffer, dtype, shape, strides=None, align=0,\n"
	  "frame_id=0, timestamp_ns=0) -> dict: write a tensor header into\n"
	  "a writable buffer (a Loan); returns what tensor_view() would." },
	{ "tensor_bytes", (PyCFunction)(void (*)(void))tensor_bytes,
	  METH_VARARGS | METH_KEYWORDS,
	  "tensor_bytes(dtype, shape, strides=None, align=0) -> int: the\n"
	  "payload size that always holds such a tensor (for max_payload)." },
	{ "dlpack", dlpack, METH_O,
	  "dlpack(buffer) -> PyCapsule 'dltensor' of the tensor in @buffer\n"
	  "(CPU). The buffer stays exported until the consumer is done." },
	{ NULL, NULL, 0, NULL },
};

int shoalpy_tensor_init(PyObject *module)
{
	return PyModule_AddFunctions(module, tensor_methods);
}
