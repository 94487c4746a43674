using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Warren.Protocol.Transport;

namespace Warren.Protocol.Tests.Support;

/// <summary>One end of a test transport: the pipe a session runs on, how to tear it down, and what owns it.</summary>
internal sealed record TransportEnd(IDuplexPipe Pipe, Action? Abort, IDisposable? Owner);

internal static class TestTransport
{
    /// <summary>Two connected ends over <paramref name="kind"/>. The caller disposes the owners after the sessions end.</summary>
    public static async Task<(TransportEnd Client, TransportEnd Server)> CreateAsync(TransportKind kind)
    {
        if (kind == TransportKind.InMemory)
        {
            var (c, s) = StreamTransport.CreateInMemoryPair();
            return (new TransportEnd(c, null, null), new TransportEnd(s, null, null));
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptSocketAsync();
        await client.ConnectAsync(listener.LocalEndpoint).ConfigureAwait(false);
        var server = await accept.ConfigureAwait(false);
        server.NoDelay = true;
        return (Wrap(client), Wrap(server));

        static TransportEnd Wrap(Socket socket)
        {
            var stream = new NetworkStream(socket, ownsSocket: true);
            return new TransportEnd(StreamTransport.Create(stream), stream.Dispose, stream);
        }
    }
}
