/* tunnel.c */
#include "linksocks.h"
