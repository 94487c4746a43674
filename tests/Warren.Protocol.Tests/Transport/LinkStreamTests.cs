using System.Net;
using System.Net.Sockets;
using Warren.Protocol.Transport;

namespace Warren.Protocol.Tests.Transport;

/// <summary>The agent link's socket stream: reads ahead and gathers a batch's writes, without changing a byte.</summary>
public sealed class LinkStreamTests : IAsyncLifetime
{
    private Socket _a = null!;
    private Socket _b = null!;

    public async Task InitializeAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptSocketAsync();
        await _a.ConnectAsync(listener.LocalEndpoint);
        _b = await accept;
    }

    public Task DisposeAsync()
    {
        _a.Dispose();
        _b.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Writes_in_a_batch_leave_together_at_the_flush_and_in_order()
    {
        var link = new LinkStream(_a, ownsSocket: false);
        var chunks = Enumerable.Range(0, 12).Select(i => Enumerable.Repeat((byte)i, 10_000 + i).ToArray()).ToArray();
        link.BeginBatch();
        foreach (var chunk in chunks)
        {
            await link.WriteAsync(chunk); // past LinkStream.WriteGather: the first part is sent when it fills
        }
        await link.FlushAsync();
        var expected = chunks.SelectMany(c => c).ToArray();
        Assert.Equal(expected, await ReceiveExactlyAsync(_b, expected.Length));
    }

    [Fact]
    public async Task A_batch_sends_nothing_before_its_flush_and_a_write_outside_a_batch_goes_at_once()
    {
        var link = new LinkStream(_a, ownsSocket: false);
        link.BeginBatch();
        await link.WriteAsync(new byte[] { 1, 2, 3 });
        // Loopback delivers within send(): had the bytes been sent they would be readable now.
        Assert.Equal(0, _b.Available);
        await link.FlushAsync();
        Assert.Equal(new byte[] { 1, 2, 3 }, await ReceiveExactlyAsync(_b, 3));

        await link.WriteAsync(new byte[] { 4 }); // no batch: straight out
        Assert.Equal(new byte[] { 4 }, await ReceiveExactlyAsync(_b, 1));
    }

    [Fact]
    public async Task Reads_hand_out_what_one_receive_took_in_order_and_a_zero_byte_read_says_data_is_ready()
    {
        var link = new LinkStream(_b, ownsSocket: false);
        var sent = Enumerable.Range(0, 40_000).Select(i => (byte)(i * 7)).ToArray();
        _a.Send(sent);
        Assert.Equal(0, await link.ReadAsync(Memory<byte>.Empty)); // waits for data, then says it is there
        var received = new List<byte>();
        var buffer = new byte[1_000];
        while (received.Count < sent.Length)
        {
            var n = await link.ReadAsync(buffer);
            Assert.True(n > 0);
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        Assert.Equal(sent, received.ToArray());
        _a.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await link.ReadAsync(buffer)); // the end
    }

    [Fact]
    public async Task A_whole_TLS_record_read_ahead_is_reported_and_a_partial_one_is_not()
    {
        var link = new LinkStream(_b, ownsSocket: false);
        await using var tls = link.StartTls(leaveInnerStreamOpen: true);
        Assert.False(link.HasWholeTlsRecord);
        // A record header (type 23, version 3.3, length 10) with its 10 bytes, then the first 2 bytes of the next
        // record's body: one small send, which loopback delivers as one segment and one receive takes whole.
        byte[] whole = [23, 3, 3, 0, 10, .. Enumerable.Range(1, 10).Select(i => (byte)i)];
        byte[] partial = [23, 3, 3, 0, 10, 1, 2];
        _a.Send([.. whole, .. partial]);
        Assert.Equal(0, await link.ReadAsync(Memory<byte>.Empty));
        Assert.True(link.HasWholeTlsRecord);
        var first = new byte[whole.Length];
        Assert.Equal(whole.Length, await link.ReadAsync(first));
        Assert.Equal(whole, first);
        Assert.False(link.HasWholeTlsRecord); // 7 of the next record's 15 bytes
        _a.Send(new byte[8]);
        var rest = new byte[partial.Length + 8];
        var n = 0;
        while (n < rest.Length)
        {
            n += await link.ReadAsync(rest.AsMemory(n));
        }
        Assert.Equal(partial, rest[..partial.Length]);
        Assert.False(link.HasWholeTlsRecord); // nothing left
    }

    [Fact]
    public async Task Under_TLS_one_read_hands_out_one_record_at_most_and_keeps_count_across_a_split_header()
    {
        var link = new LinkStream(_b, ownsSocket: false);
        await using var tls = link.StartTls(leaveInnerStreamOpen: true);
        byte[] first = [23, 3, 3, 0, 3, 1, 2, 3];
        byte[] second = [23, 3, 3, 0, 2, 4, 5];
        byte[] third = [23, 3, 3, 0, 1, 6];
        _a.Send([.. first, .. second, .. third]);
        Assert.Equal(0, await link.ReadAsync(Memory<byte>.Empty));
        var buffer = new byte[100];

        // Three records are read ahead; the read takes the first alone, so the other two stay visible here.
        Assert.Equal(first.Length, await link.ReadAsync(buffer));
        Assert.Equal(first, buffer[..first.Length]);
        Assert.True(link.HasWholeTlsRecord);
        // A read that ends inside the next header: the rest of that record comes next, and nothing of the third.
        Assert.Equal(2, await link.ReadAsync(buffer.AsMemory(0, 2)));
        Assert.False(link.HasWholeTlsRecord); // not known until the header is whole: said conservatively
        Assert.Equal(second.Length - 2, await link.ReadAsync(buffer.AsMemory(2)));
        Assert.Equal(second, buffer[..second.Length]);
        Assert.True(link.HasWholeTlsRecord);
        Assert.Equal(third.Length, await link.ReadAsync(buffer));
        Assert.Equal(third, buffer[..third.Length]);
        Assert.False(link.HasWholeTlsRecord);
    }

    [Fact]
    public async Task Under_TLS_a_synchronous_read_hands_out_one_record_at_most_too()
    {
        var link = new LinkStream(_b, ownsSocket: false);
        await using var tls = link.StartTls(leaveInnerStreamOpen: true);
        byte[] first = [23, 3, 3, 0, 2, 1, 2];
        byte[] second = [23, 3, 3, 0, 1, 3];
        _a.Send([.. first, .. second]);
        var buffer = new byte[100];

        Assert.Equal(first.Length, link.Read(buffer));
        Assert.Equal(first, buffer[..first.Length]);
        Assert.True(link.HasWholeTlsRecord);
        Assert.Equal(second.Length, link.Read(buffer));
        Assert.Equal(second, buffer[..second.Length]);
    }

    [Fact]
    public async Task A_failed_connection_surfaces_as_an_IOException_as_from_a_NetworkStream()
    {
        var link = new LinkStream(_a, ownsSocket: false);
        _b.LingerState = new LingerOption(true, 0);
        _b.Close(); // RST
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                await link.WriteAsync(new byte[64 * 1024]);
                await link.FlushAsync();
            }
        });
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var n = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (n < count)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(n), SocketFlags.None, timeout.Token);
            Assert.True(r > 0, "the connection ended early");
            n += r;
        }
        return buffer;
    }
}
