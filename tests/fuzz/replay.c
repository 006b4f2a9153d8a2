/*
 * replay.c -- run a libFuzzer-style harness over every file of its corpus
 * directory, so make check replays the corpus with the normal build.
 * Usage: fuzz_X [file-or-dir ...]; default: $TESTS_SRCDIR/corpus/<name>.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
extern const char *fuzz_corpus_name;

static int
replay_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return (-1);
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	if ((buf = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: read failed\n", path);
		fclose(f);
		free(buf);
		return (-1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return (0);
}

static int
replay_path(const char *path, int *count)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*de;
	char		 sub[4096];
	int		 rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return (replay_file(path));
	}
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (replay_path(sub, count) == -1)
			rc = -1;
	}
	closedir(d);
	return (rc);
}

int
main(int argc, char **argv)
{
	char		 def[4096];
	const char	*src;
	int		 i, count = 0, rc = 0;

	if (argc < 2) {
		if ((src = getenv("TESTS_SRCDIR")) == NULL)
			src = "tests";
		snprintf(def, sizeof(def), "%s/corpus/%s", src,
		    fuzz_corpus_name);
		rc = replay_path(def, &count);
	}
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) == -1)
			rc = -1;
	printf("%s: replayed %d inputs\n", fuzz_corpus_name, count);
	if (count == 0) {
		fprintf(stderr, "no corpus inputs found\n");
		return (1);
	}
	return (rc == 0 ? 0 : 1);
}
