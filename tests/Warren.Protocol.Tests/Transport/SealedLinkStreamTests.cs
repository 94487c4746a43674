using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using Warren.Protocol.Tests.Support;
using Warren.Protocol.Transport;

namespace Warren.Protocol.Tests.Transport;

/// <summary>
/// The agent link's sealed records (docs/protocol.md §1.1): every byte arrives as sent, and anything else (a changed,
/// replayed, reflected or cut-off record, a length out of range) fails the read instead of reaching the session.
/// </summary>
public sealed class SealedLinkStreamTests : IAsyncLifetime
{
    private static readonly byte[] ClientSecret = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] ServerSecret = RandomNumberGenerator.GetBytes(32);
    private readonly List<Socket> _sockets = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
        return Task.CompletedTask;
    }

    private Task<(Socket A, Socket B)> SocketPairAsync() => TestTransportSockets.SocketPairAsync(_sockets);

    private async Task<(SealedLinkStream Client, SealedLinkStream Server)> PairAsync(ulong rekeyEvery = SealedLinkStream.DefaultRekeyEvery)
    {
        var (a, b) = await SocketPairAsync();
        return SealedLinkStream.CreatePair(a, b, ClientSecret, ServerSecret, rekeyEvery);
    }

    /// <summary>What <paramref name="write"/> puts on the wire through a client stream with the test's secrets.</summary>
    private async Task<byte[]> WireBytesAsync(Func<SealedLinkStream, Task> write)
    {
        var (a, b) = await SocketPairAsync();
        var (client, _) = SealedLinkStream.CreatePair(a, b, ClientSecret, ServerSecret, SealedLinkStream.DefaultRekeyEvery);
        await write(client);
        a.Shutdown(SocketShutdown.Send);
        using var wire = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await b.ReceiveAsync(buffer, SocketFlags.None)) > 0)
        {
            wire.Write(buffer, 0, n);
        }
        return wire.ToArray();
    }

    /// <summary>Sends raw <paramref name="wire"/> bytes to a server stream with the test's secrets, then ends; reads it all.</summary>
    private async Task<byte[]> ReadAtServerAsync(byte[] wire, int readSize = 64 * 1024)
    {
        var (a, b) = await SocketPairAsync();
        var (_, server) = SealedLinkStream.CreatePair(a, b, ClientSecret, ServerSecret, SealedLinkStream.DefaultRekeyEvery);
        await a.SendAsync(wire, SocketFlags.None);
        a.Shutdown(SocketShutdown.Send);
        return await ReadToEndAsync(server, readSize).WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream, int readSize)
    {
        using var received = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            received.Write(buffer, 0, n);
        }
        return received.ToArray();
    }

    [Theory]
    [InlineData(64 * 1024)] // every record opened straight into the reader's buffer
    [InlineData(1000)]      // records larger than the reader's buffer, handed out in parts
    public async Task Every_byte_arrives_in_order_both_ways(int readSize)
    {
        var (client, server) = await PairAsync();
        var sizes = new[] { 1, 6, 300, 16 * 1024, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 200_000 };
        var payloads = sizes.Select((size, i) => RandomNumberGenerator.GetBytes(size)).ToArray();
        var expected = payloads.SelectMany(p => p).ToArray();

        async Task SendAllAsync(SealedLinkStream from)
        {
            foreach (var payload in payloads)
            {
                await from.WriteAsync(payload);
                await from.FlushAsync();
            }
            from.Socket.Shutdown(SocketShutdown.Send);
        }

        var toServer = SendAllAsync(client);
        var toClient = SendAllAsync(server);
        var atServer = ReadToEndAsync(server, readSize);
        var atClient = ReadToEndAsync(client, readSize);
        await Task.WhenAll(toServer, toClient).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(expected, await atServer.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(expected, await atClient.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_flush_of_several_writes_leaves_as_records_in_one_send_and_each_record_adds_twenty_bytes()
    {
        var wire = await WireBytesAsync(async client =>
        {
            await client.WriteAsync(new byte[100]);
            await client.WriteAsync(new byte[200]);
            await client.FlushAsync();
        });
        Assert.Equal(100 + 200 + 2 * (SealedLinkStream.HeaderSize + SealedLinkStream.TagSize), wire.Length);
        Assert.Equal(100u, BinaryPrimitives.ReadUInt32BigEndian(wire));
        Assert.Equal(200u, BinaryPrimitives.ReadUInt32BigEndian(wire.AsSpan(SealedLinkStream.HeaderSize + 100 + SealedLinkStream.TagSize)));
        Assert.NotEqual(new byte[100], wire.AsSpan(4, 100).ToArray()); // not in the clear
        Assert.Equal(new byte[300], await ReadAtServerAsync(wire));
    }

    [Theory]
    [InlineData(0)]      // the length
    [InlineData(4)]      // the first ciphertext byte
    [InlineData(4 + 99)] // the last ciphertext byte
    [InlineData(4 + 100 + 15)] // the tag
    public async Task A_changed_byte_fails_the_read(int offset)
    {
        var wire = await WireBytesAsync(async client =>
        {
            await client.WriteAsync(new byte[100]);
            await client.FlushAsync();
        });
        wire[offset] ^= 0x01;
        await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync(wire));
    }

    [Fact]
    public async Task A_replayed_dropped_or_reflected_record_fails_the_read()
    {
        var wire = await WireBytesAsync(async client =>
        {
            await client.WriteAsync(new byte[] { 1, 2, 3 });
            await client.FlushAsync();
            await client.WriteAsync(new byte[] { 4, 5, 6 });
            await client.FlushAsync();
        });
        var record = 3 + SealedLinkStream.HeaderSize + SealedLinkStream.TagSize;
        Assert.Equal(2 * record, wire.Length);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, await ReadAtServerAsync(wire));
        // Replayed: the first record again after itself.
        await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync([.. wire.AsSpan(0, record), .. wire.AsSpan(0, record)]));
        // Dropped: the second record alone, first.
        await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync(wire.AsSpan(record).ToArray()));
        // Reflected: the client's own record sent back to a client stream (the other direction's key).
        var (a, b) = await SocketPairAsync();
        var (reflectTo, _) = SealedLinkStream.CreatePair(a, b, ClientSecret, ServerSecret, SealedLinkStream.DefaultRekeyEvery);
        await b.SendAsync(wire.AsMemory(0, record), SocketFlags.None);
        b.Shutdown(SocketShutdown.Send);
        await Assert.ThrowsAsync<IOException>(() => ReadToEndAsync(reflectTo, 1024).WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(0u)]
    [InlineData((uint)SealedLinkStream.MaxPayload + 1)]
    [InlineData(uint.MaxValue)]
    public async Task A_length_out_of_range_fails_the_read_before_anything_is_buffered_for_it(uint length)
    {
        var wire = new byte[SealedLinkStream.HeaderSize + SealedLinkStream.TagSize];
        BinaryPrimitives.WriteUInt32BigEndian(wire, length);
        var error = await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync(wire));
        Assert.Contains($"{length} bytes", error.Message);
    }

    [Fact]
    public async Task The_end_of_the_connection_inside_a_record_fails_the_read_and_at_a_boundary_ends_it()
    {
        var wire = await WireBytesAsync(async client =>
        {
            await client.WriteAsync(new byte[500]);
            await client.FlushAsync();
        });
        Assert.Equal(new byte[500], await ReadAtServerAsync(wire));
        var error = await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync(wire.AsSpan(0, wire.Length - 1).ToArray()));
        Assert.Contains("inside a sealed record", error.Message);
        await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync(wire.AsSpan(0, 2).ToArray()));
    }

    [Fact]
    public async Task Keys_change_every_rekey_interval_on_both_sides_in_step()
    {
        var (client, server) = await PairAsync(rekeyEvery: 3);
        var sent = new List<byte>();
        for (var i = 0; i < 10; i++)
        {
            var payload = RandomNumberGenerator.GetBytes(50 + i);
            sent.AddRange(payload);
            await client.WriteAsync(payload);
            await client.FlushAsync();
        }
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(sent.ToArray(), await ReadToEndAsync(server, 4096).WaitAsync(TimeSpan.FromSeconds(10)));

        // The fourth record is sealed with a new key: a receiver that does not rekey (the default interval) cannot open it.
        var wire = await WireBytesWithRekeyAsync(3, 4);
        var record = 10 + SealedLinkStream.HeaderSize + SealedLinkStream.TagSize;
        Assert.Equal(new byte[30], await ReadAtServerAsync(wire.AsSpan(0, 3 * record).ToArray()));
        await Assert.ThrowsAsync<IOException>(() => ReadAtServerAsync(wire));
    }

    private async Task<byte[]> WireBytesWithRekeyAsync(ulong rekeyEvery, int records)
    {
        var (a, b) = await SocketPairAsync();
        var (client, _) = SealedLinkStream.CreatePair(a, b, ClientSecret, ServerSecret, rekeyEvery);
        for (var i = 0; i < records; i++)
        {
            await client.WriteAsync(new byte[10]);
            await client.FlushAsync();
        }
        a.Shutdown(SocketShutdown.Send);
        return await ReadToEndAsync(new NetworkStream(b), 4096);
    }

    [Fact]
    public async Task HasWholeRecord_says_whether_the_next_read_would_wait()
    {
        var (client, server) = await PairAsync();
        Assert.False(server.HasWholeRecord);
        await client.WriteAsync(new byte[3000]);
        await client.WriteAsync(new byte[10]);
        await client.FlushAsync();
        var buffer = new byte[1000];
        Assert.Equal(1000, await server.ReadAsync(buffer)); // receives both records, opens the first, hands out a part
        Assert.True(server.HasWholeRecord);  // the rest of the first
        Assert.Equal(1000, await server.ReadAsync(buffer));
        Assert.Equal(1000, await server.ReadAsync(buffer));
        Assert.True(server.HasWholeRecord);  // the second, whole (both arrived in one send)
        Assert.Equal(10, await server.ReadAsync(buffer));
        Assert.False(server.HasWholeRecord);

        // Records that fit the reader's buffer whole are all opened by one read: one pass of the session's parser.
        await client.WriteAsync(new byte[100]);
        await client.WriteAsync(new byte[200]);
        await client.WriteAsync(new byte[300]);
        await client.FlushAsync();
        Assert.Equal(600, await server.ReadAsync(new byte[1000]));
        await client.WriteAsync(new byte[100]);
        await client.WriteAsync(new byte[200]);
        await client.FlushAsync();
        Assert.Equal(100, await server.ReadAsync(new byte[250])); // the second does not fit after the first: next read
        Assert.True(server.HasWholeRecord);
        Assert.Equal(200, await server.ReadAsync(new byte[250]));
    }

    /// <summary>
    /// The switch from TLS: the peer's first sealed record can arrive in the same receive as the TLS record that
    /// carries its secret. LinkStream read it ahead, and the sealed stream must start from those bytes. Here the agent
    /// side switches and sends at once, and the edge side reads the agent's secret only once both are in its socket.
    /// </summary>
    [Fact]
    public async Task Sealed_bytes_read_ahead_with_the_last_TLS_record_are_the_first_ones_opened()
    {
        var ((clientTls, clientLink), (serverTls, serverLink)) = await TestTransportSockets.TlsPairAsync(_sockets, alpn: true);
        Assert.Equal(SealedLinkStream.Protocol, serverTls.NegotiatedApplicationProtocol);
        Assert.Equal(SslProtocols.Tls13, serverTls.SslProtocol); // the record sizes below are TLS 1.3's

        var serverSecret = RandomNumberGenerator.GetBytes(32);
        await serverTls.WriteAsync(serverSecret);
        await serverTls.FlushAsync();
        var client = await SealedLinkStream.StartAsync(clientTls, clientLink, isClient: true, ownsSocket: true, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await clientTls.DisposeAsync();
        var first = "first sealed bytes"u8.ToArray();
        await client.WriteAsync(first);
        await client.FlushAsync();
        // After its handshake a TLS 1.3 client sends only application data: the secret's record (5-byte header, 32 bytes,
        // the content type, a 16-byte tag), then the sealed record.
        var expected = (5 + 32 + 1 + 16) + (SealedLinkStream.HeaderSize + first.Length + SealedLinkStream.TagSize);
        await Wait.UntilAsync(() => serverLink.Socket.Available >= expected, "both records are in the edge side's socket");

        var clientSecret = new byte[32];
        await serverTls.ReadExactlyAsync(clientSecret);
        var server = SealedLinkStream.LeaveTls(serverLink, isClient: false, ownsSocket: true, serverSecret, clientSecret);
        await serverTls.DisposeAsync(); // leaves the socket open: it is the sealed stream's now
        Assert.True(server.HasWholeRecord); // read ahead with the TLS record, not received since

        var buffer = new byte[100];
        var n = await server.ReadAsync(buffer);
        Assert.Equal("first sealed bytes", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        await server.WriteAsync("and back"u8.ToArray());
        await server.FlushAsync();
        n = await client.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("and back", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task Without_the_protocol_offered_by_both_TLS_agrees_nothing_and_the_link_stays_TLS()
    {
        var ((clientTls, _), (serverTls, _)) = await TestTransportSockets.TlsPairAsync(_sockets, alpn: true, clientOffers: false);
        Assert.Equal(default, clientTls.NegotiatedApplicationProtocol);
        Assert.Equal(default, serverTls.NegotiatedApplicationProtocol);
        ((clientTls, _), (serverTls, _)) = await TestTransportSockets.TlsPairAsync(_sockets, alpn: false, clientOffers: true);
        Assert.Equal(default, clientTls.NegotiatedApplicationProtocol); // an edge before sealed records
    }
}

/// <summary>Loopback socket pairs, and TLS over one through LinkStream, with or without the sealed-records ALPN id.</summary>
internal static class TestTransportSockets
{
    /// <summary>A connected pair on 127.0.0.1; both go into <paramref name="owned"/>, for the test to dispose.</summary>
    public static async Task<(Socket A, Socket B)> SocketPairAsync(List<Socket> owned)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        owned.Add(a);
        var accept = listener.AcceptSocketAsync();
        await a.ConnectAsync(listener.LocalEndpoint);
        var b = await accept;
        owned.Add(b);
        return (a, b);
    }

    public static async Task<((SslStream Tls, LinkStream Link) Client, (SslStream Tls, LinkStream Link) Server)> TlsPairAsync(
        List<Socket> owned, bool alpn, bool clientOffers = true)
    {
        var (a, b) = await SocketPairAsync(owned);
        var clientLink = new LinkStream(a, ownsSocket: true);
        var serverLink = new LinkStream(b, ownsSocket: true);
        var clientTls = clientLink.StartTls(leaveInnerStreamOpen: false);
        var serverTls = serverLink.StartTls(leaveInnerStreamOpen: false);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var self = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=link.test", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(self.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
        await Task.WhenAll(
            clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "link.test",
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString() == certificate.Thumbprint,
                ApplicationProtocols = clientOffers ? [SealedLinkStream.Protocol] : null,
            }),
            serverTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
                ApplicationProtocols = alpn ? [SealedLinkStream.Protocol] : null,
            })).WaitAsync(TimeSpan.FromSeconds(10));
        return ((clientTls, clientLink), (serverTls, serverLink));
    }
}
