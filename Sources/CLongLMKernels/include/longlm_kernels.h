#pragma once
#include <stddef.h>
#include <stdint.h>

// The int8 decode kernels ("fast" precision): activations rounded once per vector to 8-bit blocks, weights
// unpacked to small integers inside the kernel, products summed in integers, scales applied per block.
// Formats and the arithmetic of each weight type: docs/kernels.md.
//
// Every function takes the kernel variant to run. Each variant is a separate function compiled with its own
// target attribute (`__attribute__((target("avx2,fma")))`), so one build runs on any x86-64 node; the caller
// picks a variant the node supports (CPUFeatures in LongLMCore), never the build machine.

typedef enum {
    LONGLM_KERNELS_PORTABLE = 0,  // plain C, any CPU (also aarch64)
    LONGLM_KERNELS_AVX2 = 1,      // AVX2 + FMA + F16C (x86-64-v3): vpmaddubsw / vpmaddwd integer dot products
    LONGLM_KERNELS_AVX512VNNI = 2,  // AVX-512 F/BW/VL/DQ + VNNI, on top of AVX2: vpdpbusd on 512-bit registers for
                                    // Q4_0, Q5_0, Q8_0, IQ4_NL; every other kernel is the AVX2 one
} longlm_kernel_variant;

/// Activations for 32-weight block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL): x[i] ~ d * qs[i]. The
/// rounding is llama.cpp's Q8_0/Q8_1 activation block: qs[i] = round(x[i] / s) with s = max |x| / 127 in f32,
/// then d = s rounded to f16 (llama.cpp stores the scale as f16), so a product sees the same integers and the
/// same scale as llama.cpp's.
typedef struct {
    float d;        // scale: (max |x| / 127) rounded to f16, held as a float (0 for an all-zero block)
    int32_t sum;    // sum of qs (for the weight types with an offset)
    float d_sum;    // s * sum rounded to f16: llama.cpp's Q8_1 "s", for the weight types with a min (Q4_1, Q5_1)
    int8_t qs[32];
} longlm_q8_32;

/// Activations for 256-weight super-block types (Q2_K .. Q6_K, IQ4_XS): x[i] ~ d * qs[i].
typedef struct {
    float d;
    int16_t bsums[16];  // bsums[g] = sum of qs[16 g ..< 16 g + 16]
    int8_t qs[256];
} longlm_q8_256;

/// 32 or 256: the activation block a weight type (a ggml type id) is multiplied with; 0 when the type has no
/// int8 kernel.
int longlm_int8_activation_block(int ggml_type);

/// Rounds `n` floats (a multiple of 32) to `n / 32` blocks (every variant gives the same blocks).
void longlm_quantize_q8_32(longlm_kernel_variant variant, const float *x, int64_t n, longlm_q8_32 *out);
/// Rounds `n` floats (a multiple of 256) to `n / 256` blocks.
void longlm_quantize_q8_256(longlm_kernel_variant variant, const float *x, int64_t n, longlm_q8_256 *out);

/// out[i] = d * q[i]: `n` floats (a multiple of `block`, 32 or 256) rounded exactly as the two functions above
/// round them, written back as floats. A prefill in the fast precision multiplies these with f32 weights, so
/// its products equal the integer path's up to f32 summation rounding, whatever the batch size.
void longlm_round_activations(const float *x, int64_t n, int block, float *out);

/// y[r] = dot(weight row r, activations) for r in row_begin ..< row_end, for `vectors` activation vectors:
/// the one for vector v starts at `activations + v * activation_stride` (bytes) and its results go to
/// y[v * y_stride + r]. Rows are `row_bytes` apart from `weights` and hold `cols` weights (whole
/// blocks of the type). Returns 0, or -1 when the type or variant has no kernel.
int longlm_int8_dot_rows(longlm_kernel_variant variant, int ggml_type, const void *weights, size_t row_bytes,
                         int64_t row_begin, int64_t row_end, int64_t cols, const void *activations,
                         size_t activation_stride, int vectors, float *y, int64_t y_stride);

