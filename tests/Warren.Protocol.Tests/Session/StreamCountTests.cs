using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;
using Warren.Protocol.Tunnel;

namespace Warren.Protocol.Tests.Session;

/// <summary>
/// <see cref="MuxSession.StreamCount"/> is kept beside the stream table (the edge picks a service's least loaded
/// session by it, per request): it must follow every way a stream enters and leaves the table.
/// </summary>
public sealed class StreamCountTests
{
    [Fact]
    public async Task StreamCount_follows_opens_closes_resets_refusals_and_the_sessions_end()
    {
        var pair = await SessionPair.StartAsync(TransportKind.InMemory, serverOptions: new SessionOptions { MaxConcurrentStreams = 3 });
        var client = pair.Client;
        var server = pair.Server;
        var opened = new List<MuxStream>();
        var accepted = new List<MuxStream>();
        for (var i = 0; i < 3; i++)
        {
            var open = client.OpenStreamAsync(new StreamOpenRequest(StreamKind.Http, "web", "").Encode()).AsTask();
            var stream = await server.AcceptStreamAsync().AsTask().Within();
            stream.Accept();
            accepted.Add(stream);
            opened.Add(await open.Within());
        }
        Assert.Equal(3, client.StreamCount);
        Assert.Equal(3, server.StreamCount);

        // Over the server's limit: refused, and never counted on either side once the refusal is in.
        await Assert.ThrowsAnyAsync<MuxException>(() => client.OpenStreamAsync(new StreamOpenRequest(StreamKind.Http, "web", "").Encode()).AsTask().Within());
        await Wait.UntilAsync(() => client.StreamCount == 3 && server.StreamCount == 3, $"3 streams each after a refusal (client {client.StreamCount}, server {server.StreamCount})");

        // One ends cleanly both ways, one is reset.
        opened[0].CompleteWrites();
        accepted[0].CompleteWrites();
        Assert.Equal(0, await opened[0].ReadAsync(new byte[1]).AsTask().Within());
        Assert.Equal(0, await accepted[0].ReadAsync(new byte[1]).AsTask().Within());
        await accepted[0].DisposeAsync();
        await opened[0].DisposeAsync();
        opened[1].Abort(ErrorCode.Cancel);
        await accepted[1].DisposeAsync();
        await Wait.UntilAsync(() => client.StreamCount == 1 && server.StreamCount == 1, $"1 stream each (client {client.StreamCount}, server {server.StreamCount})");

        // The session's end forgets the rest.
        await pair.DisposeAsync();
        Assert.Equal(0, client.StreamCount);
        Assert.Equal(0, server.StreamCount);
    }
}
