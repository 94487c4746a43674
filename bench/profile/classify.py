#!/usr/bin/env python3
"""Reads `perf script -F comm,pid,tid,time,ip,sym,dso` output (call stacks, .NET perf maps on) and prints, per
process, where CPU goes: by the component of the sampled frame (leaf), by the first component of ours or of a
library found walking up from it (owner: who caused the kernel or runtime time), by syscall for kernel samples,
and inclusively (share of samples with the component anywhere on the stack). Arguments: PID=name ..."""
import collections
import re
import sys

# First match wins: specific namespaces before the broader ones that contain them.
COMPONENTS = [
    ('Warren.Protocol.Session', 'mux session'), ('Warren.Protocol.Streams', 'mux stream'),
    ('Warren.Protocol.Framing', 'mux framing'), ('Warren.Protocol.Buffers', 'mux buffers'),
    ('Warren.Protocol.Transport', 'mux transport'), ('Warren.Protocol', 'mux other'), ('Warren.Net', 'splice'),
    ('Warren.Edge.Telemetry', 'edge telemetry'), ('Warren.Edge.Policy', 'edge policy'), ('Warren.Edge', 'edge other'),
    ('Warren.Agent', 'agent'), ('Warren.Configuration', 'edge other'),
    ('Yarp.', 'yarp'), ('System.Net.Http', 'httpclient'), ('Microsoft.AspNetCore.Server.Kestrel', 'kestrel'),
    ('Microsoft.AspNetCore', 'aspnetcore'), ('System.Net.Security', 'tls (SslStream)'),
    ('System.IO.Pipelines', 'pipelines'), ('System.Net.Sockets', 'sockets'),
    ('Microsoft.Extensions.Logging', 'logging'), ('Prometheus', 'metrics'), ('System.Diagnostics.Metrics', 'metrics'),
    ('System.Threading.Channels', 'channels'),
]
GENERIC = {'kernel', 'libc', 'runtime', 'gc/alloc', 'corelib', 'threading', 'other', 'jit', 'tls (openssl)'}


def component(sym, dso):
    for key, name in COMPONENTS:
        if key in sym:
            return name
    if 'libssl' in dso or 'libcrypto' in dso:
        return 'tls (openssl)'
    if 'libcoreclr' in dso:
        return 'gc/alloc' if re.search(r'(WKS|SVR)::|gc_heap|GCHeap|Alloc|memclr|JIT_New', sym) else 'runtime'
    if 'libclrjit' in dso:
        return 'jit'
    if 'System.Private.CoreLib' in sym:
        return 'threading' if 'Threading' in sym else 'corelib'
    if 'kernel' in dso:
        return 'kernel'
    if 'libc' in dso:
        return 'libc'
    return 'other'


def read(stream):
    sample = None
    for line in stream:
        if not line.strip():
            if sample:
                yield sample
            sample = None
            continue
        if sample is None:
            m = re.match(r'\s*(\S.*?)\s+(\d+)/(\d+)\s', line)
            sample = {'pid': m.group(2) if m else '?', 'frames': []}
            continue
        m = re.match(r'\s*[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$', line)
        if m:
            sample['frames'].append((m.group(1), m.group(2)))
    if sample:
        yield sample


def main():
    names = dict(a.split('=', 1) for a in sys.argv[1:])
    leaf, owner, inclusive, syscalls = (collections.defaultdict(collections.Counter) for _ in range(4))
    total = collections.Counter()
    for s in read(sys.stdin):
        p = names.get(s['pid'], s['pid'])
        frames = s['frames']
        if not frames:
            continue
        total[p] += 1
        comps = [component(f, d) for f, d in frames]
        leaf[p][comps[0]] += 1
        if comps[0] == 'kernel':
            call = next((f for f, _ in frames if re.match(r'__(x64|se)_sys_', f)), None)
            syscalls[p][re.sub(r'\+0x[0-9a-f]+$', '', call.replace('__x64_sys_', '')) if call else 'irq/softirq/other'] += 1
        owner[p][next((c for c in comps if c not in GENERIC), 'unattributed')] += 1
        for c in set(comps) - GENERIC:
            inclusive[p][c] += 1
    for p in sorted(total):
        n = total[p]
        fmt = lambda counter, k=14: ', '.join(f'{c} {v * 100 / n:.1f}%' for c, v in counter.most_common(k))
        print(f'{p}: {n} samples')
        print(f'  leaf:      {fmt(leaf[p])}')
        print(f'  owner:     {fmt(owner[p])}')
        print(f'  inclusive: {fmt(inclusive[p])}')
        print(f'  kernel by syscall: {fmt(syscalls[p], 8)}')


if __name__ == '__main__':
    main()
