/* ipc.c */
#include "linksocks.h"
