using System.Collections.Concurrent;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Tests.Support;

/// <summary>Accepts every stream the peer opens and runs <c>handler</c> on each, until the session closes.</summary>
internal sealed class AcceptLoop
{
    private readonly ConcurrentBag<Task> _handlers = [];

    public AcceptLoop(MuxSession session, Func<MuxStream, Task> handler)
    {
        Loop = AcceptAll.RunAsync(session, handler, _handlers.Add);
    }

    /// <summary>Ends with the session.</summary>
    public Task Loop { get; }

    /// <summary>Waits for every handler started so far; rethrows the first failure.</summary>
    public Task HandlersAsync() => Task.WhenAll(_handlers).Within();

    /// <summary>Copies everything read back to the sender, then half-closes.</summary>
    public static async Task EchoAsync(MuxStream stream)
    {
        await using (stream)
        {
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, n));
            }
            stream.CompleteWrites();
        }
    }

    /// <summary>Reads to the end and returns what arrived.</summary>
    public static async Task<byte[]> ReadAllAsync(MuxStream stream)
    {
        var ms = new MemoryStream();
        await stream.CopyToAsync(ms);
        return ms.ToArray();
    }
}
