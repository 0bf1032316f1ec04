"""PyTorch gloo all-reduce on CPU: the peer of `cargo bench --bench allreduce`.

    python bench/allreduce_gloo.py [RANKS...]     (default: 2 4)

Same sizes, same CSV: impl,ranks,bytes,ms_per_op,algbw_gbps,busbw_gbps.
"""
import socket, sys, time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SIZES = [4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]


def run(rank, n, port):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=n)
    for nbytes in SIZES:
        buf = torch.ones(nbytes // 4, dtype=torch.float32)
        iters = min(max((256 << 20) // nbytes, 5), 200)
        for _ in range(3):
            dist.all_reduce(buf)
        dist.barrier()
        t = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(buf)
        dist.barrier()
        secs = (time.perf_counter() - t) / iters
        if rank == 0:
            alg = nbytes / secs / 1e9
            bus = alg * 2 * (n - 1) / n
            print(f'gloo,{n},{nbytes},{secs * 1e3:.4f},{alg:.3f},{bus:.3f}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    ranks = [int(a) for a in sys.argv[1:]] or [2, 4]
    print('impl,ranks,bytes,ms_per_op,algbw_gbps,busbw_gbps', flush=True)
    for n in ranks:
        s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
        mp.spawn(run, args=(n, port), nprocs=n)
