/* util.c */
#include "linksocks.h"
