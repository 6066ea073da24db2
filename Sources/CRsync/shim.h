#include <stdio.h>
#include <librsync.h>
