/*
 * A libFuzzer target without libFuzzer: with files, each is one input
 * (a corpus, or a finding to reproduce under gcc's sanitizers); without,
 * -n random inputs of up to -l bytes from seed -s.  A target may define
 * fuzz_report() to say what its inputs exercised.  Exits non-zero only
 * through the target's own abort (a violated invariant, a sanitizer).
 *
 *   fuzz_X_standalone [-n inputs] [-l max_len] [-s seed] [file ...]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void	fuzz_report(FILE *out) __attribute__((weak));

static int
run_file(const char *path)
{
	uint8_t *buf;
	long len;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (len = ftell(f)) < 0) {
		perror(path);
		return (-1);
	}
	rewind(f);
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: cannot read it\n", path);
		fclose(f);
		free(buf);
		return (-1);
	}
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return (0);
}

/* splitmix64: inputs that depend on the seed alone. */
static uint64_t
next64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

int
main(int argc, char **argv)
{
	unsigned long long n = 1000, max_len = 1024, seed = 1, i, k, len;
	uint64_t st;
	uint8_t *buf;
	int ch;

	while ((ch = getopt(argc, argv, "n:l:s:")) != -1) {
		switch (ch) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			max_len = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: %s [-n inputs] [-l max_len] "
			    "[-s seed] [file ...]\n", argv[0]);
			return (2);
		}
	}
	if (optind < argc) {
		for (; optind < argc; optind++)
			if (run_file(argv[optind]) != 0)
				return (2);
	} else {
		if ((buf = malloc(max_len + 1)) == NULL)
			return (2);
		st = seed;
		for (i = 0; i < n; i++) {
			len = max_len ? next64(&st) % (max_len + 1) : 0;
			for (k = 0; k < len; k++)
				buf[k] = (uint8_t)next64(&st);
			(void)LLVMFuzzerTestOneInput(buf, len);
		}
		free(buf);
	}
	if (fuzz_report != NULL)
		fuzz_report(stdout);
	return (0);
}
