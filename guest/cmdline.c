#include "guest/cmdline.h"

#include "guest/string.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cmdline_lookup(const char *cmdline, const char *key, struct cmdline_value *value)
{
	size_t key_len = strlen(key);
	bool found = false;
	const char *p = cmdline;
	while (*p) {
		while (is_space(*p))
			p++;
		const char *word = p;
		while (*p && !is_space(*p))
			p++;
		size_t word_len = (size_t)(p - word);
		if (word_len < key_len || memcmp(word, key, key_len) != 0)
			continue;
		if (word_len == key_len) {
			value->text = word + word_len;
			value->len = 0;
			found = true;
		} else if (word[key_len] == '=') {
			value->text = word + key_len + 1;
			value->len = word_len - key_len - 1;
			found = true;
		}
	}
	return found;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

bool cmdline_lookup_u64(const char *cmdline, const char *key, uint64_t default_value,
			uint64_t *out)
{
	struct cmdline_value v;
	if (!cmdline_lookup(cmdline, key, &v)) {
		*out = default_value;
		return true;
	}
	unsigned base = 10;
	size_t i = 0;
	if (v.len > 2 && v.text[0] == '0' && (v.text[1] == 'x' || v.text[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == v.len)
		return false;
	uint64_t n = 0;
	for (; i < v.len; i++) {
		int d = digit_value(v.text[i]);
		if (d >= (int)base || n > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		n = n * base + (uint64_t)d;
	}
	*out = n;
	return true;
}
