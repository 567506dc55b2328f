#ifndef SLUICE_CCJSON_SHIM_H
#define SLUICE_CCJSON_SHIM_H
#include <cjson/cJSON.h>
#endif
