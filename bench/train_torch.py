"""The peer of `strata train gpt`: the same character-level GPT, data, sampler, initial
weights, optimizer and schedule in PyTorch, single process or DDP (gloo).

    python bench/train_torch.py --init OUT0/model.safetensors --data data/shakespeare \
        --layers 2 --heads 4 --dim 64 --context 64 --batch 16 --steps 100 --lr 0.003 \
        --seed 1 [--workers 2] [--threads 2]

Prints `step<TAB>loss` lines like strata, then `mean step X ms` on stderr. The initial
weights come from `strata train gpt --steps 0 --out OUT0` (parsed here with numpy), so the
two loss curves start from the same point and must stay within float tolerance.
"""
import argparse, json, math, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

M = (1 << 64) - 1


def mix(z):
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


def offsets(seed, step, micro, lo, hi, n_tokens, context):
    span = n_tokens - context - 1
    return [mix(seed ^ mix(((step * 1000003) & M) ^ mix(micro) ^ mix(i + 1))) % span
            for i in range(lo, hi)]


def segments(n, parts):
    base, extra = divmod(n, parts)
    out, at = [], 0
    for i in range(parts):
        l = base + (1 if i < extra else 0)
        out.append((at, at + l))
        at += l
    return out


def load_corpus(path):
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(dp, f) for dp, _, fs in os.walk(path) for f in fs
        if not f.startswith(('.', '_')))
    text = ''.join(open(f, 'rb').read().decode('utf-8', 'replace') for f in files)
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    cut = len(ids) * 9 // 10
    return vocab, ids[:cut], ids[cut:]


def read_safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(info['shape'])
    return out


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.ModuleDict(dict(c_attn=nn.Linear(d, 3 * d), c_proj=nn.Linear(d, d)))
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(d, 4 * d), c_proj=nn.Linear(4 * d, d)))

    def forward(self, x):
        B, T, D = x.shape
        hd = D // self.h
        qkv = self.attn['c_attn'](self.ln_1(x)).view(B, T, 3, self.h, hd)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float('-inf')).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.attn['c_proj'](y)
        return x + self.mlp['c_proj'](F.gelu(self.mlp['c_fc'](self.ln_2(x)), approximate='tanh'))


class GPT(nn.Module):
    def __init__(self, vocab, layers, heads, dim, context):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(context, dim)
        self.h = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def lr_at(step, base, warmup, total):
    lo = base / 10
    if step < warmup:
        return base * (step + 1) / warmup
    if step >= total:
        return lo
    t = (step - warmup) / max(total - warmup, 1)
    return lo + 0.5 * (base - lo) * (1 + math.cos(math.pi * t))


def run(rank, world, a, port):
    torch.set_num_threads(a.threads)
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    vocab, train, _ = load_corpus(a.data)
    model = GPT(len(vocab), a.layers, a.heads, a.dim, a.context)
    weights = read_safetensors(a.init)
    sd = model.state_dict()
    for k in sd:
        sd[k].copy_(torch.from_numpy(weights[k].copy()))
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, bucket_cap_mb=a.bucket_mb)
    else:
        net = model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': a.weight_decay},
                             {'params': other, 'weight_decay': 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = a.warmup if a.warmup is not None else min(max(a.steps // 10, 1), 100)
    lo, hi = segments(a.batch, world)[rank]
    train_t = torch.from_numpy(train)
    gaps, last = [], None
    for step in range(a.steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, a.lr, warmup, a.steps)
        offs = offsets(a.seed, step, 0, lo, hi, len(train), a.context)
        x = torch.stack([train_t[o:o + a.context] for o in offs])
        y = torch.stack([train_t[o + 1:o + a.context + 1] for o in offs])
        loss = net(x, y) * ((hi - lo) / a.batch) * world  # DDP averages over ranks
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        l = loss.detach() / world
        if world > 1:
            import torch.distributed as dist
            dist.all_reduce(l)
        if rank == 0:
            print(f'{step + 1}\t{l.item():.6f}', flush=True)
            now = time.perf_counter()
            if last is not None:
                gaps.append((now - last) * 1e3)
            last = now
    if rank == 0 and len(gaps) > 10:
        tail = gaps[10:]
        print(f'mean step {sum(tail) / len(tail):.2f} ms over {len(tail)} steps after the first 10',
              file=sys.stderr)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--init', required=True)
    p.add_argument('--data', default='data/shakespeare')
    for k, d in [('layers', 2), ('heads', 4), ('dim', 64), ('context', 64), ('batch', 16),
                 ('steps', 100), ('seed', 1), ('workers', 1), ('threads', 2)]:
        p.add_argument('--' + k, type=int, default=d)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--weight-decay', type=float, default=0.1)
    p.add_argument('--grad-clip', type=float, default=1.0)
    p.add_argument('--bucket-mb', type=float, default=1.0)
    a = p.parse_args()
    if a.workers == 1:
        run(0, 1, a, 0)
    else:
        import socket
        import torch.multiprocessing as mp
        s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
        mp.spawn(run, args=(a.workers, a, port), nprocs=a.workers)


if __name__ == '__main__':
    main()
