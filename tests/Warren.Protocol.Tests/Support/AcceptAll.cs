using Warren.Protocol.Session;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Tests.Support;

/// <summary>
/// Accepts every stream the peer opens and runs a handler on each, until the session closes. No xUnit here: the
/// benchmarks compile this file too (bench/Warren.Benchmarks links it).
/// </summary>
internal static class AcceptAll
{
    /// <summary>Loops until the session closes; <paramref name="started"/> sees each handler's task.</summary>
    public static async Task RunAsync(MuxSession session, Func<MuxStream, Task> handler, Action<Task>? started = null)
    {
        while (true)
        {
            MuxStream stream;
            try
            {
                stream = await session.AcceptStreamAsync().ConfigureAwait(false);
            }
            catch (SessionClosedException)
            {
                return;
            }
            stream.Accept();
            var task = Task.Run(() => handler(stream));
            started?.Invoke(task);
        }
    }
}
