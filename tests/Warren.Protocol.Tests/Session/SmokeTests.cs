using System.Security.Cryptography;
using Warren.Protocol.Session;
using Warren.Protocol.Tests.Support;
using Warren.Protocol.Transport;

namespace Warren.Protocol.Tests.Session;

public sealed class SmokeTests
{
    [Fact]
    public async Task OpenWriteRead_Echo_RoundTrips()
    {
        var (c, s) = StreamTransport.CreateInMemoryPair();
        var serverTask = MuxSession.StartAsync(s, SessionRole.Server);
        await using var client = await MuxSession.StartAsync(c, SessionRole.Client);
        await using var server = await serverTask;

        var echo = Task.Run(async () =>
        {
            var stream = await server.AcceptStreamAsync();
            stream.Accept();
            var buf = new byte[8192];
            int n;
            while ((n = await stream.ReadAsync(buf)) > 0)
            {
                await stream.WriteAsync(buf.AsMemory(0, n));
            }
            stream.CompleteWrites();
        });

        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        await using var st = await client.OpenStreamAsync("hello"u8.ToArray());
        var send = Task.Run(async () => { await st.WriteAsync(data); st.CompleteWrites(); });
        var ms = new MemoryStream();
        await st.CopyToAsync(ms);
        await send;
        await echo;
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(ms.ToArray()));
        await Wait.UntilAsync(() => client.StreamCount == 0 && server.StreamCount == 0, "both stream tables are empty");
    }
}
