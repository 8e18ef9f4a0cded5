// rope-freq.cpp — the RoPE inverse-frequency table (host side), with Llama 3's "llama3" scaling.
// Reference: HF transformers modeling_rope_utils._compute_llama3_parameters.
#include <cmath>

#include "validate.hpp"

using namespace hb;

extern "C" HB_API hb_status hb_rope_inv_freq(float* inv_freq, int64_t D, const hb_rope_config* config) {
    static const char* FN = "hb_rope_inv_freq";
    HB_GUARD(FN, {
        require_ptr(FN, "inv_freq", inv_freq);
        require_ptr(FN, "config", config);
        require_positive(FN, "D", D);
        if (D % 2 != 0) return fail(HB_ERR_INVALID_ARGUMENT, "%s: D must be even (got %lld)", FN, (long long)D);
        if (!(config->theta > 0.0f)) return fail(HB_ERR_INVALID_ARGUMENT, "%s: config->theta must be > 0", FN);
        if (config->scaling != 0 && config->scaling != 1)
            return fail(HB_ERR_INVALID_ARGUMENT, "%s: config->scaling must be 0 (none) or 1 (llama3), got %d", FN,
                        config->scaling);
        if (config->scaling == 1) {
            if (!(config->factor > 0.0f) || !(config->low_freq_factor > 0.0f) ||
                !(config->high_freq_factor > config->low_freq_factor) || config->original_max_position <= 0)
                return fail(HB_ERR_INVALID_ARGUMENT,
                            "%s: llama3 scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                            "original_max_position > 0",
                            FN);
        }
        const double pi = 3.14159265358979323846;
        for (int64_t i = 0; i < D / 2; i++) {
            double freq = 1.0 / std::pow((double)config->theta, (double)(2 * i) / (double)D);
            if (config->scaling == 1) {
                double old_ctx = config->original_max_position;
                double low_wavelen = old_ctx / config->low_freq_factor;
                double high_wavelen = old_ctx / config->high_freq_factor;
                double wavelen = 2.0 * pi / freq;
                if (wavelen < high_wavelen) {
                    // high frequency: unchanged
                } else if (wavelen > low_wavelen) {
                    freq = freq / config->factor;
                } else {
                    double smooth = (old_ctx / wavelen - config->low_freq_factor) /
                                    (config->high_freq_factor - config->low_freq_factor);
                    freq = (1.0 - smooth) * freq / config->factor + smooth * freq;
                }
            }
            inv_freq[i] = (float)freq;
        }
        return HB_OK;
    });
}