/// The int8 GEMM (prefill in the fast precision: many vectors at once): the products of longlm_int8_dot_rows with
/// exact integer sums per block, in register tiles of 4 rows by 4 vectors on panels that put 16 blocks side by
/// side, so scales cost one multiply per 16 blocks (docs/kernels.md, "The int8 GEMM"). For the 32-block types only
/// the order of the float sums differs from the row products; the K-quants and IQ4_XS also round their
/// activations in finer blocks (below).
///
/// Bytes of one vector's activation panel for a weight type and `cols` columns (0: the type has no GEMM).
size_t longlm_int8_gemm_panel_bytes(int ggml_type, int64_t cols);
/// Rounds `vectors` vectors x + v * cols and writes their panels, one every longlm_int8_gemm_panel_bytes(ggml_type,
/// cols) bytes from `panels` (64-byte alignment is best). The 32-block types round as longlm_quantize_q8_32 does
/// (the row products' activations exactly); the 256-block types round each 32 (or 16) values on their own, with
/// the Q8_K recipe, where the row products round 256 at once. Returns 0, or -1 (no GEMM for the type, no memory).
int longlm_int8_gemm_activations(longlm_kernel_variant variant, int ggml_type, const float *x, int64_t cols,
                                 int vectors, void *panels);
/// 1 when `variant` has a GEMM tile: portable (the reference, slow) and avx512vnni.
int longlm_int8_gemm_available(longlm_kernel_variant variant);
/// y[v * y_stride + r] = dot(weight row r, x_v) for r in row_begin ..< row_end and v < vectors, from the panels of
/// longlm_int8_gemm_activations. Returns 0, or -1 when the type or variant has no GEMM (or memory ran out).
int longlm_int8_gemm(longlm_kernel_variant variant, int ggml_type, const void *weights, size_t row_bytes,
                     int64_t row_begin, int64_t row_end, int64_t cols, const void *panels, int vectors, float *y,
                     int64_t y_stride);

/// The int8 multiply-add peak of one core: `iterations` rounds of longlm_int8_peak_multiply_adds_per_iteration()
/// register-only u8 x s8 multiply-adds (`vpdpbusd`). Returns 0, or -1 for a variant without a probe (only
/// avx512vnni has one). `checksum` keeps the work from being optimised away.
int longlm_int8_peak_probe(longlm_kernel_variant variant, int64_t iterations, uint64_t *checksum);
int64_t longlm_int8_peak_multiply_adds_per_iteration(void);

/// The exact path. y[v * y_stride + r] = dot(weight row r, x_v) for r in row_begin ..< row_end and `vectors`
/// f32 vectors x_v = x + v * cols, with the weights rebuilt exactly as the reference dequantizer rebuilds them
/// (F32, F16, BF16 and every quantized type above). Returns 0, or -1 for a type or variant without a kernel.
int longlm_exact_dot_rows(longlm_kernel_variant variant, int ggml_type, const void *weights, size_t row_bytes,
                          int64_t row_begin, int64_t row_end, int64_t cols, const float *x, int vectors, float *y,
                          int64_t y_stride);

/// Writes one row's `cols` weights as f32, bit-identical to the reference dequantizer. Returns 0 or -1.
int longlm_rebuild_row(longlm_kernel_variant variant, int ggml_type, const void *row, int64_t cols, float *out);

/// exp(row[i] - shift) in place for i < n, returning their sum; inputs below -87.3 (masked -inf included) give
/// exactly 0. A polynomial exp with relative error below 2e-7 (docs/kernels.md).
float longlm_exp_shifted_in_place(longlm_kernel_variant variant, float *row, int64_t n, float shift);

/// The largest of row[0 ..< n] (-inf for n = 0).
float longlm_row_maximum(longlm_kernel_variant variant, const float *row, int64_t n);

/// The feed-forward's activations.
typedef enum { LONGLM_ACTIVATION_GELU_TANH = 0, LONGLM_ACTIVATION_SILU = 1 } longlm_activation;

/// gate[i] = act(gate[i]) * up[i] for i < n, in the fast precision: GELU (tanh form) as x / (1 + exp(-2u)) and
/// SiLU as x / (1 + exp(-x)) with the polynomial exp above. Every variant gives the same bits.
void longlm_gated_activation(longlm_kernel_variant variant, longlm_activation activation, float *gate,
                             const float *up, int64_t n);

/// The most query rows the few-row attention products take (decode's query heads of one kv head).
enum { LONGLM_FEW_ROWS_MAX = 8 };

/// scores[r * n + c] = dot(q + r * d, keys + c * key_stride) over d floats, for r < rows (1 ... LONGLM_FEW_ROWS_MAX)
/// and c < n: attention scores of a few query rows, without packing the keys. Returns 0, or -1 for a row count or
/// variant it does not take. Every variant gives the same bits.
int longlm_few_row_scores(longlm_kernel_variant variant, const float *q, int rows, int d, const float *keys,
                          int64_t key_stride, int64_t n, float *scores);

