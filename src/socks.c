/* socks.c */
#include "linksocks.h"
