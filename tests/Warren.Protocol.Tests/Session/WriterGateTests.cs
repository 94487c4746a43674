using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Session;

/// <summary>
/// The session's writer is one gate shared by producers writing inline and the writer loop (SessionWriter). A wake-up
/// the loop takes while a producer holds the gate must not be lost: the loop cannot act on it then, so the producer
/// passes one on when it lets go.
/// </summary>
public sealed class WriterGateTests
{
    [Fact]
    public async Task A_close_that_arrives_while_a_producer_flushes_inline_still_ends_the_session()
    {
        GatedPipeWriter? output = null;
        // The force-end timer (WriteTimeout) would end a stuck writer loop long after Wait.Deadline; keepalive stays quiet.
        var options = new SessionOptions
        {
            CoalesceWithin = TimeSpan.Zero,
            WriteTimeout = TimeSpan.FromMinutes(5),
            KeepAliveInterval = TimeSpan.FromMinutes(4),
            KeepAliveTimeout = TimeSpan.FromMinutes(5),
        };
        await using var peer = await RawPeer.StartAsync(options, wrapSessionOutput: w => output = new GatedPipeWriter(w));
        var session = peer.Session;
        var stream = await peer.OpenAndAcceptAsync(1);

        // A producer's inline flush holds the gate. If the loop happened to hold it instead, that write went out through
        // the loop: write again until the producer's own flush is the one held.
        output!.Hold();
        while (!output.Entered.IsCompleted)
        {
            var write = Task.Run(async () =>
            {
                GatedPipeWriter.MarkThisFlow();
                await stream.WriteAsync(new byte[8]);
            });
            await Task.WhenAny(write, output.Entered).Within();
        }

        // The peer's GOAWAY with an error closes the session gracefully: the loop is told to write what is queued and
        // stop, but finds the gate taken.
        await peer.SendAsync(w => FrameWriter.WriteGoAway(w, RawPeer.Version, 0, ErrorCode.ProtocolError, "bye"u8));
        await Wait.UntilAsync(() => session.IsClosed && session.WriterLoopWaitsForGate, "the writer loop waits for the producer's gate");

        output.Release();
        await peer.CompleteAsync();
        var info = await session.Completion.Within();
        Assert.Equal(ErrorCode.ProtocolError, info.Code);
    }

    [Fact]
    public async Task A_stream_opened_with_FIN_reaches_the_application_already_ended()
    {
        await using var peer = await RawPeer.StartAsync();
        for (uint id = 1; id < 200; id += 2)
        {
            // The acceptor waits first, and spins on its own thread so that it reads the moment the stream is queued:
            // the FIN must be applied by then.
#pragma warning disable CA2012 // the pending accept is watched for completion, not awaited (an await would wait for the pool)
            var accept = peer.Session.AcceptStreamAsync();
            var reader = Task.Factory.StartNew(() =>
            {
                var deadline = DateTime.UtcNow + Wait.Deadline;
                while (!accept.IsCompleted && DateTime.UtcNow < deadline)
                {
                }
                var stream = accept.Result;
                stream.Accept();
                var read = stream.ReadAsync(new byte[16]).AsTask();
                return (stream, read.IsCompleted, read);
            }, TaskCreationOptions.LongRunning);
#pragma warning restore CA2012
            await peer.SendAsync(w => FrameWriter.WriteOpen(w, RawPeer.Version, id, [], fin: true));
            var (stream, readAtOnce, read) = await reader.Within();
            Assert.True(readAtOnce, $"stream {id}: a read waited for a FIN the OPEN already carried");
            Assert.Equal(0, await read.Within());
            stream.CompleteWrites();
            await stream.DisposeAsync();
        }
    }
}
