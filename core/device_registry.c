#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"

#define DEVICE_MAX_MODELS 32

static const struct device_model_ops *models[DEVICE_MAX_MODELS];
static unsigned nmodels;

void device_model_register(const struct device_model_ops *ops)
{
	/* Runs from constructors, before main: a full table is a build mistake. */
	if (nmodels == DEVICE_MAX_MODELS) {
		fprintf(stderr, "iovirt: too many device models; raise DEVICE_MAX_MODELS\n");
		abort();
	}
	models[nmodels++] = ops;
}

const struct device_model_ops *device_model_find(const char *function, const char *model)
{
	for (unsigned i = 0; i < nmodels; i++)
		if (strcmp(models[i]->function, function) == 0 && strcmp(models[i]->model, model) == 0)
			return models[i];
	return NULL;
}

const struct device_model_ops *device_model_at(unsigned index)
{
	return index < nmodels ? models[index] : NULL;
}
