#ifndef SLUICE_CHTTPPARSER_SHIM_H
#define SLUICE_CHTTPPARSER_SHIM_H
#include <http_parser.h>
#endif