/// acc[r * d + i] += sum over c < n of p[r * n + c] * values[c * value_stride + i], summed in key order, for
/// r < rows (1 ... LONGLM_FEW_ROWS_MAX). Returns 0 or -1 as above; every variant gives the same bits.
int longlm_few_row_values(longlm_kernel_variant variant, const float *p, int rows, int64_t n, const float *values,
                          int64_t value_stride, int d, float *acc);

/// Reads `bytes` bytes once (8-byte words, any order) and returns their xor: a memory-bandwidth probe.
uint64_t longlm_read_bytes(const void *buffer, size_t bytes);

/// An item of a pool job: `task(context, item)`.
typedef void (*longlm_pool_task)(void *context, int64_t item);

/// Runs task(context, i) for i in 0 ..< count on the calling thread and up to threads - 1 persistent workers,
/// items handed out one at a time; returns when all are done. Calls made inside an item, or while another
/// thread's job runs, run their items inline.
void longlm_pool_run(int threads, int64_t count, longlm_pool_task task, void *context);

/// The variants compiled into this build for this architecture (1 when `variant` exists here, whether or not
/// the CPU can run it).
int longlm_kernels_compiled(longlm_kernel_variant variant);

/// How the KV cache stores keys and values (docs/kernels.md, "KV cache storage").
typedef enum {
    LONGLM_KV_F32 = 0,
    LONGLM_KV_F16 = 1,   // IEEE binary16, rounded to nearest even
    LONGLM_KV_BF16 = 2,  // the top 16 bits of f32, rounded to nearest even
    LONGLM_KV_Q8_0 = 3,  // blocks of 32: {f16 scale, 32 int8}, 34 bytes
} longlm_kv_type;

/// Bytes of `n` values of the type (q8_0: n a multiple of 32).
size_t longlm_kv_bytes(longlm_kv_type type, int64_t n);
/// Stores `n` floats as the type (q8_0: n a multiple of 32). Every variant writes the same bytes.
void longlm_kv_encode(longlm_kernel_variant variant, longlm_kv_type type, const float *x, int64_t n, void *out);
/// Reads `n` values of the type back as floats. Every variant gives the same bits.
void longlm_kv_decode(longlm_kernel_variant variant, longlm_kv_type type, const void *in, int64_t n, float *out);

/// longlm_few_row_scores with the keys as the KV cache stores them: f32, f16 or bf16 (each converted exactly, so
/// the result has the bits of the f32 kernel on the decoded keys). Returns -1 for q8_0 and as above.
int longlm_few_row_scores_stored(longlm_kernel_variant variant, const float *q, int rows, int d, longlm_kv_type type,
                                 const void *keys, int64_t key_stride, int64_t n, float *scores);

/// longlm_few_row_values with the values as the KV cache stores them: f32, f16 or bf16 (each converted exactly,
/// so the result has the bits of the f32 kernel on the decoded values). Returns -1 for q8_0, a row count outside
/// 1 ... LONGLM_FEW_ROWS_MAX or a variant not compiled here.
int longlm_few_row_values_stored(longlm_kernel_variant variant, const float *p, int rows, int64_t n,
                                 longlm_kv_type type, const void *values, int64_t value_stride, int d, float *acc);

// MARK: BF16 attention tiles (attention_bf16.c; docs/kernels.md, "BF16 attention tiles")

/// Which code runs the BF16 attention products: AVX-512 BF16 (`vdpbf16ps`; the caller checks the CPU), or
/// plain C doing the same arithmetic in the same order (the reference).
typedef enum { LONGLM_BF16_PORTABLE = 0, LONGLM_BF16_AVX512 = 1 } longlm_bf16_variant;

/// 1 when this build holds the variant for this architecture (whether or not the CPU can run it).
int longlm_bf16_compiled(longlm_bf16_variant variant);

/// x[0 ..< n] as bfloat16 pairs: pairs[i] = bf16(x[2i]) | bf16(x[2i + 1]) << 16, the last pair padded with 0
/// when n is odd. Nearest even, subnormals to zero. Returns 0, or -1 for a variant not compiled here; every
/// variant gives the same bits.
int longlm_bf16_round_pairs(longlm_bf16_variant variant, const float *x, int64_t n, uint32_t *pairs);

/// Words (uint32) of the key panel of n keys of d values (d even): blocks of 16 keys, each d/2 steps of 16 lanes.
size_t longlm_bf16_key_panel_words(int64_t n, int32_t d);
/// Lays out n keys (stored as f32, f16 or bf16, `key_stride` values apart) as the key panel: lane k of step p
/// of block b holds key 16 b + k's values 2p and 2p + 1 as a bfloat16 pair; keys past n are zero.
void longlm_bf16_key_panel(longlm_kv_type type, const void *keys, int64_t key_stride, int64_t n, int32_t d,
                           uint32_t *panel);

