/*
 * libFuzzer target: the IP_DUMMYNET3 message aqmllmctl builds
 * (bridge/dnmsg.py), walked as dummynet does to the kernel-side parse of
 * llm's parameters (llm_aqm_parse).  The corpus starts from the builder's
 * own messages.  Built with DNMSG_MAIN it is the checker the tests run on
 * the builder's output: it prints what the kernel would configure.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dnmsg_walk.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dn_llm_result res;
	struct aqm_params d;

	aqm_params_defaults(&d, size > 0 ? data[0] % AQMLLM_FB_COUNT : 0);
	dn_llm_walk(data, size, &d, &res);
	if (res.configs > 0) {
		FUZZ_ASSERT(aqm_params_validate(&res.last) == 0);
		FUZZ_ASSERT(res.last.fb_id < AQMLLM_FB_COUNT);
		FUZZ_ASSERT(res.last.limit_pkts >= 1 &&
		    (res.last.limit_pkts <= DN_SLOT_LIMIT ||
		    res.last.limit_pkts == d.limit_pkts));
	}
	return (0);
}

#ifdef DNMSG_MAIN
int
main(int argc, char **argv)
{
	static uint8_t buf[DN_MSG_MAX + 1];
	struct dn_llm_result res;
	struct aqm_params d;
	size_t n;
	FILE *fp;

	if (argc != 2 || (fp = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: dnmsg_check FILE\n");
		return (2);
	}
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	aqm_params_defaults(&d, AQMLLM_FB_DUALPI2);
	dn_llm_walk(buf, n, &d, &res);
	printf("error: %d\nconfigs: %d\nrefused: %d\n", res.error, res.configs,
	    res.refused);
	if (res.configs > 0)
		printf("fallback: %u\nlimit: %u\n", res.last.fb_id,
		    res.last.limit_pkts);
	return (0);
}
#endif
