#define HAVE_ZLIB 1
#include <nifti/nifti2_io.h>
