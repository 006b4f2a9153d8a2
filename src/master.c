/* master.c */
#include "linksocks.h"
