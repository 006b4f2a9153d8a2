/*
 * check_main.c -- main() for every Check unit program: runs the suites
 * the unit lists in check_suites[] in one SRunner.  Check itself reads
 * CK_FORK, CK_RUN_SUITE, CK_RUN_CASE, CK_DEFAULT_TIMEOUT and friends
 * from the environment.  Exit status: 0 when every test passed, 1 when
 * one failed or errored, or when the unit lists no suite.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "check_main.h"

int
main(void)
{
	SRunner	*sr = NULL;
	size_t	 i;
	int	 nf;

	for (i = 0; check_suites[i] != NULL; i++) {
		if (sr == NULL)
			sr = srunner_create(check_suites[i]());
		else
			srunner_add_suite(sr, check_suites[i]());
	}
	if (sr == NULL) {
		fprintf(stderr, "check_main: the unit lists no suite\n");
		return (EXIT_FAILURE);
	}
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
