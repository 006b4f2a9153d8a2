/*
 * linksocks.c -- the program: read the configuration (config.c), then
 * hand it to the master, which binds, forks the workers and supervises
 * them until it stops, with the role the workers run: the tunnel server
 * or the tunnel client.  The top of the file graph: nothing calls into
 * it but main.c.
 */
#include "config.h"

#include <stdio.h>

#include "linksocks.h"

int
linksocks_main(int argc, char **argv)
{
	struct config	*c;
	char		 err[600];

	if ((c = config_load(argc, argv)) == NULL)
		return (0);
	if (c->c_role != ROLE_SERVER && client_check(err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "linksocks: %s\n", err);
		config_free(c);
		return (2);
	}
	util_tune_memory();
	/* A client on wss:// (the server's TLS does this in master.c). */
	if (c->c_role != ROLE_SERVER && c->c_wsurl.u_tls)
		tls_tune_memory();
	return (master_run(c, c->c_role == ROLE_SERVER ? &server_role :
	    &client_role));
}
