// The operations are static inline in the header (so each importing module compiles them for its own target);
// this file gives the target its one translation unit and checks that the header compiles on its own.
#include "vector_ops.h"
