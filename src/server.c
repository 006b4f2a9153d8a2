/* server.c */
#include "linksocks.h"
