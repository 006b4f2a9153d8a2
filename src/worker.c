/* worker.c */
#include "linksocks.h"
