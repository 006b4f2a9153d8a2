/* http.c */
#include "linksocks.h"
