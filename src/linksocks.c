/*
 * linksocks.c -- the program: read the configuration (config.c), then
 * hand it to the master, which binds, forks the workers and supervises
 * them until it stops.  The top of the file graph: nothing calls into
 * it but main.c.
 */
#include "config.h"

#include "linksocks.h"

int
linksocks_main(int argc, char **argv)
{
	struct config	*c;

	if ((c = config_load(argc, argv)) == NULL)
		return (0);
	return (master_run(c));
}