/// Words of the value panel of n values of d dimensions: ceil(n/2) pairs of keys, d words each.
size_t longlm_bf16_value_panel_words(int64_t n, int32_t d);
/// Lays out n value rows (f32, f16 or bf16, `value_stride` apart) as the value panel: word i of pair q holds
/// dimension i of values 2q and 2q + 1 as a bfloat16 pair (a missing value 2q + 1 is zero).
void longlm_bf16_value_panel(longlm_kv_type type, const void *values, int64_t value_stride, int64_t n, int32_t d,
                             uint32_t *panel);

/// scores[r * ldc + c] = sum over pairs p of q[r * d/2 + p] . key c's pair p, for r < rows and c < n: query rows
/// as bfloat16 pairs (longlm_bf16_round_pairs), keys as a key panel. Returns 0, or -1 for a variant not compiled
/// here or d odd.
int longlm_bf16_scores(longlm_bf16_variant variant, const uint32_t *q, int rows, int32_t d, const uint32_t *panel,
                       int64_t n, float *scores, int64_t ldc);

/// acc[r * d + i] += sum over key pairs q of p[r * p_stride + q] . (value 2q, value 2q + 1)[i], for r < rows and
/// the n keys of a value panel: probability rows as bfloat16 pairs. d a multiple of 16. Returns 0 or -1 as above.
int longlm_bf16_accumulate(longlm_bf16_variant variant, const uint32_t *p, int rows, int64_t n, int64_t p_stride,
                           const uint32_t *panel, int32_t d, float *acc);

/// The softmax step of a BF16 tile, row by row (`rows` rows of `n` scores, contiguous): the tile maximum t,
/// m' = max(maxima[r], t); the probabilities exp(s - m') (this kernel's exp; -inf gives 0) rounded to bfloat16
/// pairs into pairs + r * pair_stride (the last pair padded with 0) and summed in f32; then
/// sums[r] = sums[r] * alpha + sum, maxima[r] = m', and acc[r * d ..< (r + 1) * d] scaled by alpha when it is not
/// 1, with alpha = exp(maxima[r] - m') (0 from an empty row). A row still without a visible key (m' = -inf) gets
/// zero pairs and keeps its state. Returns 0, or -1 for bad sizes or a variant not compiled here.
int longlm_bf16_softmax_pairs(longlm_bf16_variant variant, const float *scores, int rows, int64_t n,
                              float *maxima, float *sums, uint32_t *pairs, int64_t pair_stride, float *acc,
                              int32_t d);

/// A peak probe for the BF16 tiles: `vdpbf16ps` on registers only (12 independent sums); multiply-adds per
/// iteration, and the probe (0, or -1 where the variant has none).
int64_t longlm_bf16_peak_multiply_adds_per_iteration(void);
int longlm_bf16_peak_probe(longlm_bf16_variant variant, int64_t iterations, uint64_t *checksum);

// MARK: GALI logit noise (gali_noise.c; docs/gali.md, "The noise generator")

/// The key of one attention row's draws: seed, layer, head, the row's context length N and its position i,
/// chained through the SplitMix64 finaliser.
uint64_t longlm_gali_noise_row_key(uint64_t seed, int64_t layer, int64_t head, int64_t context_length, int64_t query);
/// The standard normal draw of logit (row, key): Box-Muller on the twice-finalised word row_key ^ key, in f32.
float longlm_gali_standard_normal(uint64_t row_key, int64_t key);
/// Box-Muller on 24 radius bits and 24 angle bits: sqrt(-2 ln((radius + 1) / 2^24)) * cos(2 pi angle / 2^24),
/// with the generator's own logarithm and cosine (what `longlm_gali_standard_normal` applies to a draw word).
float longlm_gali_box_muller(uint32_t radius_bits, uint32_t angle_bits);
/// Adds noise to one row of logits for query position `query`: row[c] += eps(row_key, j) * std with
/// j = key_positions[c], std = (query - j) * std_per_distance + std_constant (f32), for causal keys (j <= query)
/// and, with `fractional_only`, only keys with j < prefix_length and j mod group_size != 0. Every variant gives
/// the same bits. Returns 0, or -1 for a group size below 1 or a variant not compiled here.
int longlm_gali_add_noise(longlm_kernel_variant variant, float *row, const int32_t *key_positions, int64_t n,
                          uint64_t row_key, int64_t query, int64_t prefix_length, int64_t group_size,
                          int fractional_only, float std_per_distance, float std_constant);
