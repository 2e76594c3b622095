// llama.cpp's own dequantization (and quantization) as a filter, for checking src/core/gguf/codec.ts bit for bit:
//   ggml-dequant-ref TYPE COUNT < blocks > floats
//   ggml-dequant-ref q TYPE NROWS NPERROW < floats > blocks
// TYPE is the ggml type number, COUNT the number of values; the first form writes COUNT little-endian floats
// from ggml-quants.c's dequantize_row_*, the second the blocks of ggml's quantize_* (the functions
// llama-quantize calls, without an importance matrix). Compiled from the bundled llama.cpp source.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "ggml-quants.h"

// What ggml-quants.c needs from ggml.c: row sizes (the quantize_* functions step through rows with them) and
// error paths. Block sizes from ggml-common.h for the types handled here.
static int block_of(enum ggml_type type, int * bytes) {
    switch (type) {
        case GGML_TYPE_Q4_0: case GGML_TYPE_IQ4_NL: *bytes = 18; return 32;
        case GGML_TYPE_Q4_1: *bytes = 20; return 32;
        case GGML_TYPE_Q5_0: *bytes = 22; return 32;
        case GGML_TYPE_Q5_1: *bytes = 24; return 32;
        case GGML_TYPE_Q8_0: *bytes = 34; return 32;
        case GGML_TYPE_Q2_K: *bytes = 84; return 256;
        case GGML_TYPE_Q3_K: *bytes = 110; return 256;
        case GGML_TYPE_Q4_K: *bytes = 144; return 256;
        case GGML_TYPE_Q5_K: *bytes = 176; return 256;
        case GGML_TYPE_Q6_K: *bytes = 210; return 256;
        case GGML_TYPE_Q8_K: *bytes = 292; return 256;
        case GGML_TYPE_IQ4_XS: *bytes = 136; return 256;
        default: fprintf(stderr, "no block size for type %d\n", (int) type); exit(2);
    }
}
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "abort %s:%d %s\n", file, line, fmt); exit(2); }
size_t ggml_type_size(enum ggml_type type) { int bytes; block_of(type, &bytes); return (size_t) bytes; }
size_t ggml_row_size(enum ggml_type type, int64_t ne) { int bytes; const int n = block_of(type, &bytes); return (size_t) (bytes * (ne / n)); }
const char * ggml_type_name(enum ggml_type type) { (void) type; return "?"; }

static uint8_t * read_all(void) {
    size_t cap = 1 << 20, n = 0, got;
    uint8_t * in = malloc(cap);
    while ((got = fread(in + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) in = realloc(in, cap *= 2);
    }
    return in;
}

static int quantize(int type, int64_t nrows, int64_t n_per_row) {
    const float * src = (const float *) read_all();
    void * dst = malloc((size_t) (nrows * n_per_row * 2 + 1024));
    size_t size;
    switch (type) {
        case GGML_TYPE_Q4_0:   size = quantize_q4_0(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q4_1:   size = quantize_q4_1(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q5_0:   size = quantize_q5_0(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q5_1:   size = quantize_q5_1(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q8_0:   size = quantize_q8_0(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q2_K:   size = quantize_q2_K(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q3_K:   size = quantize_q3_K(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q4_K:   size = quantize_q4_K(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q5_K:   size = quantize_q5_K(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_Q6_K:   size = quantize_q6_K(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_IQ4_NL: size = quantize_iq4_nl(src, dst, nrows, n_per_row, NULL); break;
        case GGML_TYPE_IQ4_XS: size = quantize_iq4_xs(src, dst, nrows, n_per_row, NULL); break;
        default: fprintf(stderr, "type %d not handled\n", type); return 2;
    }
    fwrite(dst, 1, size, stdout);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc == 5 && argv[1][0] == 'q') return quantize(atoi(argv[2]), atoll(argv[3]), atoll(argv[4]));
    if (argc != 3) { fprintf(stderr, "usage: %s TYPE COUNT < blocks | %s q TYPE NROWS NPERROW < floats\n", argv[0], argv[0]); return 2; }
    const int type = atoi(argv[1]);
    const int64_t k = atoll(argv[2]);
    uint8_t * in = read_all();
    float * out = malloc(sizeof(float) * (k > 0 ? k : 1));
    switch (type) {
        case GGML_TYPE_Q4_0:   dequantize_row_q4_0((const void *) in, out, k); break;
        case GGML_TYPE_Q4_1:   dequantize_row_q4_1((const void *) in, out, k); break;
        case GGML_TYPE_Q5_0:   dequantize_row_q5_0((const void *) in, out, k); break;
        case GGML_TYPE_Q5_1:   dequantize_row_q5_1((const void *) in, out, k); break;
        case GGML_TYPE_Q8_0:   dequantize_row_q8_0((const void *) in, out, k); break;
        case GGML_TYPE_Q2_K:   dequantize_row_q2_K((const void *) in, out, k); break;
        case GGML_TYPE_Q3_K:   dequantize_row_q3_K((const void *) in, out, k); break;
        case GGML_TYPE_Q4_K:   dequantize_row_q4_K((const void *) in, out, k); break;
        case GGML_TYPE_Q5_K:   dequantize_row_q5_K((const void *) in, out, k); break;
        case GGML_TYPE_Q6_K:   dequantize_row_q6_K((const void *) in, out, k); break;
        case GGML_TYPE_Q8_K:   dequantize_row_q8_K((const void *) in, out, k); break;
        case GGML_TYPE_IQ4_NL: dequantize_row_iq4_nl((const void *) in, out, k); break;
        case GGML_TYPE_IQ4_XS: dequantize_row_iq4_xs((const void *) in, out, k); break;
        default: fprintf(stderr, "type %d not handled\n", type); return 2;
    }
    fwrite(out, sizeof(float), (size_t) k, stdout);
    return 0;
}
