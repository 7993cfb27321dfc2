"""PyTorch eager reference for `beyond bench trm-step` (experiments/bench/bench.cpp): the same Tiny
Recursive Model, deep-supervision objective and training step as the C++ side, timed the same way.
Prints one JSON line.

  python trm_reference.py --data /tmp/beyond_trm_step_<pid>/data.safetensors --threads 1

The C++ side writes the data file: the sizes and optimizer settings as JSON in the safetensors
metadata ("spec"), its initial weights (model.*), and every step's batch drawn up front (inputs and
labels [S, B, L], min_steps [S, B], lr [S]). Starting from the same weights on the same batches,
the two sides report the same first-step loss; later steps drift apart by float rounding in the
backward pass, which AdamATan2's sign-like first updates and the recursion amplify.

One training step is beyond's Trainer step: zero the gradients; one supervision step for every
batch slot (refill halted slots, T-1 latent recursions without gradient and one with, stable-max
cross-entropy in float64 + 0.5 * halting BCE); backward; clip the gradient norm; AdamATan2 (or
AdamW); EMA of the weights.
"""
import argparse
import json
import math
import statistics
import struct
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the C++ side then shows only its own numbers
    print(json.dumps({"error": f"this Python has no torch ({e})"}))
    sys.exit(0)


def read_safetensors(path):
    """Tensors and metadata of a safetensors file (the format is small enough to read by hand,
    which spares this script the `safetensors` package)."""
    dtypes = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "I64": torch.int64,
              "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = dtypes[entry["dtype"]]
        numel = math.prod(entry["shape"])
        t = torch.frombuffer(data, dtype=dtype, count=numel, offset=8 + n + begin) if numel else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(entry["shape"]).clone()
    return tensors, metadata


def swiglu_hidden(ratio, width):
    """beyond's SwiGLU width: round(ratio * width) (halves away from zero), up to a multiple of 8."""
    hidden = math.floor(ratio * width + 0.5)
    return max((hidden + 7) // 8 * 8, 1)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) over the last dimension in float32, with an optional learnable
    scale. Written out as TRM's own code does: F.rms_norm copies a transposed input (the mlp_t
    block normalises over the sequence axis) and measured slower here."""

    def __init__(self, dim, eps, scale):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if scale else None

    def forward(self, x):
        xf = x.float()
        y = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)
        return y * self.weight if self.weight is not None else y


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden, bias):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class SequenceMLP(nn.Module):
    """TRM's attention-free mixer: a SwiGLU along the sequence axis (each channel mixes all cells)."""

    def __init__(self, seq_len, hidden, bias):
        super().__init__()
        self.mlp = SwiGLU(seq_len, hidden, bias)

    def forward(self, x):  # (B, L, D) -> (B, D, L) -> mix L -> (B, L, D)
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)


class Attention(nn.Module):
    """Bidirectional multi-head attention (GQA when n_kv_heads < n_heads) with rotate-half RoPE."""

    def __init__(self, s):
        super().__init__()
        self.h, self.h_kv, self.hd = s["n_heads"], s["n_kv_heads"], s["head_dim"]
        d, bias = s["d_model"], s["bias"]
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=bias)
        self.k_proj = nn.Linear(d, self.h_kv * self.hd, bias=bias)
        self.v_proj = nn.Linear(d, self.h_kv * self.hd, bias=bias)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=bias)
        self.rope = s["positional"] == "rope"
        if self.rope:  # angle[t, i] = t * theta^(-2i / hd), the table computed once
            half = self.hd // 2
            inv_freq = torch.pow(s["rope_theta"], -torch.arange(0, half, dtype=torch.float32) * (2.0 / self.hd))
            angle = torch.outer(torch.arange(0, s["seq_len"], dtype=torch.float32), inv_freq)
            self.register_buffer("cos", angle.cos(), persistent=False)
            self.register_buffer("sin", angle.sin(), persistent=False)

    def rotate(self, x):  # (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * self.cos - x2 * self.sin, x2 * self.cos + x1 * self.sin], dim=-1)

    def forward(self, x):
        B, L, _ = x.shape
        q = self.q_proj(x).view(B, L, self.h, self.hd).transpose(1, 2)  # (B, H, L, hd)
        k = self.k_proj(x).view(B, L, self.h_kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.h_kv, self.hd).transpose(1, 2)
        if self.rope:
            q, k = self.rotate(q), self.rotate(k)
        y = F.scaled_dot_product_attention(q, k, v, enable_gqa=self.h_kv != self.h)
        return self.o_proj(y.transpose(1, 2).reshape(B, L, self.h * self.hd))


