#pragma once
#include <mpi.h>
// OpenMPI's predefined handles are macros over addresses of globals, which Swift cannot import;
// these accessors expose them as functions.
static inline MPI_Comm longlm_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype longlm_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype longlm_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype longlm_mpi_int(void) { return MPI_INT; }
static inline MPI_Op longlm_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op longlm_mpi_max(void) { return MPI_MAX; }
static inline MPI_Request longlm_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *longlm_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler longlm_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int longlm_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int longlm_mpi_success(void) { return MPI_SUCCESS; }
static inline int longlm_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline void *longlm_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int longlm_mpi_err_in_status(void) { return MPI_ERR_IN_STATUS; }
static inline int longlm_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int longlm_mpi_tag_ub(void) { return MPI_TAG_UB; }
static inline int longlm_mpi_err_pending(void) { return MPI_ERR_PENDING; }
