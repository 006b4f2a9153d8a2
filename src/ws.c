/* ws.c */
#include "linksocks.h"
