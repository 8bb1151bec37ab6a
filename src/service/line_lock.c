/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "arch/error.h"
#include "service/line_lock.h"

int shoal__line_lock_open(int memfd, const char *who)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	/* A description of our own: locks taken through an fd we got from
	 * the owner would belong to the owner's description. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return shoal__fail(-errno, "%s: reopen memfd for locking: %s",
				   who, strerror(errno));
	return fd;
}

int shoal__line_claim(int lock_fd, uint32_t first, uint32_t count)
{
	for (uint32_t i = first; i < first + count; i++) {
		struct flock fl = {
			.l_type = F_WRLCK,
			.l_whence = SEEK_SET,
			.l_start = (off_t)i,
			.l_len = 1,
		};

		if (fcntl(lock_fd, F_OFD_SETLK, &fl) == 0)
			return (int)i;
	}
	return -EBUSY;
}

void shoal__line_release(int lock_fd, uint32_t index)
{
	struct flock fl = {
		.l_type = F_UNLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)index,
		.l_len = 1,
	};

	if (fcntl(lock_fd, F_OFD_SETLK, &fl) < 0)
		(void)0; /* cannot fail for a lock we hold */
}

int shoal__line_locked(int lock_fd, uint32_t index)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)index,
		.l_len = 1,
	};

	if (fcntl(lock_fd, F_OFD_GETLK, &fl) < 0)
		return 1;
	return fl.l_type != F_UNLCK;
}
