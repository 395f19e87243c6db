#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "core/cli.h"

int cli_parse_size(const char *text, uint64_t *bytes)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: return -1;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end != '\0')
		return -1;
	if (shift && value > (~0ull >> shift))
		return -1;
	*bytes = (uint64_t)value << shift;
	return 0;
}

int cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*value = v;
	return 0;
}
