using System.IO.Pipelines;
using System.Threading.Channels;

namespace Warren.Protocol.Tests.Support;

/// <summary>
/// An in-memory transport pair that delivers every byte <c>oneWay</c> after it was written, in order: a link with
/// RTT = 2 x oneWay and no bandwidth limit (the toxiproxy "latency" toxic, in process). The delay models the link;
/// nothing in a test waits on it for synchronisation.
/// </summary>
internal static class DelayedTransport
{
    public static (IDuplexPipe Client, IDuplexPipe Server) CreatePair(TimeSpan oneWay)
    {
        var options = new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false);
        var clientOut = new Pipe(options);
        var serverOut = new Pipe(options);
        var toClient = new Pipe(options);
        var toServer = new Pipe(options);
        _ = RelayAsync(clientOut.Reader, toServer.Writer, oneWay);
        _ = RelayAsync(serverOut.Reader, toClient.Writer, oneWay);
        return (new DuplexPipe(toClient.Reader, clientOut.Writer), new DuplexPipe(toServer.Reader, serverOut.Writer));
    }

    private static async Task RelayAsync(PipeReader from, PipeWriter to, TimeSpan delay)
    {
        var inFlight = Channel.CreateUnbounded<(long Due, byte[] Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var deliver = DeliverAsync(inFlight.Reader, to);
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    inFlight.Writer.TryWrite((Environment.TickCount64 + (long)delay.TotalMilliseconds, segment.ToArray()));
                }
                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (InvalidOperationException)
        {
            // The session completed its output while we read: the link is gone.
        }
        finally
        {
            inFlight.Writer.TryComplete();
            await from.CompleteAsync();
        }
        await deliver;
    }

    private static async Task DeliverAsync(ChannelReader<(long Due, byte[] Bytes)> inFlight, PipeWriter to)
    {
        await foreach (var (due, bytes) in inFlight.ReadAllAsync())
        {
            var wait = due - Environment.TickCount64;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait));
            }
            var flush = await to.WriteAsync(bytes);
            if (flush.IsCompleted)
            {
                break;
            }
        }
        await to.CompleteAsync();
    }
}
