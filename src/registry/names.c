/* SPDX-License-Identifier: MIT */
/*
 * Service names and their file names.
 *
 * A service name is 1..255 bytes of printable ASCII other than space and '%'
 * (0x21..0x7e), hierarchical with '/' ("camera/front/frames"): it may not
 * start with '.' or '/', end with '/', or hold an empty component ("//").
 * Its file name in the registry directory is the name with every '/'
 * replaced by '%'. Since '%' cannot occur in a name, the mapping is
 * one-to-one, and since it keeps the length, every valid name has a valid
 * file name (at most NAME_MAX = 255 bytes). A leading '.' is reserved for
 * the registry's own files (".lock").
 *
 * A pub/sub service with several publishers has one entry per publisher
 * slot: slot 0 under the service's name, slot i (1..63) under the name
 * followed by "//" and i in decimal without leading zeros ("camera//3", file
 * "camera%%3"). No other name holds "//", so a slot entry never collides
 * with another service; the registry treats it as any other name (publish,
 * open, liveness, replacement, list and watch report "camera//3").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/error.h"
#include "registry/registry_internal.h"

/* Length of the slot suffix "//i" (i in 1..SHOAL_PUB_SLOT_MAX) that ends
 * @name, or 0 if it has none. */
static size_t slot_suffix(const char *name, size_t len)
{
	size_t d = 0;

	while (d < len && name[len - 1 - d] >= '0' && name[len - 1 - d] <= '9')
		d++;
	if (d == 0 || d > 2 || len < d + 3 || name[len - d - 1] != '/' ||
	    name[len - d - 2] != '/' || name[len - d] == '0')
		return 0;
	if (d == 2 && (name[len - 2] - '0') * 10 + (name[len - 1] - '0') >
			      SHOAL__SLOT_MAX)
		return 0;
	return d + 2;
}

static int name_valid(const char *name, size_t len)
{
	size_t slot = len > 0 ? slot_suffix(name, len) : 0;

	if (slot)
		len -= slot;
	if (len == 0 || len > SHOAL_SERVICE_NAME_MAX)
		return 0;
	if (name[0] == '.' || name[0] == '/' || name[len - 1] == '/')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x21 || c > 0x7e || c == '%')
			return 0;
		if (c == '/' && name[i + 1] == '/')
			return 0;
	}
	return 1;
}

int shoal__name_check(const char *who, const char *name)
{
	size_t len;

	if (!name)
		return shoal__fail(-EINVAL, "%s%sservice name is NULL",
				   who ? who : "", who ? ": " : "");
	len = strnlen(name, SHOAL_SERVICE_NAME_MAX + 1);
	if (len > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL,
				   "%s%sbad service name: %zu bytes, more "
				   "than %d",
				   who ? who : "", who ? ": " : "",
				   strlen(name), SHOAL_SERVICE_NAME_MAX);
	if (!name_valid(name, len))
		return shoal__fail(
			-EINVAL,
			"%s%sbad service name: 1..%d printable bytes, no "
			"space or '%%', no leading '.' or '/', no "
			"empty component",
			who ? who : "", who ? ": " : "",
			SHOAL_SERVICE_NAME_MAX);
	return 0;
}

int shoal__name_to_file(const char *name, char *file)
{
	int err = shoal__name_check(NULL, name);
	size_t len;

	if (err)
		return err;
	len = strlen(name);
	for (size_t i = 0; i <= len; i++)
		file[i] = name[i] == '/' ? '%' : name[i];
	return 0;
}

int shoal__file_to_name(const char *file, char *name)
{
	size_t len = strnlen(file, SHOAL_SERVICE_NAME_MAX + 1);

	if (len == 0 || len > SHOAL_SERVICE_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (file[i] == '/')
			return -EINVAL;
		name[i] = file[i] == '%' ? '/' : file[i];
	}
	return name_valid(name, len) ? 0 : -EINVAL;
}

uint32_t shoal__name_slot(const char *name)
{
	size_t len = strnlen(name, SHOAL_SERVICE_NAME_MAX + 1);
	size_t n = slot_suffix(name, len);

	return n ? (uint32_t)strtoul(name + len - n + 2, NULL, 10) : 0;
}

int shoal__slot_name(const char *name, uint32_t slot, char *out)
{
	size_t len = strnlen(name, SHOAL_SERVICE_NAME_MAX + 1);

	if (!name_valid(name, len) || slot_suffix(name, len))
		return shoal__fail(-EINVAL, "bad service name");
	if (slot == 0) {
		memcpy(out, name, len + 1);
		return 0;
	}
	if (slot > SHOAL__SLOT_MAX ||
	    snprintf(out, SHOAL_SERVICE_NAME_MAX + 1, "%s//%u", name, slot) >
		    SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL,
				   "'%s': too long for publisher slot %u (the "
				   "name and \"//%u\" must fit %d bytes)",
				   name, slot, slot, SHOAL_SERVICE_NAME_MAX);
	return 0;
}
