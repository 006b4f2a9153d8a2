#include "linksocks.h"
int main(int argc, char **argv) { return (linksocks_main(argc, argv)); }
