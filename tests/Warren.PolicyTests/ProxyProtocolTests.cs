using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>
/// proxy_protocol on a TCP service (docs/policy.md, "PROXY protocol"): the agent starts each backend connection with a
/// v1 or v2 header naming the real client, here a second loopback address, and the client's bytes follow untouched.
/// The backends are a parser written here from HAProxy's proxy-protocol.txt, and HAProxy itself (accept-proxy).
/// </summary>
public sealed class ProxyProtocolTests(ITestOutputHelper output) : PolicyTest(output)
{
    private static readonly IPAddress Client = IPAddress.Parse("127.0.0.2");

    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task The_backend_reads_the_real_client_address_from_the_header_and_then_the_clients_bytes(string version)
    {
        using var backend = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        backend.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        backend.Listen();
        var port = ReservePort();
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = _ => [new ServiceConfig { Name = "db", Port = port, Target = new Uri($"tcp://127.0.0.1:{((IPEndPoint)backend.LocalEndPoint!).Port}"), ProxyProtocol = version }],
        }));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Bind(new IPEndPoint(Client, 0));
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
        var clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
        await client.SendAsync("hello\n"u8.ToArray(), SocketFlags.None, timeout.Token);

        using var accepted = await backend.AcceptAsync(timeout.Token);
        using var stream = new NetworkStream(accepted);
        var (source, destination) = version == "v1" ? await ReadV1Async(stream, timeout.Token) : await ReadV2Async(stream, timeout.Token);
        Assert.Equal(new IPEndPoint(Client, clientPort), source);
        Assert.Equal(port, destination.Port);
        Assert.Equal(IPAddress.Loopback, destination.Address);
        var rest = new byte[6];
        await stream.ReadExactlyAsync(rest, timeout.Token);
        Assert.Equal("hello\n", Encoding.ASCII.GetString(rest));
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task Haproxy_with_accept_proxy_sees_the_real_client(string version)
    {
        var haproxyPort = ReservePort();
        var folder = TempDirectory();
        var config = Path.Combine(folder, "haproxy.cfg");
        await File.WriteAllTextAsync(config, $"""
            defaults
              mode http
              timeout connect 5s
              timeout client 30s
              timeout server 30s
            frontend echo_client
              bind 127.0.0.1:{haproxyPort} accept-proxy
              http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[dst_port]"

            """);
        var haproxy = Process.Start(new ProcessStartInfo("haproxy", ["-db", "-f", config]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        OnEnd(() =>
        {
            haproxy.Kill();
            haproxy.WaitForExit();
            haproxy.Dispose();
        });
        haproxy.ErrorDataReceived += (_, e) => Log.Note($"haproxy: {e.Data}");
        haproxy.OutputDataReceived += (_, e) => Log.Note($"haproxy: {e.Data}");
        haproxy.BeginErrorReadLine();
        haproxy.BeginOutputReadLine();
        var port = ReservePort();
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = _ => [new ServiceConfig { Name = "web", Port = port, Target = new Uri($"tcp://127.0.0.1:{haproxyPort}"), ProxyProtocol = version }],
        }));

        string? answer = null;
        var clientPort = 0;
        // HAProxy listens once it has read its configuration: until then the agent's dial is refused and the edge resets.
        await Wait.UntilAsync(async () =>
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.Bind(new IPEndPoint(Client, 0));
            try
            {
                await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
                clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
                await client.SendAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray(), SocketFlags.None, timeout.Token);
                using var stream = new NetworkStream(client);
                using var reader = new StreamReader(stream, Encoding.ASCII);
                answer = await reader.ReadToEndAsync(timeout.Token);
                return answer.Length > 0;
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                return false;
            }
        }, "HAProxy answers through the tunnel", TimeSpan.FromSeconds(60));

        Assert.StartsWith("HTTP/1.", answer, StringComparison.Ordinal);
        Assert.EndsWith($"127.0.0.2:{clientPort} {port}", answer!.TrimEnd(), StringComparison.Ordinal);
    }

    /// <summary>v1: one ASCII line, "PROXY TCP4 src dst sport dport\r\n", at most 107 bytes.</summary>
    private static async Task<(IPEndPoint Source, IPEndPoint Destination)> ReadV1Async(Stream stream, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
        {
            await stream.ReadExactlyAsync(one, cancellationToken);
            line.Append((char)one[0]);
            Assert.True(line.Length <= 107, "a v1 header is at most 107 bytes");
        }
        var parts = line.ToString().TrimEnd().Split(' ');
        Assert.Equal(6, parts.Length);
        Assert.Equal("PROXY", parts[0]);
        Assert.Equal("TCP4", parts[1]);
        return (new IPEndPoint(IPAddress.Parse(parts[2]), int.Parse(parts[4], System.Globalization.CultureInfo.InvariantCulture)),
            new IPEndPoint(IPAddress.Parse(parts[3]), int.Parse(parts[5], System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>v2: 12-byte signature, version/command 0x21 (PROXY), family 0x11 (TCP over IPv4), length, addresses, ports.</summary>
    private static async Task<(IPEndPoint Source, IPEndPoint Destination)> ReadV2Async(Stream stream, CancellationToken cancellationToken)
    {
        var fixedPart = new byte[16];
        await stream.ReadExactlyAsync(fixedPart, cancellationToken);
        Assert.Equal(new byte[] { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A }, fixedPart[..12]);
        Assert.Equal(0x21, fixedPart[12]);
        Assert.Equal(0x11, fixedPart[13]);
        var length = BinaryPrimitives.ReadUInt16BigEndian(fixedPart.AsSpan(14));
        Assert.Equal(12, length);
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, cancellationToken);
        return (new IPEndPoint(new IPAddress(body.AsSpan(0, 4)), BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(8))),
            new IPEndPoint(new IPAddress(body.AsSpan(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(10))));
    }
}
