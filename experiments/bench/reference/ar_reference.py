"""PyTorch eager reference for `beyond bench` (experiments/bench/bench.cpp): the same GPT-2 style
model, training step and generation loop as the C++ side, timed the same way. Prints one JSON line.

  python ar_reference.py train --steps 50 --warmup 10 --threads 1
  python ar_reference.py generate --threads 1 --repeats 3 --lengths 256 1024
"""
import argparse
import json
import math
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the C++ side then shows only its own numbers
    print(json.dumps({"error": f"this Python has no torch ({e})"}))
    sys.exit(0)

VOCAB, D_MODEL, N_LAYERS, N_HEADS = 65, 128, 4, 4


class LayerCache:
    """Keys/values in preallocated buffers [B, H, capacity, hd], the first `length` positions filled."""

    def __init__(self, capacity):
        self.capacity, self.length, self.k, self.v = capacity, 0, None, None

    def append(self, k, v):
        if self.k is None:
            shape = (k.size(0), k.size(1), self.capacity, k.size(3))
            self.k, self.v = k.new_empty(shape), v.new_empty(shape)
        end = self.length + k.size(2)
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class Block(nn.Module):
    """Pre-norm: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self):
        super().__init__()
        self.attn_norm = nn.LayerNorm(D_MODEL)
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(D_MODEL, D_MODEL) for _ in range(4))
        self.mlp_norm = nn.LayerNorm(D_MODEL)
        self.up_proj = nn.Linear(D_MODEL, 4 * D_MODEL)
        self.down_proj = nn.Linear(4 * D_MODEL, D_MODEL)

    def attention(self, x, cache):
        B, T, _ = x.shape
        heads = lambda t: t.view(B, T, N_HEADS, -1).transpose(1, 2)  # (B,T,D) -> (B,H,T,hd)
        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        if cache is not None:
            assert T == 1 or cache.length == 0, "after the prefill, decode one token at a time"
            k, v = cache.append(k, v)
        # A single new query sees every key; a prefix from position 0 needs the causal triangle.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, D_MODEL))

    def forward(self, x, cache=None):
        x = x + self.attention(self.attn_norm(x), cache)
        return x + self.down_proj(F.gelu(self.up_proj(self.mlp_norm(x))))


class GPT(nn.Module):
    def __init__(self, max_seq_len):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, D_MODEL)
        self.pos_embed = nn.Embedding(max_seq_len, D_MODEL)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYERS))
        self.norm = nn.LayerNorm(D_MODEL)
        # beyond's init_weights: N(0, 0.02), residual outputs scaled by 1/sqrt(2 n_layers) (GPT-2).
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "norm" in name:
                nn.init.ones_(p)
            else:
                residual = name.endswith(("o_proj.weight", "down_proj.weight"))
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * N_LAYERS) if residual else 0.02)

    def forward(self, tokens, caches=None):
        past, T = (caches[0].length if caches else 0), tokens.size(1)
        x = self.embed_tokens(tokens) + self.pos_embed(torch.arange(past, past + T))
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches else None)
        return F.linear(self.norm(x), self.embed_tokens.weight)  # tied head


def bench_train(args):
    torch.manual_seed(0)
    batch, block = 12, 64
    model = GPT(max_seq_len=block).train()
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    # Batches are drawn up front so that only the step is timed, as on the C++ side.
    batches = [torch.randint(0, VOCAB, (batch, block + 1)) for _ in range(args.warmup + args.steps)]
    batches = [(t[:, :-1].contiguous(), t[:, 1:].contiguous()) for t in batches]
    steps, phases = [], {"forward": [], "backward": [], "clip": [], "adamw": []}
    for i, (x, y) in enumerate(batches):
        t0 = time.perf_counter()
        opt.zero_grad()  # grads to None, PyTorch's default (beyond::AdamW zeroes them in place)
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1))
        t1 = time.perf_counter()
        loss.backward()
        loss_value = loss.item()
        t2 = time.perf_counter()
        nn.utils.clip_grad_norm_(params, 1.0)
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= args.warmup:
            steps.append(1e3 * (t4 - t0))
            for name, (a, b) in zip(phases, [(t0, t1), (t1, t2), (t2, t3), (t3, t4)]):
                phases[name].append(1e3 * (b - a))
    return {"params": sum(p.numel() for p in params), "median_ms": statistics.median(steps),
            "mean_ms": statistics.fmean(steps), "phases_ms": {k: statistics.median(v) for k, v in phases.items()},
            "loss": loss_value}


@torch.inference_mode()
def generate(model, new_tokens, use_cache, seed):
    """beyond::generate's loop for one 1-token prompt: sample at temperature 1, feed the token back."""
    gen = torch.Generator().manual_seed(seed)
    context = [0]
    caches = [LayerCache(model.pos_embed.num_embeddings) for _ in model.blocks] if use_cache else None
    for _ in range(new_tokens):
        fresh = context[caches[0].length:] if use_cache else context
        logits = model(torch.tensor([fresh]), caches)
        probs = torch.softmax(logits[:, -1].float(), dim=-1)
        context.append(torch.multinomial(probs, 1, generator=gen).item())
    return len(context) - 1


def bench_generate(args):
    torch.manual_seed(0)
    model = GPT(max_seq_len=1280).eval()
    generate(model, 32, True, seed=1)  # warm-up, as on the C++ side
    generate(model, 32, False, seed=1)
    runs = []
    for n in args.lengths:
        for use_cache in (True, False):
            rates = []
            for _ in range(args.repeats if use_cache or n < max(args.lengths) else 1):  # as bench.cpp
                t0 = time.perf_counter()
                produced = generate(model, n, use_cache, seed=1)
                rates.append(produced / (time.perf_counter() - t0))
            runs.append({"new_tokens": n, "cache": use_cache, "tokens_per_s": statistics.median(rates)})
    return {"params": sum(p.numel() for p in model.parameters()), "runs": runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["train", "generate"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = bench_train(args) if args.mode == "train" else bench_generate(args)
    info = {"impl": "python-eager", "torch": torch.__version__, "threads": torch.get_num_threads()}
    print(json.dumps({**info, **result}))


if __name__ == "__main__":
    main()
