/* SPDX-License-Identifier: MIT */
/*
 * What the files of the extension module share: the exception, turning a
 * shoal error into it, timeouts, registries, and the one way a call waits
 * (GIL released, interruptible by signals).
 *
 * Threads: a shoal handle is one thread at a time. Every handle object has
 * a `busy` flag, set while a call runs with the GIL released; another
 * thread's call on the same object then raises RuntimeError instead of
 * racing, except releases and aborts triggered by garbage collection,
 * which are queued and done by the handle's next call (pending list).
 */
#ifndef SHOALPY_H
#define SHOALPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <shoal.h>

/* A wait is cut in slices of this length so that Ctrl-C (any signal with
 * a Python handler) is seen within it. */
#define SHOALPY_SLICE_NS 100000000LL

/* Returned by shoalpy_wait() when a Python exception is set (a signal
 * handler raised). Not an errno. */
#define SHOALPY_EXC (-100000)

extern PyObject *shoalpy_Error;

/* Raise shoal.Error for @err (a negative errno) with shoal_last_error()'s
 * detail; returns NULL. SHOALPY_EXC: the exception is set already. */
PyObject *shoalpy_raise(int err);
/* shoalpy_raise() for functions returning int: -1. */
int shoalpy_raise_int(int err);

/* With a shoal.Error(EPIPE) pending: clears it and returns 1 (an
 * iteration then ends: the peer is gone). Any other exception stays: 0. */
int shoalpy_clear_epipe(void);

/* Seconds (int or float, >= 0) or None (forever: -1) to nanoseconds.
 * 0, or -1 with TypeError/ValueError set. */
int shoalpy_timeout_ns(PyObject *obj, int64_t *out);

/* registry= keyword: None (the default registry: *out = NULL) or a path
 * (str or os.PathLike) opened with shoal_registry_create(). 0 or -1. */
int shoalpy_registry(PyObject *dir, struct shoal_registry **out);

/*
 * Runs @op(ctx, slice_ns) with the GIL released until it returns anything
 * but -ETIMEDOUT/-EAGAIN or @timeout_ns (-1: forever) is spent, checking
 * for signals between slices. Returns op's last result or SHOALPY_EXC.
 */
typedef int (*shoalpy_op)(void *ctx, int64_t slice_ns);
int shoalpy_wait(shoalpy_op op, void *ctx, int64_t timeout_ns);

/* Parses a string keyword among @names (NULL-terminated) into the value
 * at the same index of @values. 0, or -1 with ValueError set. */
int shoalpy_choice(PyObject *obj, const char *what, const char *const *names,
		   const int *values, int *out);

/*
 * A message a handle took, whatever its pattern: the common view (msg)
 * and the pattern's own record (raw: a struct shoal_request for an rpc
 * server, a struct shoal_response for a client), which its release needs.
 * id and flags: rpc's correlation id and SHOAL_RPC_* flags.
 */
struct shoalpy_taken {
	struct shoal_msg msg;
	uint64_t id;
	uint32_t flags;
	uint32_t pad;
	union {
		struct shoal_request req;
		struct shoal_response resp;
		uint64_t align;
	} raw;
};

/* strategy= ('busy_spin', 'spin_yield', 'adaptive', 'block') and access=
 * ('owner', 'group', 'anyone') keywords: shoalpy_choice() on the one table
 * of each. */
int shoalpy_strategy(PyObject *obj, int *out);
int shoalpy_access(PyObject *obj, int *out);

/*
 * Creating or opening a handle: @op(ctx, timeout) once with the GIL
 * released when @timeout_ns is 0 (create, or open without waiting), else
 * through shoalpy_wait() up to @timeout_ns, each slice a wait of the C
 * open for the name to appear. Returns op's result (-ETIMEDOUT when
 * nothing appeared in time), or SHOALPY_EXC.
 */
int shoalpy_open(shoalpy_op op, void *ctx, int64_t timeout_ns);

/* A handle's pending work, done by its next call: see the top. */
struct shoalpy_pending {
	struct shoalpy_pending *next;
	struct shoalpy_taken taken; /* a message to release */
	void *ptr;		    /* or a loan to abort */
};

/* The types and their registration (each in its own file). */
int shoalpy_pubsub_init(PyObject *module);
int shoalpy_registry_init(PyObject *module);
int shoalpy_tensor_init(PyObject *module);

int shoalpy_handle_types_init(PyObject *module);
int shoalpy_queue_init(PyObject *module);
int shoalpy_rpc_init(PyObject *module);
int shoalpy_event_init(PyObject *module);
int shoalpy_channel_init(PyObject *module);
int shoalpy_store_init(PyObject *module);

#endif
