using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Warren.Protocol.Buffers;

namespace Warren.Edge.Hosting;

/// <summary>
/// The memory pools of the edge's socket transport: 16 KiB blocks instead of Kestrel's 4 KiB. Kestrel's socket
/// receive reads into the free part of its pipe's last block, so with 4 KiB blocks an upload arrived 2 KiB per
/// <c>recvfrom</c>, and with inline scheduling each of those became a copy, a flush and a DATA frame on the agent
/// link: the edge spent 2.7 s of CPU per GiB uploaded (docs/performance.md, "Bulk"). An idle connection holds no
/// block (Kestrel waits for data before it rents one), and idle blocks go back to the GC after 10 s.
/// </summary>
internal sealed class TransportBlockPools : IMemoryPoolFactory<byte>
{
    /// <summary>Idle blocks kept per listener's pool (16 MiB).</summary>
    private const int MaxRetained = 1024;

    /// <summary>Makes Kestrel's socket transport take its pools from here; call before the app is built.</summary>
    public static void Use(IServiceCollection services) =>
        services.Replace(ServiceDescriptor.Singleton<IMemoryPoolFactory<byte>>(new TransportBlockPools()));

    /// <summary>A pool per listener: Kestrel disposes it with the listener.</summary>
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new BlockPool(MaxRetained, TimeProvider.System);
}