class Block(nn.Module):
    """Token mixer and channel MLP with post-norm (x = norm(x + f(x))) or pre-norm residuals. The
    mlp_t mixer's norm runs over the sequence axis, as the mixer does."""

    def __init__(self, s):
        super().__init__()
        self.over_sequence = s["mixer"] == "mlp_t"
        self.post = s["norm_placement"] == "post"
        eps, scale, bias = s["norm_eps"], s["norm_scale"], s["bias"]
        if self.over_sequence:
            self.mixer = SequenceMLP(s["seq_len"], swiglu_hidden(s["mlp_ratio"], s["seq_len"]), bias)
        else:
            self.attn = Attention(s)
        self.attn_norm = RMSNorm(s["seq_len"] if self.over_sequence else s["d_model"], eps, scale)
        self.mlp = SwiGLU(s["d_model"], swiglu_hidden(s["mlp_ratio"], s["d_model"]), bias)
        self.mlp_norm = RMSNorm(s["d_model"], eps, scale)

    def mix(self, x):
        return self.mixer(x) if self.over_sequence else self.attn(x)

    def mix_norm(self, x):
        return self.attn_norm(x.transpose(1, 2)).transpose(1, 2) if self.over_sequence else self.attn_norm(x)

    def forward(self, x):
        if self.post:
            x = self.mix_norm(x + self.mix(x))
            return self.mlp_norm(x + self.mlp(x))
        x = x + self.mix(self.mix_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class TRM(nn.Module):
    """One small net used for both updates: n times z <- net(z + y + x), then y <- net(y + z); T such
    latent recursions per supervision step, only the last under gradient."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        d = s["d_model"]
        self.embed_tokens = nn.Embedding(s["vocab_size"], d)
        self.blocks = nn.ModuleList(Block(s) for _ in range(s["n_layers"]))
        self.lm_head = nn.Linear(d, s["vocab_size"], bias=False)
        self.q_head = nn.Linear(d, 1, bias=True)
        self.register_buffer("h_init", torch.zeros(d))
        self.register_buffer("l_init", torch.zeros(d))

    def net(self, h):
        for block in self.blocks:
            h = block(h)
        return h

    def initial_carry(self, batch):
        L = self.s["seq_len"]
        return self.h_init.expand(batch, L, -1).clone(), self.l_init.expand(batch, L, -1).clone()

    def latent_recursion(self, x, y, z):
        for _ in range(self.s["l_cycles"]):
            z = self.net(z + y + x)
        return self.net(y + z), z

    def forward(self, tokens, y, z):
        """One supervision step: (carry y, carry z, logits [B, L, V], halt logit [B])."""
        x = self.embed_tokens(tokens)
        if self.s["embedding_scale"]:
            x = x * math.sqrt(self.s["d_model"])
        with torch.no_grad():
            for _ in range(self.s["h_cycles"] - 1):
                y, z = self.latent_recursion(x, y, z)
        if self.s["one_step_gradient"]:  # ablation: only the last z and y updates under gradient
            with torch.no_grad():
                for _ in range(self.s["l_cycles"] - 1):
                    z = self.net(z + y + x)
            z = self.net(z + y + x)
            y = self.net(y + z)
        else:
            y, z = self.latent_recursion(x, y, z)
        return y.detach(), z.detach(), self.lm_head(y), self.q_head(y[:, 0]).squeeze(-1)


def stablemax_cross_entropy(logits, labels, ignore_index=-100):
    """-log p_label with p_i = s(x_i) / sum_j s(x_j), s(x) = 1/(1-x) below 0 and x+1 above; float64."""
    x = logits.double()
    s = torch.where(x < 0, 1 / (1 - x.clamp(max=0)), x.clamp(min=0) + 1)
    log_p = s.log() - s.sum(-1, keepdim=True).log()
    valid = labels != ignore_index
    picked = log_p.gather(-1, torch.where(valid, labels, 0).unsqueeze(-1)).squeeze(-1)
    return torch.where(valid, -picked, 0.0)


class DeepSupervision:
    """The carry persists across optimizer steps; a slot that halted (q_halt > 0 after its
    exploration minimum, or halt_max_steps reached) takes the next batch's puzzle and restarts."""

    def __init__(self, model):
        self.model, self.carry = model, None

    def loss(self, inputs, labels, min_steps):
        B = inputs.size(0)
        with torch.no_grad():
            if self.carry is None:
                y, z = self.model.initial_carry(B)
                self.carry = dict(inputs=inputs.clone(), labels=labels.clone(), y=y, z=z,
                                  steps=torch.zeros(B, dtype=torch.long), min_steps=min_steps.clone(),
                                  halted=torch.zeros(B, dtype=torch.bool))
            else:
                c, fresh = self.carry, self.carry["halted"]
                y0, z0 = self.model.initial_carry(B)
                c["inputs"] = torch.where(fresh[:, None], inputs, c["inputs"])
                c["labels"] = torch.where(fresh[:, None], labels, c["labels"])
                c["y"] = torch.where(fresh[:, None, None], y0, c["y"])
                c["z"] = torch.where(fresh[:, None, None], z0, c["z"])
                c["steps"] = torch.where(fresh, 0, c["steps"])
                c["min_steps"] = torch.where(fresh, min_steps, c["min_steps"])
        c = self.carry
        y, z, logits, q_halt = self.model(c["inputs"], c["y"], c["z"])
        lm_loss = stablemax_cross_entropy(logits, c["labels"]).mean(-1).mean()
        with torch.no_grad():
            correct = logits.argmax(-1) == c["labels"]
            exact = correct.all(-1)
        halt_loss = F.binary_cross_entropy_with_logits(q_halt.double(), exact.double())
        total = lm_loss + 0.5 * halt_loss
        with torch.no_grad():
            c["y"], c["z"] = y, z
            c["steps"] = c["steps"] + 1
            c["halted"] = (c["steps"] >= self.model.s["halt_max_steps"]) | ((q_halt > 0) & (c["steps"] >= c["min_steps"]))
        # The metrics the trainer logs, read every step as it does.
        metrics = {"cell_accuracy": correct.float().mean().item(), "exact_accuracy": exact.float().mean().item(),
                   "halt_loss": halt_loss.item(), "mean_steps": c["steps"].float().mean().item()}
        return total.float(), metrics


class AdamATan2:
    """AdamW with the update m_hat / sqrt(v_hat) replaced by atan2(m_hat, sqrt(v_hat)) (no eps):
    p <- p (1 - lr wd);  p <- p - lr / (1 - b1^t) * atan2(m, sqrt(v / (1 - b2^t))).
    Matrices decay, vectors do not. atan2=False gives plain AdamW."""

    def __init__(self, named_params, beta1, beta2, weight_decay, eps, atan2):
        self.params = [(p, p.dim() >= 2 and "norm" not in name) for name, p in named_params if p.requires_grad]
        self.m = [torch.zeros_like(p) for p, _ in self.params]
        self.v = [torch.zeros_like(p) for p, _ in self.params]
        self.b1, self.b2, self.wd, self.eps, self.atan2, self.t = beta1, beta2, weight_decay, eps, atan2, 0

    def zero_grad(self):
        for p, _ in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr):
        self.t += 1
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for (p, decay), m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            if decay and self.wd:
                p.mul_(1 - lr * self.wd)
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            if self.atan2:
                p.sub_(torch.atan2(m, (v / bc2).sqrt()), alpha=lr / bc1)
            else:
                p.addcdiv_(m, (v / bc2).sqrt().add_(self.eps), value=-lr / bc1)


