/* shoal-test: label=unit timeout=30 */
/* Service names and their escaping into file names (src/registry/names.c). */
#include "harness.h"
#include "registry/registry_internal.h"

static int test_valid_names(void)
{
	const char *ok[] = { "a", "camera/front/frames", "x.y-z_1:2@3+4=5",
			     "~home", "a/b/c/d/e/f" };
	char file[SHOAL_SERVICE_NAME_MAX + 1], back[SHOAL_SERVICE_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_EQ(shoal__name_to_file(ok[i], file), 0);
		CHECK(strchr(file, '/') == NULL);
		CHECK(strlen(file) == strlen(ok[i]));
		CHECK_EQ(shoal__file_to_name(file, back), 0);
		CHECK(strcmp(back, ok[i]) == 0);
	}
	CHECK_EQ(shoal__name_to_file("camera/front/frames", file), 0);
	CHECK(strcmp(file, "camera%front%frames") == 0);
	return TEST_PASS;
}

static int test_longest_name(void)
{
	char name[SHOAL_SERVICE_NAME_MAX + 2];
	char file[SHOAL_SERVICE_NAME_MAX + 1];

	/* 255 bytes with slashes still fits a file name: escaping keeps
	 * the length. */
	for (int i = 0; i < SHOAL_SERVICE_NAME_MAX; i++)
		name[i] = i % 2 ? '/' : 'a';
	name[SHOAL_SERVICE_NAME_MAX] = '\0';
	CHECK_EQ(shoal__name_to_file(name, file), 0);
	CHECK_EQ(strlen(file), SHOAL_SERVICE_NAME_MAX);
	name[SHOAL_SERVICE_NAME_MAX] = 'a';
	name[SHOAL_SERVICE_NAME_MAX + 1] = '\0';
	CHECK_EQ(shoal__name_to_file(name, file), -EINVAL);
	return TEST_PASS;
}

static int test_invalid_names(void)
{
	const char *bad[] = {
		"",	   "/abs",	"trailing/",	    "a//b",
		".hidden", "has space", "per%cent",	    "tab\there",
		"nl\n",	   "\x7f",	"\xc3\xa9t\xc3\xa9"
	};
	char file[SHOAL_SERVICE_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (shoal__name_to_file(bad[i], file) != -EINVAL) {
			fprintf(stderr, "accepted bad name #%zu\n", i);
			return TEST_FAIL;
		}
	}
	CHECK_EQ(shoal__name_to_file(NULL, file), -EINVAL);
	/* Directory entries that are not service files. */
	CHECK_EQ(shoal__file_to_name(".lock", file), -EINVAL);
	CHECK_EQ(shoal__file_to_name("%abs", file), -EINVAL);
	CHECK_EQ(shoal__file_to_name("a%%b", file), -EINVAL);
	return TEST_PASS;
}

/* Publisher slot names: "name//i", i in 1..63, file "name%%i". */
static int test_slot_names(void)
{
	const char *bad[] = { "a//0", "a//64",	 "a//03", "a//100",
			      "//3",  "a//3//4", "a/b//", "a//x3" };
	char file[SHOAL_SERVICE_NAME_MAX + 1], name[SHOAL_SERVICE_NAME_MAX + 1];
	char longest[SHOAL_SERVICE_NAME_MAX + 1];

	CHECK_EQ(shoal__name_to_file("cam/left//3", file), 0);
	CHECK(strcmp(file, "cam%left%%3") == 0);
	CHECK_EQ(shoal__file_to_name("cam%left%%63", name), 0);
	CHECK(strcmp(name, "cam/left//63") == 0);
	CHECK_EQ(shoal__name_slot("cam/left//63"), 63u);
	CHECK_EQ(shoal__name_slot("cam/left"), 0u);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (shoal__name_to_file(bad[i], file) != -EINVAL) {
			fprintf(stderr, "accepted bad slot name %s\n", bad[i]);
			return TEST_FAIL;
		}
	}
	CHECK_EQ(shoal__slot_name("cam", 0, name), 0);
	CHECK(strcmp(name, "cam") == 0);
	CHECK_EQ(shoal__slot_name("cam", 7, name), 0);
	CHECK(strcmp(name, "cam//7") == 0);
	CHECK_EQ(shoal__slot_name("cam", 64, name), -EINVAL);
	CHECK_EQ(shoal__slot_name("cam//7", 1, name), -EINVAL);
	memset(longest, 'a', SHOAL_SERVICE_NAME_MAX);
	longest[SHOAL_SERVICE_NAME_MAX] = '\0';
	CHECK_EQ(shoal__slot_name(longest, 0, name), 0);
	CHECK_EQ(shoal__slot_name(longest, 1, name), -EINVAL);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_valid_names);
	RUN(test_longest_name);
	RUN(test_invalid_names);
	RUN(test_slot_names);
	return test_result();
}
