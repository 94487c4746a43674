using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;
using Warren.Protocol.Transport;

namespace Warren.Benchmarks;

public enum Transport
{
    InMemory,
    Tcp,
}

/// <summary>A client and a server session over one transport; the server runs <c>handler</c> on every stream it accepts.</summary>
internal sealed class SessionHarness : IAsyncDisposable
{
    private readonly List<IDisposable> _owned = [];
    private Task _acceptLoop = Task.CompletedTask;

    public MuxSession Client { get; private set; } = null!;
    public MuxSession Server { get; private set; } = null!;

    public static async Task<SessionHarness> StartAsync(Transport transport, Func<MuxStream, Task> handler)
    {
        var harness = new SessionHarness();
        System.IO.Pipelines.IDuplexPipe clientPipe, serverPipe;
        if (transport == Transport.InMemory)
        {
            (clientPipe, serverPipe) = StreamTransport.CreateInMemoryPair();
        }
        else
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var accept = listener.AcceptSocketAsync();
            await client.ConnectAsync(listener.LocalEndpoint);
            var server = await accept;
            server.NoDelay = true;
            var clientStream = new NetworkStream(client, ownsSocket: true);
            var serverStream = new NetworkStream(server, ownsSocket: true);
            harness._owned.Add(clientStream);
            harness._owned.Add(serverStream);
            (clientPipe, serverPipe) = (StreamTransport.Create(clientStream), StreamTransport.Create(serverStream));
        }
        var serverTask = MuxSession.StartAsync(serverPipe, SessionRole.Server);
        harness.Client = await MuxSession.StartAsync(clientPipe, SessionRole.Client);
        harness.Server = await serverTask;
        harness._acceptLoop = AcceptAll.RunAsync(harness.Server, handler);
        return harness;
    }

    /// <summary>Reads until EOF, discarding, then half-closes and releases the stream.</summary>
    public static async Task DiscardAsync(MuxStream stream)
    {
        // Pooled: the harness must not add its own allocations to what the session's are measured by.
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await using (stream)
            {
                while (await stream.ReadAsync(buffer) > 0)
                {
                }
                stream.CompleteWrites();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Echoes everything, then half-closes.</summary>
    public static async Task EchoAsync(MuxStream stream)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            await using (stream)
            {
                int n;
                while ((n = await stream.ReadAsync(buffer)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, n));
                }
                stream.CompleteWrites();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        await _acceptLoop;
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }
}
