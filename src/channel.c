/* channel.c */
#include "linksocks.h"
