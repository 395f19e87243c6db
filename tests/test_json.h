/* A small strict JSON reader for tests that check iovirt's JSON output
 * against its documented schema. Whole-document parse into a tree. */
#ifndef IOVIRT_TESTS_JSON_H
#define IOVIRT_TESTS_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
	enum json_type type;
	bool boolean;
	double number;
	char *string;                 /* JSON_STRING, unescaped */
	size_t count;                 /* array items or object members */
	struct json_value **items;    /* array items or member values */
	char **keys;                  /* object member names */
};

/* Parses text; NULL with a reason in err (offset included) when it is not
 * one valid JSON value followed only by whitespace. */
struct json_value *json_parse(const char *text, char *err, size_t errlen);
void json_free(struct json_value *v);
/* Member of an object, or NULL. */
const struct json_value *json_get(const struct json_value *object, const char *key);

#endif
