/* socks5.c */
#include "linksocks.h"
