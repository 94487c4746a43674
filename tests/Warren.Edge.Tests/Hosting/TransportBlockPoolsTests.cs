using System.Buffers;
using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Warren.Edge.Hosting;
using Warren.Protocol.Buffers;

namespace Warren.Edge.Tests.Hosting;

/// <summary>
/// The edge's socket transport receives into 16 KiB blocks (Hosting/TransportBlockPools.cs): with Kestrel's 4 KiB
/// blocks an upload arrived 2 KiB per receive (docs/performance.md, "Bulk").
/// </summary>
public sealed class TransportBlockPoolsTests
{
    [Fact]
    public void Each_listener_gets_its_own_pool_of_16_KiB_blocks_and_disposing_one_leaves_the_others_working()
    {
        var factory = new TransportBlockPools();
        var first = factory.Create();
        using var second = factory.Create();

        Assert.NotSame(first, second);
        Assert.Equal(16 * 1024, second.MaxBufferSize);
        first.Dispose(); // Kestrel disposes a listener's pool when the listener stops
        using var block = second.Rent(2048);
        Assert.Equal(16 * 1024, block.Memory.Length);
    }

    [Fact]
    public async Task A_Kestrel_connection_on_a_real_socket_receives_into_the_16_KiB_pool()
    {
        var pools = new List<MemoryPool<byte>?>();
        var builder = WebHosting.CreateBuilder(inlineScheduling: true);
        TransportBlockPools.Use(builder.Services);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => connection =>
        {
            lock (pools)
            {
                pools.Add(connection.Features.Get<IMemoryPoolFeature>()?.MemoryPool);
            }
            return next(connection);
        })));
        await using var app = builder.Build();
        app.Run(async context =>
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            await context.Response.WriteAsync(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        using var client = new HttpClient();
        using var response = await client.PostAsync(new Uri(address + "/"), new ByteArrayContent(new byte[256 * 1024]));

        Assert.Equal("262144", await response.Content.ReadAsStringAsync());
        var pool = Assert.Single(pools);
        Assert.IsType<BlockPool>(pool);
        Assert.Equal(16 * 1024, pool.MaxBufferSize);
        await app.StopAsync();
    }
}
