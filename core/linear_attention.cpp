#include "core/linear_attention.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/delta_rule.h"

namespace beyond {

ShortConvImpl::ShortConvImpl(int64_t channels_, int64_t kernel_) : channels(channels_), kernel(kernel_) {
  TORCH_CHECK(kernel >= 1, "short conv kernel must be >= 1, got ", kernel);
  // torch's Conv1d default for a depthwise kernel: fan_in = kernel.
  const double bound = 1.0 / std::sqrt(static_cast<double>(kernel));
  weight = register_parameter("weight", at::empty({channels, 1, kernel}).uniform_(-bound, bound));
}

at::Tensor ShortConvImpl::forward(const at::Tensor& x, at::Tensor* conv_state) {
  const int64_t B = x.size(0), T = x.size(1), past = kernel - 1;
  // Causal: output t sees inputs t-kernel+1..t, so the kernel-1 inputs before the first new token
  // (the previous call's, or zeros at the start) are put in front: [B, kernel-1 + T, C].
  const bool has_past = conv_state && conv_state->defined();
  const auto before = has_past ? conv_state->transpose(1, 2).to(x.scalar_type())
                               : at::zeros({B, past, channels}, x.options());
  const auto padded = at::cat({before, x}, 1);
  if (conv_state) *conv_state = padded.narrow(1, T, past).transpose(1, 2).contiguous();  // [B, C, kernel-1]
  // y[t] = sum_j w[:, j] * padded[t + j]: one multiply-add per tap over [B, T, C]. The same as
  // at::conv1d with groups = C, but CPU depthwise conv1d is several times slower at every T
  // (and much slower in float64 or for the one-token decode step).
  const auto w = weight.view({channels, kernel});
  auto y = padded.narrow(1, 0, T) * w.select(1, 0);
  for (int64_t j = 1; j < kernel; ++j) y.addcmul_(padded.narrow(1, j, T), w.select(1, j));
  return at::silu(y);
}

namespace {

torch::nn::Linear linear(int64_t in, int64_t out, bool bias = false) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// x * rsqrt(sum x^2 + 1e-6) over the last dim (FLA's in-kernel L2 norm).
at::Tensor l2_normalize(const at::Tensor& x) { return x * at::rsqrt(x.pow(2).sum(-1, /*keepdim=*/true) + 1e-6); }

// log U(1, 16): decay rates exp(A_log) between 1 and 16 per value head.
at::Tensor init_A_log(int64_t heads) { return at::empty({heads}).uniform_(1.0, 16.0).log(); }

// softplus^-1(dt) = dt + log(1 - exp(-dt)) with dt log-uniform in [1e-3, 0.1], so that
// softplus(dt_bias) starts at dt (Mamba's time-step init).
at::Tensor init_dt_bias(int64_t n) {
  const auto dt = at::empty({n}).uniform_(std::log(1e-3), std::log(0.1)).exp();
  return dt + at::log(-at::expm1(-dt));
}

}  // namespace

LinearAttentionImpl::LinearAttentionImpl(const TransformerConfig& cfg)
    : channel_decay(cfg.linear_mixer == "kda"),
      k_heads(cfg.linear_qk_heads()),
      v_heads(cfg.linear_v_heads()),
      k_dim(cfg.linear_k_dim()),
      v_dim(cfg.linear_v_dim()),
      chunk(cfg.linear_chunk),
      form(cfg.linear_form),
      norm_eps(cfg.norm_eps) {
  TORCH_CHECK(cfg.linear_mixer == "gated_deltanet" || cfg.linear_mixer == "kda", "unknown linear_mixer ",
              cfg.linear_mixer);
  TORCH_CHECK(form == "chunked" || form == "recurrent", "unknown linear_form ", form);
  TORCH_CHECK(v_heads % k_heads == 0, "linear_heads (", v_heads, ") must be a multiple of linear_k_heads (", k_heads,
              ")");
  const int64_t D = cfg.d_model, qk = k_heads * k_dim, vv = v_heads * v_dim;
  q_proj = register_module("q_proj", linear(D, qk));
  k_proj = register_module("k_proj", linear(D, qk));
  v_proj = register_module("v_proj", linear(D, vv));
  b_proj = register_module("b_proj", linear(D, v_heads));
  o_proj = register_module("o_proj", linear(vv, D));
  if (channel_decay) {
    // Low-rank decay and output gate through a bottleneck of v_dim channels (Kimi Linear).
    f_down = register_module("f_down", linear(D, v_dim));
    f_up = register_module("f_up", linear(v_dim, v_heads * k_dim));
    g_down = register_module("g_down", linear(D, v_dim));
    g_up = register_module("g_up", linear(v_dim, vv, /*bias=*/true));
  } else {
    a_proj = register_module("a_proj", linear(D, v_heads));
    g_proj = register_module("g_proj", linear(D, vv));
  }
  if (cfg.linear_conv > 0) {
    q_conv = register_module("q_conv", ShortConv(qk, cfg.linear_conv));
    k_conv = register_module("k_conv", ShortConv(qk, cfg.linear_conv));
    v_conv = register_module("v_conv", ShortConv(vv, cfg.linear_conv));
  }
  A_log = register_parameter("A_log", init_A_log(v_heads));
  dt_bias = register_parameter("dt_bias", init_dt_bias(channel_decay ? v_heads * k_dim : v_heads));
  // A plain weight starting at 1 (not the (1 + w) form of norm_offset): FLA's gated RMSNorm.
  o_norm = register_module("o_norm", Norm("rmsnorm", v_dim, norm_eps, /*scale=*/true, /*bias=*/false));
}

at::Tensor LinearAttentionImpl::forward(const at::Tensor& x, LayerCache* cache) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x), k = k_proj(x), v = v_proj(x);
  if (q_conv) {
    // The cache keeps one conv_state for q, k and v side by side: [B, 2 Hk dk + Hv dv, kernel-1].
    at::Tensor q_state, k_state, v_state;
    if (cache && cache->conv_state.defined()) {
      const auto parts = cache->conv_state.split_with_sizes({q.size(-1), k.size(-1), v.size(-1)}, 1);
      q_state = parts[0], k_state = parts[1], v_state = parts[2];
    }
    q = q_conv(q, cache ? &q_state : nullptr);
    k = k_conv(k, cache ? &k_state : nullptr);
    v = v_conv(v, cache ? &v_state : nullptr);
    if (cache) cache->conv_state = at::cat({q_state, k_state, v_state}, 1);
  } else {
    // Without the conv the SiLU stays (as FLA's use_short_conv=False).
    q = at::silu(q), k = at::silu(k), v = at::silu(v);
  }
  q = l2_normalize(q.view({B, T, k_heads, k_dim})) * (1.0 / std::sqrt(static_cast<double>(k_dim)));
  k = l2_normalize(k.view({B, T, k_heads, k_dim}));
  v = v.view({B, T, v_heads, v_dim});
  const auto beta = at::sigmoid(b_proj(x));  // [B, T, Hv]

  // Log decay g = -exp(A_log) * softplus(. + dt_bias) <= 0: [B, T, Hv] (GDN) or [B, T, Hv, dk] (KDA).
  at::Tensor g;
  if (channel_decay) {
    const auto f = f_up(f_down(x)).view({B, T, v_heads, k_dim}) + dt_bias.view({v_heads, k_dim});
    g = -at::exp(A_log).view({v_heads, 1}) * at::softplus(f);
  } else {
    g = -at::exp(A_log) * at::softplus(a_proj(x) + dt_bias);
  }

  at::Tensor o;  // [B, T, Hv, dv]
  const at::Tensor initial = cache ? cache->state : at::Tensor();
  DeltaRuleOutput result;
  if (cache && T == 1) {
    result = delta_rule_step(q.select(1, 0), k.select(1, 0), v.select(1, 0), g.select(1, 0), beta.select(1, 0),
                             initial);
    o = result.out.unsqueeze(1);
  } else {
    result = form == "chunked" ? delta_rule_chunked(q, k, v, g, beta, initial, chunk)
                               : delta_rule_recurrent(q, k, v, g, beta, initial);
    o = result.out;
  }
  if (cache) {
    cache->state = result.state;
    cache->len += T;
  }

  const auto gate = channel_decay ? at::sigmoid(g_up(g_down(x))) : at::silu(g_proj(x));
  o = o_norm(o).reshape({B, T, v_heads * v_dim}) * gate;
  return o_proj(o);
}

}  // namespace beyond
