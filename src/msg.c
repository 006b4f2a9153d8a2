/* msg.c */
#include "linksocks.h"
