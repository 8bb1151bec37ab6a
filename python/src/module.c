/* SPDX-License-Identifier: MIT */
/*
 * The extension module shoal._shoal: the exception, error conversion,
 * timeouts, registries, waiting, and module initialisation. The Python
 * package shoal (python/shoal/__init__.py) is the public face; this module
 * is its engine.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "shoalpy.h"

PyObject *shoalpy_Error;

PyObject *shoalpy_raise(int err)
{
	const char *detail;
	PyObject *args;

	if (err == SHOALPY_EXC)
		return NULL;
	detail = shoal_last_error();
	/* OSError(errno, strerror) sets .errno and .strerror; the detail
	 * (what exactly failed) goes into strerror after the errno's text. */
	args = Py_BuildValue("(is)", -err,
			     detail && *detail ? detail : strerror(-err));
	if (args) {
		PyErr_SetObject(shoalpy_Error, args);
		Py_DECREF(args);
	}
	return NULL;
}

int shoalpy_raise_int(int err)
{
	shoalpy_raise(err);
	return -1;
}

int shoalpy_clear_epipe(void)
{
	PyObject *type, *value, *tb, *e;
	int epipe;

	if (!PyErr_ExceptionMatches(shoalpy_Error))
		return 0;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	e = value ? PyObject_GetAttrString(value, "errno") : NULL;
	epipe = e && PyLong_Check(e) && PyLong_AsLong(e) == EPIPE;
	Py_XDECREF(e);
	PyErr_Clear();
	if (epipe) {
		Py_XDECREF(type);
		Py_XDECREF(value);
		Py_XDECREF(tb);
		return 1;
	}
	PyErr_Restore(type, value, tb);
	return 0;
}

int shoalpy_timeout_ns(PyObject *obj, int64_t *out)
{
	double s;

	if (!obj || obj == Py_None) {
		*out = -1;
		return 0;
	}
	s = PyFloat_AsDouble(obj);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (!(s >= 0)) {
		PyErr_SetString(PyExc_ValueError,
				"timeout must be >= 0 seconds, or None");
		return -1;
	}
	*out = s >= 9.2e9 ? -1 : (int64_t)(s * 1e9);
	return 0;
}

int shoalpy_registry(PyObject *dir, struct shoal_registry **out)
{
	struct shoal_registry_options o;
	PyObject *bytes = NULL;
	int err;

	*out = NULL;
	if (!dir || dir == Py_None)
		return 0;
	if (!PyUnicode_FSConverter(dir, &bytes))
		return -1;
	shoal_registry_options_init(&o);
	o.dir = PyBytes_AS_STRING(bytes);
	err = shoal_registry_create(&o, out);
	Py_DECREF(bytes);
	return err ? shoalpy_raise_int(err) : 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int shoalpy_wait(shoalpy_op op, void *ctx, int64_t timeout_ns)
{
	int64_t end = timeout_ns < 0 ? -1 : now_ns() + timeout_ns;
	int err;

	for (;;) {
		int64_t slice = SHOALPY_SLICE_NS;
		PyThreadState *ts;

		if (end >= 0) {
			int64_t left = end - now_ns();

			slice = left < 0 ? 0 : left < slice ? left : slice;
		}
		ts = PyEval_SaveThread();
		err = op(ctx, slice);
		PyEval_RestoreThread(ts);
		if (err != -ETIMEDOUT && err != -EAGAIN)
			return err;
		if (end >= 0 && now_ns() >= end)
			return err;
		if (PyErr_CheckSignals())
			return SHOALPY_EXC;
	}
}

int shoalpy_choice(PyObject *obj, const char *what, const char *const *names,
		   const int *values, int *out)
{
	const char *s;

	if (!obj || obj == Py_None)
		return 0; /* keep the default in *out */
	s = PyUnicode_AsUTF8(obj);
	if (!s)
		return -1;
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i])) {
			*out = values[i];
			return 0;
		}
	PyErr_Format(PyExc_ValueError, "%s: unknown value '%s'", what, s);
	return -1;
}

static const char *const strategy_names[] = { "busy_spin", "spin_yield",
					      "adaptive", "block", NULL };
static const int strategy_values[] = { SHOAL_WAIT_BUSY_SPIN,
				       SHOAL_WAIT_SPIN_YIELD,
				       SHOAL_WAIT_ADAPTIVE, SHOAL_WAIT_BLOCK };

int shoalpy_strategy(PyObject *obj, int *out)
{
	return shoalpy_choice(obj, "strategy", strategy_names, strategy_values,
			      out);
}

static const char *const access_names[] = { "owner", "group", "anyone", NULL };
static const int access_values[] = { SHOAL_ACCESS_OWNER, SHOAL_ACCESS_GROUP,
				     SHOAL_ACCESS_ANYONE };

int shoalpy_access(PyObject *obj, int *out)
{
	return shoalpy_choice(obj, "access", access_names, access_values, out);
}

int shoalpy_open(shoalpy_op op, void *ctx, int64_t timeout_ns)
{
	int err;

	if (timeout_ns == 0) {
		PyThreadState *ts = PyEval_SaveThread();

		err = op(ctx, 0);
		PyEval_RestoreThread(ts);
	} else {
		err = shoalpy_wait(op, ctx, timeout_ns);
	}
	/* A last slice's -EAGAIN is the wait's end: nothing appeared. */
	return err == -EAGAIN ? -ETIMEDOUT : err;
}

static PyObject *version(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	return PyUnicode_FromString(shoal_version());
}

static PyMethodDef methods[] = {
	{ "version", version, METH_NOARGS,
	  "version() -> str: the version of the shoal library linked." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	"_shoal",
	"The C engine of the shoal package: use `import shoal`.",
	-1,
	methods,
	NULL,
	NULL,
	NULL,
	NULL,
};

PyMODINIT_FUNC PyInit__shoal(void); /* for -Wmissing-prototypes */

PyMODINIT_FUNC PyInit__shoal(void)
{
	PyObject *m = PyModule_Create(&module);

	if (!m)
		return NULL;
	shoalpy_Error = PyErr_NewExceptionWithDoc(
		"shoal.Error",
		"A shoal call failed: .errno is the errno (errno.EPIPE: the "
		"peer is gone, errno.ENOENT: no such service, ...), .strerror "
		"says exactly what failed.",
		PyExc_OSError, NULL);
	if (!shoalpy_Error ||
	    PyModule_AddObjectRef(m, "Error", shoalpy_Error) ||
	    shoalpy_handle_types_init(m) || shoalpy_pubsub_init(m) ||
	    shoalpy_queue_init(m) || shoalpy_event_init(m) ||
	    shoalpy_rpc_init(m) || shoalpy_channel_init(m) ||
	    shoalpy_registry_init(m) || shoalpy_tensor_init(m) ||
	    shoalpy_store_init(m)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
