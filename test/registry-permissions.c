/* shoal-test: label=multiproc timeout=120 */
/* SPDX-License-Identifier: MIT */
/*
 * Who may use a registry, with real users. Each role runs in a forked child
 * that drops root for a uid with no passwd entry: 60001 (the owner), 60002
 * (another user, or a member of group 60100), 60003 (a non-member). Needs
 * root to change uid; skipped otherwise.
 *
 * A private registry is the owner's alone: created 0700 whatever the umask,
 * refused when others could write it or when someone else owns it; a
 * symlink to it is followed only when its user or root owns the link. Another user can neither attach to it, list it, read a
 * descriptor, remove an entry, nor get the fds from the owner: pidfd_getfd
 * is refused by the kernel (ptrace rules) and the fd server refuses by
 * SO_PEERCRED even a client that knows the socket, name and epoch.
 *
 * A group registry (2770, group 60100) is shared by the group's members: a
 * member opens a service published SHOAL_ACCESS_GROUP, necessarily through
 * SCM_RIGHTS (pidfd_getfd never works across uids), and shares its memory
 * with the owner; a service published SHOAL_ACCESS_OWNER in the same
 * registry stays closed to it; a non-member cannot even attach.
 *
 * Changing uid makes a process non-dumpable, which alone would make
 * pidfd_getfd fail even between processes of one uid; every role sets
 * PR_SET_DUMPABLE again, as a normal (never setuid) process is.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"
#include "registry_util.h"
#include "user_util.h"
#include "pidfd_util.h"
#include "registry/registry_internal.h"

#include <dirent.h>
#include <ftw.h>
#include <libgen.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define UID_OWNER 60001
#define UID_OTHER 60002
#define UID_THIRD 60003
#define GID_SHARED 60100

/* Hang guard for every role; far above what any of them needs. */
#define ROLE_TIMEOUT_S 60
#define FETCH_TIMEOUT_NS (5LL * 1000000000)

/* What a role needs to know; set by the parent before it forks the role. */
static char path[256];
static char top[256];

static const gid_t shared_group[] = { GID_SHARED };

/* Runs @fn(@arg) in a child as @uid, under the role's hang guard. */
static int as_user(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
		   int (*fn)(void *), void *arg)
{
	return test_as_user(uid, gid, groups, ngroups, fn, arg, ROLE_TIMEOUT_S);
}

/* A fresh registry path whose parent belongs to @uid. */
static int fresh_path(uid_t uid)
{
	CHECK_EQ(test_fresh_path(path, sizeof(path), top, sizeof(top), uid), 0);
	return TEST_PASS;
}

static void remove_tree(void)
{
	test_remove_tree(top);
}

static int open_registry(int group, struct shoal_registry **reg)
{
	struct shoal_registry_options o;

	shoal_registry_options_init(&o);
	o.dir = path;
	o.group = (uint32_t)group;
	o.gid = group ? GID_SHARED : 0;
	return shoal_registry_create(&o, reg);
}

