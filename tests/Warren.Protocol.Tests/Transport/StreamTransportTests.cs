using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Transport;

/// <summary>Ending a transport's output over TLS while the peer still sends (how every session close goes).</summary>
public sealed class StreamTransportTests
{
    /// <summary>
    /// After a GOAWAY the session ends its output and keeps draining what the peer sends (docs/protocol.md, "Closing
    /// the transport"). Ending the output used to send a TLS close_notify through SslStream.ShutdownAsync, which is not
    /// serialised with the read in progress on the reader's thread: now and then that read failed ("application data
    /// after close notify"), the drain ended, and the connection was reset under the GOAWAY. The race is narrow, so
    /// this runs many closes against a peer that never stops sending; with the close_notify it failed within
    /// a few dozen rounds.
    /// </summary>
    [Fact]
    public async Task Ending_the_output_never_fails_a_read_in_progress_or_the_peers_end_of_stream()
    {
        const int rounds = 200;
        for (var round = 0; round < rounds; round++)
        {
            var (peer, local) = await TestTransport.CreateAsync(TransportKind.Tls);
            using var stop = new CancellationTokenSource();
            try
            {
                var flood = FloodAsync(peer, stop.Token);
                var drain = new Drain(local);
                await drain.WaitForBytesAsync(1);
                await Task.Delay(round % 4); // vary where in the peer's stream the end lands
                await local.Pipe.Output.CompleteAsync();
                // The local reader goes on through plenty of the peer's data after the end of our output.
                await drain.WaitForBytesAsync(drain.Received + (256 * 1024));
                Assert.False(drain.Reading.IsCompleted, $"round {round}: the read ended after our output ended: {drain.Reading.Exception?.InnerException}");
                // The peer reads our end as the clean end of its input, not an error.
                await new Drain(peer).Reading.WaitAsync(TimeSpan.FromSeconds(10));
                await stop.CancelAsync();
                await flood;
            }
            finally
            {
                await stop.CancelAsync();
                peer.Owner?.Dispose();
                local.Owner?.Dispose();
            }
        }
    }

    private static async Task FloodAsync(TransportEnd end, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var chunk = new byte[1024];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await end.Pipe.Output.WriteAsync(chunk, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The test is done with the connection.
        }
    }

    /// <summary>Reads and discards, as the session's drain does, counting the bytes.</summary>
    private sealed class Drain
    {
        private readonly TransportEnd _end;
        private long _received;

        public Drain(TransportEnd end)
        {
            _end = end;
            Reading = RunAsync();
        }

        /// <summary>Ends when the read fails or the peer ends its output.</summary>
        public Task Reading { get; }

        public long Received => Interlocked.Read(ref _received);

        private async Task RunAsync()
        {
            await Task.Yield();
            while (true)
            {
                var result = await _end.Pipe.Input.ReadAsync();
                Interlocked.Add(ref _received, result.Buffer.Length);
                _end.Pipe.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }

        public Task WaitForBytesAsync(long count) =>
            Wait.UntilAsync(() => Received >= count || Reading.IsCompleted, $"the drain reading {count} bytes", TimeSpan.FromSeconds(10));
    }
}
