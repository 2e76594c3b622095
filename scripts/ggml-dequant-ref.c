// llama.cpp's own dequantization as a filter, for checking src/core/gguf/codec.ts bit for bit:
//   ggml-dequant-ref TYPE COUNT < blocks > floats
// TYPE is the ggml type number, COUNT the number of values; stdin holds the blocks, stdout gets COUNT
// little-endian floats from ggml-quants.c's dequantize_row_* (compiled from the bundled llama.cpp source).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "ggml-quants.h"

// ggml-quants.c refers to these only in row validation and error paths, which this filter never takes.
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "abort %s:%d %s\n", file, line, fmt); exit(2); }
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void) type; (void) ne; abort(); }
const char * ggml_type_name(enum ggml_type type) { (void) type; return "?"; }
size_t ggml_type_size(enum ggml_type type) { (void) type; abort(); }

int main(int argc, char ** argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s TYPE COUNT < blocks\n", argv[0]); return 2; }
    const int type = atoi(argv[1]);
    const int64_t k = atoll(argv[2]);
    size_t cap = 1 << 20, n = 0, got;
    uint8_t * in = malloc(cap);
    while ((got = fread(in + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) in = realloc(in, cap *= 2);
    }
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
