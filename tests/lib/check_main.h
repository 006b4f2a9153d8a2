/*
 * check_main.h -- the one main() of the Check unit programs
 * (tests/lib/check_main.c).  A unit (tests/check_*.c) only defines its
 * suites and lists their constructors, NULL-terminated:
 *
 *	const check_suite_fn check_suites[] = { msg_suite, NULL };
 */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H

#include <check.h>

typedef Suite	*(*check_suite_fn)(void);

/* Defined by each unit. */
extern const check_suite_fn check_suites[];

#endif /* CHECK_MAIN_H */
