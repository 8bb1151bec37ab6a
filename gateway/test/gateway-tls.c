/* shoal-test: label=multiproc timeout=180 */
/*
 * The gateway over TLS, for real: the test makes a throwaway CA and a
 * server certificate for 127.0.0.1 with openssl (skip, 77, without
 * openssl or nats-server), starts nats-server with TLS on 127.0.0.1 and a
 * free port, and two gateways given that CA (--tls-ca) carry `shoal pub`
 * on A to `shoal sub` on B, every line in order, reliable and lossy. A gateway given another
 * CA, or none, fails at once with a clear message and exit status 1
 * instead of retrying forever; so does one whose --tls-ca, --creds,
 * --tls-cert or --tls-key file is missing or unreadable, or whose --creds
 * file is not a NATS credentials file.
 */
#include "gw_test.h"

#define LINES 100

static struct proc gw_a, gw_b;
/* /tmp/shoal-test-XXXXXX and the files in it. */
static char certs[64], ca[96], wrong_ca[96], server_cert[96], server_key[96];

/* Runs a shell command line quietly: 0 if it exited 0. */
static int sh(const char *cmd)
{
	char line[3 * PATH_MAX + 32];
	int st;

	snprintf(line, sizeof(line), "(%s) >/dev/null 2>&1", cmd);
	st = system(line);
	if (st != 0)
		fprintf(stderr, "failed (%d): %s\n", st, cmd);
	return st == 0 ? 0 : -1;
}

/*
 * A CA, a server key and certificate it signed (CN and subjectAltName
 * 127.0.0.1, so that the client's host check passes), and another CA that
 * signed nothing of ours, in a fresh directory.
 */
static int make_certs(const char *openssl)
{
	char tmpl[] = "/tmp/shoal-test-XXXXXX", cmd[3 * PATH_MAX];

	if (!mkdtemp(tmpl))
		return -1;
	snprintf(certs, sizeof(certs), "%s", tmpl);
	snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
	snprintf(wrong_ca, sizeof(wrong_ca), "%s/wrong.pem", certs);
	snprintf(server_cert, sizeof(server_cert), "%s/server.pem", certs);
	snprintf(server_key, sizeof(server_key), "%s/server.key", certs);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s req -x509 -newkey rsa:2048 -nodes -days 2 "
		 "-keyout ca.key -out ca.pem -subj /CN=shoal-test-ca",
		 certs, openssl);
	if (sh(cmd))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s req -x509 -newkey rsa:2048 -nodes -days 2 "
		 "-keyout wrong.key -out wrong.pem -subj /CN=shoal-wrong-ca",
		 certs, openssl);
	if (sh(cmd))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s req -newkey rsa:2048 -nodes -keyout server.key "
		 "-out server.csr -subj /CN=127.0.0.1 && "
		 "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' "
		 "> ext.cnf && "
		 "%s x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
		 "-CAcreateserial -out server.pem -days 2 -extfile ext.cnf",
		 certs, openssl, openssl);
	return sh(cmd);
}

/* shoal-gateway with @args against the TLS server: its exit status, and
 * its stderr in @p. */
static int gw_run(struct proc *p, const char *a1, const char *a2,
		  const char *a3, const char *a4)
{
	int r;

	setenv("SHOAL_DIR", dir_a, 1);
	tool = gateway_tool;
	r = run(p, "--server", nats_url, "--export", "tls/*", a1, a2, a3, a4,
		NULL);
	tool = shoal_tool;
	return r;
}

/* A CA that did not sign the server's certificate, or none at all: a
 * clear failure, exit 1, at once. */
static int test_wrong_ca(void)
{
	static struct proc p;

	CHECK_EQ(gw_run(&p, "--tls-ca", wrong_ca, NULL, NULL), 1);
	CHECK(has(p.err_buf, "shoal-gateway: cannot connect to "));
	CHECK(has(p.err_buf, "the TLS handshake failed"));
	/* No CA: the server's certificate is checked against the system's
	 * CAs, which did not sign it either. */
	CHECK_EQ(gw_run(&p, NULL, NULL, NULL, NULL), 1);
	CHECK(has(p.err_buf, "the TLS handshake failed"));
	return TEST_PASS;
}

/* Files that are not there, not readable or not what they should be:
 * said before connecting, exit 1. */
static int test_bad_files(void)
{
	static struct proc p;
	char missing[96], want[192];

	snprintf(missing, sizeof(missing), "%s/missing", certs);
	CHECK_EQ(gw_run(&p, "--tls-ca", missing, NULL, NULL), 1);
	snprintf(want, sizeof(want), "--tls-ca %s: cannot read: No such file",
		 missing);
	CHECK(has(p.err_buf, want));
	CHECK_EQ(gw_run(&p, "--creds", missing, NULL, NULL), 1);
	snprintf(want, sizeof(want), "--creds %s: cannot read: No such file",
		 missing);
	CHECK(has(p.err_buf, want));
	/* A directory cannot be read as a file. */
	CHECK_EQ(gw_run(&p, "--creds", certs, NULL, NULL), 1);
	CHECK(has(p.err_buf, ": cannot read: Is a directory"));
	/* A certificate is not a credentials file. */
	CHECK_EQ(gw_run(&p, "--creds", ca, NULL, NULL), 1);
	CHECK(has(p.err_buf, "not a NATS credentials file"));
	CHECK_EQ(gw_run(&p, "--tls-ca", ca, "--tls-cert", missing), 2);
	CHECK(has(p.err_buf, "--tls-cert and --tls-key go together"));
	return TEST_PASS;
}

/* pub on A, sub on B, through the TLS server: every line, in order,
 * reliable and lossy. */
static int test_across(void)
{
	CHECK(!gw_start(dir_a, &gw_a, "--tls-ca", ca, "--export", "tls/*",
			NULL));
	CHECK(!gw_start(dir_b, &gw_b, "--tls-ca", ca, "--import", "tls/*",
			NULL));
	CHECK_EQ(lines_across("tls/lines", "--reliable", "secret", LINES,
			      &gw_b),
		 TEST_PASS);
	/* Lossy: B's lossy reader's connection is TLS too. */
	CHECK_EQ(lines_across("tls/lossy", "--lossy", "secret", LINES, &gw_b),
		 TEST_PASS);
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK_EQ(gw_stop(&gw_b), 0);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char openssl[PATH_MAX], bin[PATH_MAX];
	int rc;

	if (find_program("openssl", openssl, sizeof(openssl))) {
		fprintf(stderr, "openssl not found: skipped\n");
		return TEST_SKIP;
	}
	if (find_nats_server(bin, sizeof(bin))) {
		fprintf(stderr, "nats-server not found: skipped\n");
		return TEST_SKIP;
	}
	if (make_certs(openssl)) {
		if (certs[0])
			test_remove_tree(certs);
		return TEST_FAIL;
	}
	nats_extra[0] = "--tls";
	nats_extra[1] = "--tlscert";
	nats_extra[2] = server_cert;
	nats_extra[3] = "--tlskey";
	nats_extra[4] = server_key;
	rc = gw_test_start(argc, argv);
	if (rc != TEST_PASS) {
		test_remove_tree(certs);
		return rc;
	}
	RUN(test_wrong_ca);
	RUN(test_bad_files);
	RUN(test_across);
	nats_stop(SIGTERM);
	rc = test_result();
	test_remove_tree(certs);
	return rc;
}
