#include "tests/test_json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_parser {
	const char *text;
	size_t pos;
	char *err;
	size_t errlen;
	unsigned depth;
};

#define JSON_MAX_DEPTH 64

static struct json_value *json_fail(struct json_parser *p, const char *what)
{
	if (p->err[0] == '\0')
		snprintf(p->err, p->errlen, "JSON: %s at offset %zu", what, p->pos);
	return NULL;
}

static void json_skip_space(struct json_parser *p)
{
	while (p->text[p->pos] == ' ' || p->text[p->pos] == '\n' || p->text[p->pos] == '\r' ||
	       p->text[p->pos] == '\t')
		p->pos++;
}

static struct json_value *json_new(enum json_type type)
{
	struct json_value *v = calloc(1, sizeof(*v));
	if (v)
		v->type = type;
	return v;
}

static char *json_parse_string_raw(struct json_parser *p)
{
	if (p->text[p->pos] != '"')
		return (char *)json_fail(p, "expected a string");
	p->pos++;
	size_t cap = 32, len = 0;
	char *s = malloc(cap);
	while (s) {
		char ch = p->text[p->pos++];
		if (ch == '\0' || (unsigned char)ch < 0x20) {
			free(s);
			return (char *)json_fail(p, "unterminated string or raw control character");
		}
		if (ch == '"')
			break;
		if (ch == '\\') {
			char e = p->text[p->pos++];
			switch (e) {
			case '"': case '\\': case '/': ch = e; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'u': {
				unsigned code = 0;
				for (int i = 0; i < 4; i++) {
					char h = p->text[p->pos++];
					if (!isxdigit((unsigned char)h)) {
						free(s);
						return (char *)json_fail(p, "bad \\u escape");
					}
					code = code * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
				}
				ch = code < 0x80 ? (char)code : '?'; /* tests only need ASCII */
				break;
			}
			default:
				free(s);
				return (char *)json_fail(p, "bad escape");
			}
		}
		if (len + 2 > cap) {
			char *grown = realloc(s, cap *= 2);
			if (!grown) {
				free(s);
				return NULL;
			}
			s = grown;
		}
		s[len++] = ch;
	}
	if (s)
		s[len] = '\0';
	return s;
}

static struct json_value *json_parse_value(struct json_parser *p);

static int json_push(struct json_value *v, char *key, struct json_value *item)
{
	struct json_value **items = realloc(v->items, (v->count + 1) * sizeof(*items));
	if (!items)
		return -1;
	v->items = items;
	if (v->type == JSON_OBJECT) {
		char **keys = realloc(v->keys, (v->count + 1) * sizeof(*keys));
		if (!keys)
			return -1;
		v->keys = keys;
		v->keys[v->count] = key;
	}
	v->items[v->count++] = item;
	return 0;
}

static struct json_value *json_parse_container(struct json_parser *p, bool object)
{
	struct json_value *v = json_new(object ? JSON_OBJECT : JSON_ARRAY);
	char close = object ? '}' : ']';
	p->pos++;
	json_skip_space(p);
	if (p->text[p->pos] == close) {
		p->pos++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		if (object) {
			json_skip_space(p);
			key = json_parse_string_raw(p);
			if (!key)
				goto fail;
			json_skip_space(p);
			if (p->text[p->pos++] != ':') {
				free(key);
				json_fail(p, "expected ':'");
				goto fail;
			}
		}
		struct json_value *item = json_parse_value(p);
		if (!item || json_push(v, key, item) < 0) {
			free(key);
			json_free(item);
			goto fail;
		}
		json_skip_space(p);
		char ch = p->text[p->pos++];
		if (ch == close)
			return v;
		if (ch != ',') {
			json_fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
			goto fail;
		}
	}
fail:
	json_free(v);
	return NULL;
}

static struct json_value *json_parse_value(struct json_parser *p)
{
	if (++p->depth > JSON_MAX_DEPTH)
		return json_fail(p, "nested too deep");
	json_skip_space(p);
	const char *t = p->text + p->pos;
	struct json_value *v = NULL;
	if (*t == '{' || *t == '[') {
		v = json_parse_container(p, *t == '{');
	} else if (*t == '"') {
		char *s = json_parse_string_raw(p);
		if (s) {
			v = json_new(JSON_STRING);
			v->string = s;
		}
	} else if (!strncmp(t, "true", 4) || !strncmp(t, "false", 5)) {
		v = json_new(JSON_BOOL);
		v->boolean = *t == 't';
		p->pos += v->boolean ? 4 : 5;
	} else if (!strncmp(t, "null", 4)) {
		v = json_new(JSON_NULL);
		p->pos += 4;
	} else if (*t == '-' || isdigit((unsigned char)*t)) {
		char *end;
		double d = strtod(t, &end);
		if (end == t)
			return json_fail(p, "bad number");
		v = json_new(JSON_NUMBER);
		v->number = d;
		p->pos += (size_t)(end - t);
	} else {
		return json_fail(p, "unexpected character");
	}
	p->depth--;
	return v;
}

struct json_value *json_parse(const char *text, char *err, size_t errlen)
{
	struct json_parser p = { .text = text, .err = err, .errlen = errlen };
	err[0] = '\0';
	struct json_value *v = json_parse_value(&p);
	if (!v)
		return NULL;
	json_skip_space(&p);
	if (text[p.pos] != '\0') {
		json_fail(&p, "trailing characters");
		json_free(v);
		return NULL;
	}
	return v;
}

void json_free(struct json_value *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->count; i++) {
		json_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
	free(v);
}

const struct json_value *json_get(const struct json_value *object, const char *key)
{
	if (!object || object->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < object->count; i++)
		if (!strcmp(object->keys[i], key))
			return object->items[i];
	return NULL;
}
