/* SPDX-License-Identifier: MIT */
/*
 * One handle object under every pattern's Python type, as the C API has one
 * shape (docs/api.md): each type gives a table of its C calls (struct
 * shoalpy_ops) and gets the common verbs (send, loan, take, read, fileno,
 * arm, disarm, close, with, iteration) and the two zero-copy objects, Loan
 * and Message, with their lifetime rules (handle.c, docs/python.md).
 */
#ifndef SHOALPY_HANDLE_H
#define SHOALPY_HANDLE_H

#include "shoalpy.h"

/* A pattern's C calls; NULL where the pattern has no such verb. */
struct shoalpy_ops {
	const char *what; /* "publisher", "queue", ... for messages */
	/* Zero copy. loan and write may wait for room: as long as the
	 * handle's own send timeout, which the type sets to one slice. */
	int (*loan)(void *h, uint32_t size, void **ptr);
	int (*send)(void *h, void *ptr, uint32_t len);
	/* A send with the pattern's flags (rpc responses: more, error). */
	int (*send_flags)(void *h, void *ptr, uint32_t len, uint32_t flags);
	int (*abort)(void *h, void *ptr);
	int (*write)(void *h, const void *data, uint32_t len);
	int (*take)(void *h, struct shoalpy_taken *t, int64_t timeout_ns);
	int (*release)(void *h, struct shoalpy_taken *t);
	int (*valid)(void *h, const struct shoalpy_taken *t);
	void *(*loan_header)(void *h);
	/* Event loops. */
	int (*fd)(const void *h);
	int (*arm)(void *h);
	void (*disarm)(void *h);
	/* The end: destroy for an owner, close for a peer. */
	void (*end)(void *h);
};

typedef struct {
	PyObject_HEAD void *h;
	struct shoal_registry *reg;
	const struct shoalpy_ops *ops;
	/* The user's send timeout (-1 forever); the C handle waits one
	 * slice at a time and shoalpy_wait() loops up to this. */
	int64_t send_timeout_ns;
	uint32_t max_payload, uh_size;
	int busy, closing;
	/* Loans outstanding or viewed, Messages held: close() waits for
	 * them (handle.c). */
	Py_ssize_t pins;
	uint64_t lost; /* lossy: skipped, as the next message reports */
	struct shoalpy_pending *pending;
	/* The message iteration yielded last (borrowed: its dealloc clears
	 * it), released when the next one is asked for. */
	PyObject *iter_last;
} shoalpy_handle;

extern PyTypeObject shoalpy_LoanType, shoalpy_MessageType;

/* The start of every call on @h: open, not in use by another thread;
 * pending releases done. 0, or -1 with ValueError/RuntimeError. */
int shoalpy_enter(shoalpy_handle *h);
/* The C handle is gone (closed, or failed to open). */
void shoalpy_handle_end(shoalpy_handle *h);
/* A send timeout for the C options: one slice, or less if the user's is
 * shorter; records the user's in @h. */
int64_t shoalpy_slice_timeout(shoalpy_handle *h, int64_t user_ns);

/* New zero-copy objects of @h. */
PyObject *shoalpy_loan_new(shoalpy_handle *h, void *ptr, uint32_t size);
PyObject *shoalpy_message_new(shoalpy_handle *h, const struct shoalpy_taken *t);
/* The record of a Message (for a pattern's own verbs, e.g. an rpc
 * reply), or NULL with TypeError if @o is not a Message of @h. */
const struct shoalpy_taken *shoalpy_message_taken(shoalpy_handle *h,
						  PyObject *o);

