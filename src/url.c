/* url.c */
#include "linksocks.h"
