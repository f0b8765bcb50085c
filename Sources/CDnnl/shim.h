#include <dnnl.h>
/* oneDNN's Debian build threads with OpenMP (libgomp); the engine sets its thread count. */
void omp_set_num_threads(int n);
int omp_get_max_threads(void);