/* Verbs: a type's method table points at these. */
PyObject *shoalpy_h_send(PyObject *self, PyObject *args, PyObject *kw);
PyObject *shoalpy_h_loan(PyObject *self, PyObject *args, PyObject *kw);
PyObject *shoalpy_h_take(PyObject *self, PyObject *args, PyObject *kw);
PyObject *shoalpy_h_read(PyObject *self, PyObject *args, PyObject *kw);
PyObject *shoalpy_h_fileno(PyObject *self, PyObject *noargs);
PyObject *shoalpy_h_arm(PyObject *self, PyObject *noargs);
PyObject *shoalpy_h_disarm(PyObject *self, PyObject *noargs);
PyObject *shoalpy_h_close(PyObject *self, PyObject *noargs);
PyObject *shoalpy_h_enter(PyObject *self, PyObject *noargs);
PyObject *shoalpy_h_exit(PyObject *self, PyObject *args);
PyObject *shoalpy_h_closed(PyObject *self, void *closure);
PyObject *shoalpy_h_iternext(PyObject *self);
void shoalpy_h_dealloc(PyObject *self);

/* send() of a Loan of @h (@len < 0: its length). */
PyObject *shoalpy_loan_send(shoalpy_handle *h, PyObject *loan, Py_ssize_t len);
/* The same through ops->send_flags with @flags; TypeError if @loan is not
 * a Loan. */
PyObject *shoalpy_loan_send_flags(shoalpy_handle *h, PyObject *loan,
				  Py_ssize_t len, uint32_t flags);
/* take() within @t ns: a Message, None on timeout, NULL raised. */
PyObject *shoalpy_take(shoalpy_handle *h, int64_t t);

/* Method table entries for the common verbs, by what a type can do. */
#define SHOALPY_M_SEND                                                                     \
	{                                                                                  \
		"send", (PyCFunction)(void (*)(void))shoalpy_h_send,                       \
			METH_VARARGS | METH_KEYWORDS,                                      \
			"send(data, length=None): a bytes-like object (copied), or a "     \
			"Loan of this handle (sent in place, @length bytes, default its "  \
			"length). Waits for room up to send_timeout: shoal.Error(EAGAIN) " \
			"after."                                                           \
	}
#define SHOALPY_M_LOAN                                                                   \
	{                                                                                \
		"loan", (PyCFunction)(void (*)(void))shoalpy_h_loan,                     \
			METH_VARARGS | METH_KEYWORDS,                                    \
			"loan(size=max) -> Loan: a writable buffer in shared memory to " \
			"fill in place, then send(loan) or loan.abort()."                \
	}
#define SHOALPY_M_TAKE                                                      \
	{ "take", (PyCFunction)(void (*)(void))shoalpy_h_take,              \
	  METH_VARARGS | METH_KEYWORDS,                                     \
	  "take(timeout=None) -> Message | None: the next message in "      \
	  "place (a read-only buffer), None when nothing came in time "     \
	  "(None: wait forever). shoal.Error(EPIPE) once the peer is gone " \
	  "and everything was taken." },                                    \
	{                                                                   \
		"read", (PyCFunction)(void (*)(void))shoalpy_h_read,        \
			METH_VARARGS | METH_KEYWORDS,                       \
			"read(timeout=None) -> bytes | None: the next "     \
			"message, copied."                                  \
	}
#define SHOALPY_M_COMMON                                                     \
	{ "fileno", (PyCFunction)shoalpy_h_fileno, METH_NOARGS,              \
	  "fileno() -> int: readable when a wait may end. arm() first." },   \
		{ "arm", (PyCFunction)shoalpy_h_arm, METH_NOARGS,            \
		  "arm() -> bool: ask for a wake-up on fileno(); True: "     \
		  "ready already, do not poll." },                           \
		{ "disarm", (PyCFunction)shoalpy_h_disarm, METH_NOARGS,      \
		  "disarm(): after the poll." },                             \
		{ "close", (PyCFunction)shoalpy_h_close, METH_NOARGS,        \
		  "close(): the end of this handle (an owner withdraws its " \
		  "service); deferred while a loan is outstanding or a "     \
		  "message held (or viewed) until the last is done." },      \
		{ "__enter__", shoalpy_h_enter, METH_NOARGS, NULL },         \
	{                                                                    \
		"__exit__", shoalpy_h_exit, METH_VARARGS, NULL               \
	}

/* Registers Loan and Message in @module. */
int shoalpy_handle_types_init(PyObject *module);

#endif
