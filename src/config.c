/* config.c */
#include "linksocks.h"
int
linksocks_main(int argc, char **argv)
{
	(void)argc; (void)argv;
	return (0);
}
