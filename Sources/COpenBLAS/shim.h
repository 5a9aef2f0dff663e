#pragma once
#include <cblas.h>
// OpenBLAS extensions, declared in its cblas.h; repeated here for clarity of what we use.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