class EMA:
    def __init__(self, params, decay):
        self.params, self.decay = list(params), decay
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self):
        for s, p in zip(self.shadow, self.params):
            s.lerp_(p, 1 - self.decay)


def check_supported(s):
    """The knobs this reference implements; anything else would not be the same model."""
    wanted = {"mlp": "swiglu", "norm": "rmsnorm", "causal": False, "qk_norm": False, "sliding_window": 0,
              "dropout": 0.0, "tie_embeddings": False, "act_continue": False}
    for key, value in wanted.items():
        if s[key] != value:
            raise ValueError(f"the reference implements model.{key} = {json.dumps(value)} only, got {json.dumps(s[key])}")
    if s["mixer"] not in ("attention", "mlp_t"):
        raise ValueError(f"the reference implements mixer attention or mlp_t, got {s['mixer']}")
    if s["norm_placement"] not in ("post", "pre"):
        raise ValueError(f"the reference implements norm_placement post or pre, got {s['norm_placement']}")
    if s["mixer"] == "attention" and s["positional"] not in ("rope", "nope", "none"):
        raise ValueError(f"the reference implements positional rope, nope or none, got {s['positional']}")
    if s["precision"] != "fp32":
        raise ValueError("the reference runs fp32 only")


def bench(args):
    tensors, metadata = read_safetensors(args.data)
    s = json.loads(metadata["spec"])
    check_supported(s)
    model = TRM(s).train()
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    objective = DeepSupervision(model)
    named = list(model.named_parameters())
    params = [p for _, p in named]
    optimizer = AdamATan2(named, s["beta1"], s["beta2"], s["weight_decay"], s["eps"], s["atan2"])
    ema = EMA(params, s["ema"]) if s["ema"] > 0 else None
    inputs, labels, min_steps, lrs = tensors["inputs"], tensors["labels"], tensors["min_steps"], tensors["lr"].tolist()
    max_norm = s["grad_clip"] if s["grad_clip"] > 0 else math.inf  # the trainer takes the norm either way
    steps, losses = [], []
    phases = {"forward": [], "backward": [], "clip": [], "optimizer": [], "ema": []}
    for i in range(inputs.size(0)):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss, _ = objective.loss(inputs[i], labels[i], min_steps[i])
        t1 = time.perf_counter()
        loss.backward()
        losses.append(loss.item())
        t2 = time.perf_counter()
        nn.utils.clip_grad_norm_(params, max_norm)
        t3 = time.perf_counter()
        optimizer.step(lrs[i])
        t4 = time.perf_counter()
        if ema:
            ema.update()
        t5 = time.perf_counter()
        if i >= s["warmup"]:
            steps.append(1e3 * (t5 - t0))
            for name, (a, b) in zip(phases, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)]):
                phases[name].append(1e3 * (b - a))
    return {"params": sum(p.numel() for p in params), "median_ms": statistics.median(steps),
            "mean_ms": statistics.fmean(steps), "phases_ms": {k: statistics.median(v) for k, v in phases.items()},
            "losses": losses}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the file `beyond bench trm-step` writes")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        result = bench(args)
    except (ValueError, KeyError, RuntimeError) as e:  # reported by the C++ side as "unavailable: ..."
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return
    info = {"impl": "python-eager", "torch": torch.__version__, "threads": torch.get_num_threads()}
    print(json.dumps({**info, **result}))


if __name__ == "__main__":
    main()