/* The descriptor of @name, read as root. */
static int read_descriptor(const char *name, struct shoal__descriptor *d)
{
	unsigned char buf[SHOAL__DESC_SIZE];
	struct shoal_service_info info;
	char file[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(file, sizeof(file), "%s/%s", path, name);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK_EQ(n, SHOAL__DESC_SIZE);
	CHECK_EQ(shoal__descriptor_parse(buf, (size_t)n, d, &info), 0);
	return TEST_PASS;
}

/* shoal_registry_list() callback: counts, and remembers the last name. */
struct seen {
	int n;
	char name[SHOAL_SERVICE_NAME_MAX + 1];
};

static int see(const struct shoal_service_info *info, void *user_data)
{
	struct seen *s = user_data;

	s->n++;
	memcpy(s->name, info->name, sizeof(s->name));
	return 0;
}

/* ---- the owner role: publishes, then stays until told to go ----------- */

/* What the owner publishes. */
struct owner_plan {
	int group; /* a group registry */
	const char *names[2];
	uint32_t access[2];
	int count;
	/* Written by a peer at data + 64 while the owner waits. */
	const char *expect_note;
	/* Nonzero: withdrawing must finish within this hang guard. */
	unsigned withdraw_guard_s;
};

static int owner_main(const struct owner_plan *plan, int ready, int go)
{
	struct test_service ts[2];
	struct shoal_registry *reg;
	char c = 'k', note[64];
	void *data;

	CHECK_EQ(open_registry(plan->group, &reg), 0);
	for (int i = 0; i < plan->count; i++) {
		CHECK_EQ(test_publish(reg, plan->names[i], plan->access[i],
				      SHOAL_PUBLISH_SERVER_THREAD, &ts[i]),
			 0);
	}
	CHECK_EQ(write(ready, &c, 1), 1);
	/* Until the parent closes its end. */
	while (read(go, &c, 1) > 0)
		;
	if (plan->expect_note) {
		CHECK_EQ(shoal_segment_find(ts[0].seg, "data", 0, &data, NULL),
			 0);
		memcpy(note, (char *)data + 64, sizeof(note));
		note[sizeof(note) - 1] = '\0';
		if (strcmp(note, plan->expect_note)) {
			fprintf(stderr, "owner: note '%s', want '%s'\n", note,
				plan->expect_note);
			return TEST_FAIL;
		}
	}
	if (plan->withdraw_guard_s)
		alarm(plan->withdraw_guard_s);
	for (int i = 0; i < plan->count; i++)
		test_unpublish(&ts[i]);
	alarm(0);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int owner_role(void *plan, int ready, int go)
{
	return owner_main(plan, ready, go);
}

/* Forks the owner as uid 60001 (a member of 60100) and waits for it. */
static int start_owner(const struct owner_plan *plan, struct test_role *o)
{
	return test_role_start(o, UID_OWNER, UID_OWNER, shared_group, 1,
			       owner_role, (void *)plan, ROLE_TIMEOUT_S);
}

static int stop_owner(struct test_role *o)
{
	return test_role_stop(o, ROLE_TIMEOUT_S);
}

/* ---- directory creation ----------------------------------------------- */

struct mode_case {
	mode_t umask;
	int group;
};

static int create_mode(void *arg)
{
	const struct mode_case *mc = arg;
	struct shoal_registry *reg;
	struct stat st;

	umask(mc->umask);
	CHECK_EQ(open_registry(mc->group, &reg), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_uid, UID_OWNER);
	if (mc->group) {
		CHECK_EQ(st.st_mode & 07777, 02770);
		CHECK_EQ(st.st_gid, GID_SHARED);
	} else {
		CHECK_EQ(st.st_mode & 07777, 0700);
	}
	/* Attaching again to what we created is fine. */
	shoal_registry_destroy(reg);
	CHECK_EQ(open_registry(mc->group, &reg), 0);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* 0700 (2770 for a group registry) whatever the umask lets through. */
static int test_created_mode_ignores_umask(void)
{
	static const struct mode_case cases[] = {
		{ 0, 0 }, { 077, 0 }, { 0, 1 }, { 077, 1 }, { 022, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
		CHECK_EQ(as_user(UID_OWNER, UID_OWNER, shared_group, 1,
				 create_mode, (void *)&cases[i]),
			 TEST_PASS);
		remove_tree();
	}
	return TEST_PASS;
}

/* ---- a private registry and another user ------------------------------ */

static struct shoal__descriptor svc_desc;
static pid_t owner_pid;

static int same_uid_peer(void *arg)
{
	struct shoal_registry *reg;
	struct shoal_service *svc;
	const char *marker;
	char want[64];

	(void)arg;
	snprintf(want, sizeof(want), "owner %d", (int)owner_pid);
	CHECK_EQ(open_registry(0, &reg), 0);
	CHECK_EQ(shoal_registry_open(reg, "svc", 0, &svc), 0);
	/* Same uid, both dumpable: the kernel lets pidfd_getfd through. */
	CHECK_EQ(shoal_service_fd_source(svc), SHOAL_FDS_BY_PIDFD_GETFD);
	marker = test_marker(svc);
	CHECK(marker && !strcmp(marker, want));
	shoal_service_close(svc);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int other_user(void *arg)
{
	struct shoal_registry *reg = NULL;
	char file[PATH_MAX];
	int fds[2];

	(void)arg;
	/* Cannot attach (the directory is 0700), so cannot list, open or
	 * clean through shoal; nor around it. */
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	CHECK(reg == NULL);
	errno = 0;
	CHECK(opendir(path) == NULL && errno == EACCES);
	snprintf(file, sizeof(file), "%s/svc", path);
	errno = 0;
	CHECK(open(file, O_RDONLY) < 0 && errno == EACCES);
	errno = 0;
	CHECK(unlink(file) < 0 && errno == EACCES);
	/* Knowing the owner's pid and fd numbers (the parent read them for
	 * us) does not help: pidfd_getfd across uids is refused... */
	CHECK_EQ(test_getfd_refusal(owner_pid, svc_desc.memfd), EPERM);
	/* ...and so is asking the fd server, with the right socket, name and
	 * epoch: the server judges by SO_PEERCRED. */
	CHECK_EQ(shoal__fdclient_fetch(
			 svc_desc.socket_name, "svc", svc_desc.epoch, fds,
			 1 + svc_desc.eventfd_count, FETCH_TIMEOUT_NS),
		 -EACCES);
	return TEST_PASS;
}

static int test_private_registry_closed_to_others(void)
{
	static const struct owner_plan plan = {
		.names = { "svc" },
		.access = { SHOAL_ACCESS_OWNER },
		.count = 1,
	};
	char file[PATH_MAX];
	struct test_role o;
	struct stat st;

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(start_owner(&plan, &o), TEST_PASS);
	owner_pid = o.pid;
	CHECK_EQ(read_descriptor("svc", &svc_desc), TEST_PASS);
	CHECK(svc_desc.flags & SHOAL__DESC_FLAG_FD_SERVER);

	CHECK_EQ(as_user(UID_OWNER, UID_OWNER, NULL, 0, same_uid_peer, NULL),
		 TEST_PASS);
	CHECK_EQ(as_user(UID_OTHER, UID_OTHER, NULL, 0, other_user, NULL),
		 TEST_PASS);
	/* Nothing was removed. */
	snprintf(file, sizeof(file), "%s/svc", path);
	CHECK_EQ(stat(file, &st), 0);

	CHECK_EQ(stop_owner(&o), TEST_PASS);
	remove_tree();
	return TEST_PASS;
}

/* ---- directories that must be refused --------------------------------- */

static int unsafe_modes(void *arg)
{
	struct shoal_registry *reg = NULL;

	(void)arg;
	CHECK_EQ(open_registry(0, &reg), 0);
	shoal_registry_destroy(reg);
	reg = NULL;
	/* Writable by others: anyone could plant or remove entries. */
	CHECK_EQ(chmod(path, 0777), 0);
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	CHECK(reg == NULL);
	CHECK_EQ(chmod(path, 0703), 0);
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	/* A private registry writable by its group. */
	CHECK_EQ(chmod(path, 0770), 0);
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	/* A group registry writable by others. */
	CHECK_EQ(chown(path, (uid_t)-1, GID_SHARED), 0);
	CHECK_EQ(chmod(path, 02777), 0);
	CHECK_EQ(open_registry(1, &reg), -EACCES);
	CHECK(reg == NULL);
	/* Back to sane: accepted again. */
	CHECK_EQ(chmod(path, 0700), 0);
	CHECK_EQ(open_registry(0, &reg), 0);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int foreign_dir(void *arg)
{
	struct shoal_registry *reg = NULL;

	(void)arg;
	/* Readable and searchable by us (0755), owned by 60001. */
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	/* Nor is it a group registry of 60100, which we are not in. */
	CHECK_EQ(open_registry(1, &reg), -EACCES);
	CHECK(reg == NULL);
	return TEST_PASS;
}

/*
 * A symlink we own (or root owns) as the registry path is followed once,
 * and the directory it leads to is checked as any registry; a dangling one
 * is -ENOENT and creates nothing; a regular file is -ENOTDIR.
 */
static int symlinked_dir(void *arg)
{
	struct shoal_registry *reg = NULL;
	char real[PATH_MAX];
	struct stat st;

	(void)arg;
	snprintf(real, sizeof(real), "%s/real", top);
	CHECK_EQ(mkdir(real, 0700), 0);
	CHECK_EQ(symlink(real, path), 0);
	CHECK_EQ(open_registry(0, &reg), 0);
	/* The handle names the directory itself: nothing follows the link
	 * again. */
	CHECK(strcmp(shoal_registry_path(reg), real) == 0);
	shoal_registry_destroy(reg);
	reg = NULL;
	/* What it leads to is checked as usual: not group 60100's. */
	CHECK_EQ(open_registry(1, &reg), -EACCES);
	CHECK(reg == NULL);
	CHECK_EQ(lstat(path, &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	CHECK_EQ(stat(real, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
	/* A dangling symlink: nothing is created. */
	CHECK_EQ(rmdir(real), 0);
	CHECK_EQ(open_registry(0, &reg), -ENOENT);
	CHECK_EQ(lstat(real, &st), -1);
	/* Nor is a regular file a registry. */
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	CHECK_EQ(open_registry(0, &reg), -ENOTDIR);
	CHECK(reg == NULL);
	return TEST_PASS;
}

/* The link to our 0700 registry belongs to another uid: refused, since
 * its owner decides where it leads. */
static int foreign_link(void *arg)
{
	struct shoal_registry *reg = NULL;

	(void)arg;
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	CHECK(reg == NULL);
	CHECK(strstr(shoal_last_error(), "symlink owned by uid 60002") != NULL);
	return TEST_PASS;
}

/* The link belongs to root: followed. */
static int root_link(void *arg)
{
	struct shoal_registry *reg = NULL;

	(void)arg;
	CHECK_EQ(open_registry(0, &reg), 0);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* A link at the registry path to a 0700 directory of 60001's, owned by
 * @link_uid. */
static int make_link(uid_t link_uid)
{
	char real[PATH_MAX];

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	snprintf(real, sizeof(real), "%s/real", top);
	CHECK_EQ(mkdir(real, 0700), 0);
	CHECK_EQ(chown(real, UID_OWNER, UID_OWNER), 0);
	CHECK_EQ(symlink(real, path), 0);
	CHECK_EQ(lchown(path, link_uid, link_uid), 0);
	return TEST_PASS;
}

/* Unsafe directories are refused, even to their owner. */
static int test_unsafe_dirs_refused(void)
{
	struct shoal_registry *reg = NULL;

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(as_user(UID_OWNER, UID_OWNER, shared_group, 1, unsafe_modes,
			 NULL),
		 TEST_PASS);
	remove_tree();

	/* Owned by 60001, mode 0755: 60002 can open it, and must refuse. */
	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(mkdir(path, 0755), 0);
	CHECK_EQ(chown(path, UID_OWNER, UID_OWNER), 0);
	CHECK_EQ(chmod(path, 0755), 0);
	CHECK_EQ(as_user(UID_OTHER, UID_OTHER, NULL, 0, foreign_dir, NULL),
		 TEST_PASS);
	/* Root is no exception: the directory is not root's. */
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	CHECK(reg == NULL);
	remove_tree();

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(as_user(UID_OWNER, UID_OWNER, shared_group, 1, symlinked_dir,
			 NULL),
		 TEST_PASS);
	remove_tree();
	CHECK_EQ(make_link(UID_OTHER), TEST_PASS);
	CHECK_EQ(as_user(UID_OWNER, UID_OWNER, NULL, 0, foreign_link, NULL),
		 TEST_PASS);
	remove_tree();
	CHECK_EQ(make_link(0), TEST_PASS);
	CHECK_EQ(as_user(UID_OWNER, UID_OWNER, NULL, 0, root_link, NULL),
		 TEST_PASS);
	remove_tree();
	return TEST_PASS;
}

/* ---- a group registry ------------------------------------------------- */

static struct shoal__descriptor shared_desc, private_desc;

static int member(void *arg)
{
	struct shoal_registry *reg = NULL;
	struct shoal_service *svc = NULL;
	const char *marker;
	char want[64];
	struct seen seen = { 0 };
	int fds[2];

	(void)arg;
	snprintf(want, sizeof(want), "owner %d", (int)owner_pid);
	/* Not ours as a private registry; ours as a group one. */
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	CHECK_EQ(open_registry(1, &reg), 0);

	/* pidfd_getfd is refused across uids... */
	CHECK_EQ(test_getfd_refusal(owner_pid, shared_desc.memfd), EPERM);
	/* ...so the open goes through the owner's fd server. */
	CHECK_EQ(shoal_registry_open(reg, "shared", 0, &svc), 0);
	CHECK_EQ(shoal_service_fd_source(svc), SHOAL_FDS_BY_SCM_RIGHTS);
	marker = test_marker(svc);
	CHECK(marker && !strcmp(marker, want));
	/* The memory is the owner's: it checks this note later. */
	snprintf((char *)marker + 64, 64, "member");
	CHECK_EQ(shoal_service_alive(svc), 1);
	shoal_service_close(svc);

	/* The owner-only service: its descriptor is not even readable (0600),
	 * and its fd server refuses us too. */
	svc = NULL;
	CHECK_EQ(shoal_registry_open(reg, "private", 0, &svc), -EACCES);
	CHECK(svc == NULL);
	CHECK_EQ(shoal_registry_open(reg, "private", SHOAL_OPEN_NO_PIDFD_GETFD,
				     &svc),
		 -EACCES);
	CHECK_EQ(shoal__fdclient_fetch(private_desc.socket_name, "private",
				       private_desc.epoch, fds,
				       1 + private_desc.eventfd_count,
				       FETCH_TIMEOUT_NS),
		 -EACCES);

	/* Listing shows what we may see; cleaning removes nothing live. */
	CHECK_EQ(shoal_registry_list(reg, see, &seen), 1);
	CHECK_EQ(seen.n, 1);
	CHECK(!strcmp(seen.name, "shared"));
	CHECK_EQ(shoal_registry_clean(reg), 0);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int non_member(void *arg)
{
	struct shoal_registry *reg = NULL;
	int fds[2];

	(void)arg;
	CHECK_EQ(open_registry(1, &reg), -EACCES);
	CHECK_EQ(open_registry(0, &reg), -EACCES);
	CHECK(reg == NULL);
	/* Knowing the socket of the group service does not help. */
	CHECK_EQ(shoal__fdclient_fetch(
			 shared_desc.socket_name, "shared", shared_desc.epoch,
			 fds, 1 + shared_desc.eventfd_count, FETCH_TIMEOUT_NS),
		 -EACCES);
	return TEST_PASS;
}

static int test_group_registry(void)
{
	static const struct owner_plan plan = {
		.group = 1,
		.names = { "shared", "private" },
		.access = { SHOAL_ACCESS_GROUP, SHOAL_ACCESS_OWNER },
		.count = 2,
		.expect_note = "member",
	};
	struct test_role o;

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(start_owner(&plan, &o), TEST_PASS);
	owner_pid = o.pid;
	CHECK_EQ(read_descriptor("shared", &shared_desc), TEST_PASS);
	CHECK_EQ(read_descriptor("private", &private_desc), TEST_PASS);

	/* A member: another uid, another primary group, and 60100 among its
	 * supplementary groups (the fd server must look there). */
	CHECK_EQ(as_user(UID_OTHER, UID_OTHER, shared_group, 1, member, NULL),
		 TEST_PASS);
	CHECK_EQ(as_user(UID_THIRD, UID_THIRD, NULL, 0, non_member, NULL),
		 TEST_PASS);

	CHECK_EQ(stop_owner(&o), TEST_PASS);
	remove_tree();
	return TEST_PASS;
}

/* ---- a member holding the removal lock -------------------------------- */

/*
 * Holds an exclusive flock on the group registry's .lock until @go hangs
 * up. Any member can: flock needs only read access, and a member may create
 * the file if it is not there yet (mode 0660, so that the group can use it
 * as it should: this test is not about .lock's mode).
 */
static int lock_holder(int ready, int go)
{
	char lock[PATH_MAX], c = 'k';
	struct stat st;
	int fd;

	snprintf(lock, sizeof(lock), "%s/.lock", path);
	fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0660);
	CHECK(fd >= 0);
	CHECK_EQ(fstat(fd, &st), 0);
	if (st.st_uid == geteuid())
		CHECK_EQ(fchmod(fd, 0660), 0);
	CHECK_EQ(flock(fd, LOCK_EX), 0);
	CHECK_EQ(write(ready, &c, 1), 1);
	while (read(go, &c, 1) > 0)
		;
	close(fd);
	return TEST_PASS;
}

/*
 * A member of a group registry must not be able to wedge other members:
 * holding the directory's removal lock (.lock) forever must not make the
 * owner's shoal_entry_destroy() block forever (DESIGN.md: "never a hang
 * without a timeout"). Whether the entry is then removed or left stale, it
 * is no longer a live service.
 */
static int test_lock_holder_cannot_wedge_owner(void)
{
	static const struct owner_plan plan = {
		.group = 1,
		.names = { "svc" },
		.access = { SHOAL_ACCESS_GROUP },
		.count = 1,
		.withdraw_guard_s = 10,
	};
	struct shoal_registry *reg = NULL;
	struct shoal_service *svc = NULL;
	int ready[2], go[2], ok;
	struct test_role o;
	pid_t holder;
	char c = 0;

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(start_owner(&plan, &o), TEST_PASS);
	CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
	CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
	holder = fork();
	CHECK(holder >= 0);
	if (holder == 0) {
		close(ready[0]);
		close(go[1]);
		close(o.go); /* or the owner would wait for us too */
		alarm(ROLE_TIMEOUT_S);
		if (test_become(UID_OTHER, UID_OTHER, shared_group, 1))
			_exit(TEST_FAIL);
		_exit(lock_holder(ready[1], go[0]));
	}
	close(ready[1]);
	close(go[0]);
	ok = read(ready[0], &c, 1) == 1 && c == 'k';
	close(ready[0]);
	/* The owner withdraws while the lock is held. */
	if (stop_owner(&o) != TEST_PASS) {
		fprintf(stderr, "owner: withdrawing its entry did not finish "
				"while a member held .lock\n");
		ok = 0;
	}
	close(go[1]);
	ok = test_wait_child(holder, ROLE_TIMEOUT_S) && ok;
	if (!ok) {
		remove_tree();
		return TEST_FAIL;
	}
	CHECK_EQ(open_registry(1, &reg), 0);
	CHECK_EQ(shoal_registry_open(reg, "svc", 0, &svc), -ENOENT);
	shoal_registry_destroy(reg);
	remove_tree();
	return TEST_PASS;
}

/* ---- modes that must not depend on the umask -------------------------- */

static int owner_with_umask(void *arg)
{
	struct shoal_registry *reg;
	struct test_service ts;
	char c;

	umask(*(const mode_t *)arg);
	CHECK_EQ(open_registry(1, &reg), 0);
	CHECK_EQ(test_publish(reg, "shared", SHOAL_ACCESS_GROUP,
			      SHOAL_PUBLISH_SERVER_THREAD, &ts),
		 0);
	/* Withdrawing an entry takes the removal lock: creates .lock. */
	{
		struct test_service tmp;

		CHECK_EQ(test_publish(reg, "tmp", SHOAL_ACCESS_GROUP, 0, &tmp),
			 0);
		test_unpublish(&tmp);
	}
	CHECK_EQ(write(STDOUT_FILENO, "k", 1), 1);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int member_opens_shared(void *arg)
{
	struct shoal_registry *reg = NULL;
	struct shoal_service *svc = NULL;

	umask(*(const mode_t *)arg);
	CHECK_EQ(open_registry(1, &reg), 0);
	CHECK_EQ(shoal_registry_open(reg, "shared", 0, &svc), 0);
	CHECK_EQ(shoal_service_fd_source(svc), SHOAL_FDS_BY_SCM_RIGHTS);
	shoal_service_close(svc);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* A member publishes and withdraws its own entries, and cleans up after a
 * member that died: all need the removal lock another user created. */
static int member_own_entries(void *arg)
{
	struct shoal_registry *reg = NULL;
	struct test_service ts;
	char file[PATH_MAX];
	struct stat st;
	pid_t pid;

	umask(*(const mode_t *)arg);
	CHECK_EQ(open_registry(1, &reg), 0);
	CHECK_EQ(test_publish(reg, "mine", SHOAL_ACCESS_GROUP, 0, &ts), 0);
	test_unpublish(&ts);
	snprintf(file, sizeof(file), "%s/mine", path);
	CHECK_EQ(lstat(file, &st), -1);

	/* A member that dies without withdrawing its entry. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(test_publish(reg, "left", SHOAL_ACCESS_GROUP, 0, &ts) ?
			      1 :
			      0);
	CHECK(test_wait_child(pid, ROLE_TIMEOUT_S));
	CHECK_EQ(shoal_registry_clean(reg), 1);
	snprintf(file, sizeof(file), "%s/left", path);
	CHECK_EQ(lstat(file, &st), -1);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/*
 * An owner with umask @mask publishes "shared" (SHOAL_ACCESS_GROUP) in a
 * fresh group registry and withdraws one service (creating .lock); then
 * @check runs as a member. With @want_mode, the descriptor's mode is
 * checked first.
 */
static int with_owner_umask(mode_t mask, mode_t want_mode, int (*check)(void *))
{
	char file[PATH_MAX];
	struct stat st;
	int in[2], out[2], ok;
	pid_t owner;
	char c = 0;

	CHECK_EQ(fresh_path(UID_OWNER), TEST_PASS);
	CHECK_EQ(pipe(in), 0);
	CHECK_EQ(pipe(out), 0);
	owner = fork();
	CHECK(owner >= 0);
	if (owner == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[1]);
		close(out[0]);
		alarm(ROLE_TIMEOUT_S);
		if (test_become(UID_OWNER, UID_OWNER, shared_group, 1))
			_exit(TEST_FAIL);
		_exit(owner_with_umask(&mask));
	}
	close(in[0]);
	close(out[1]);
	ok = read(out[0], &c, 1) == 1 && c == 'k';
	close(out[0]);
	if (ok && want_mode) {
		snprintf(file, sizeof(file), "%s/shared", path);
		ok = stat(file, &st) == 0;
		if (ok && (st.st_mode & 07777) != want_mode) {
			fprintf(stderr,
				"owner umask %03o: descriptor mode %03o, want "
				"%03o\n",
				mask, st.st_mode & 07777, want_mode);
			ok = 0;
		}
	}
	if (ok)
		ok = as_user(UID_OTHER, UID_OTHER, shared_group, 1, check,
			     &mask) == TEST_PASS;
	close(in[1]);
	ok = test_wait_child(owner, ROLE_TIMEOUT_S) && ok;
	remove_tree();
	return ok ? TEST_PASS : TEST_FAIL;
}

/*
 * A group service's descriptor is 0640 (docs/registry-format.md) whatever
 * the owner's umask, as the directory's mode is: with umask 077 it must not
 * become 0600 and close the service to the group.
 */
static int test_group_descriptor_mode_ignores_umask(void)
{
	CHECK_EQ(with_owner_umask(022, 0640, member_opens_shared), TEST_PASS);
	CHECK_EQ(with_owner_umask(077, 0640, member_opens_shared), TEST_PASS);
	return TEST_PASS;
}

/*
 * Every member needs the removal lock (.lock) to withdraw its own entries
 * and to clean: the .lock another member created (with the usual umask 022)
 * must not keep it out.
 */
static int test_member_withdraws_and_cleans(void)
{
	CHECK_EQ(with_owner_umask(022, 0, member_own_entries), TEST_PASS);
	CHECK_EQ(with_owner_umask(077, 0, member_own_entries), TEST_PASS);
	return TEST_PASS;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: changing uid needs root\n");
		return TEST_SKIP;
	}
	RUN(test_created_mode_ignores_umask);
	RUN(test_private_registry_closed_to_others);
	RUN(test_unsafe_dirs_refused);
	RUN(test_group_registry);
	RUN(test_group_descriptor_mode_ignores_umask);
	RUN(test_member_withdraws_and_cleans);
	RUN(test_lock_holder_cannot_wedge_owner);
	return test_result();
}
