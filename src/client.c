/* client.c */
#include "linksocks.h"
