using System.Net;
using System.Net.Http;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Warren.Edge.Agents;
using Warren.Edge.Forwarding;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tests.Forwarding;

/// <summary>
/// A session's HTTP client opens its pooled connections on that session, for the service the connection's host names,
/// without a target carried in each request.
/// </summary>
public sealed class SessionConnectorTests : IAsyncLifetime
{
    private readonly List<MuxPair> _pairs = [];

    [Fact]
    public async Task A_new_pooled_connection_is_a_stream_on_the_clients_session_to_the_named_service()
    {
        var routes = new RouteTable();
        var (session, pair) = await SessionAsync();
        routes.Register(session, [new ServiceClaim(new ServiceRegistration { Name = "web", Hostnames = ["app.test"] }, null),
            new ServiceClaim(new ServiceRegistration { Name = "api", Hostnames = ["api.test"] }, null)]);
        var api = Assert.Single(session.Services, s => s.Name == "api");
        using var client = TunnelHttpClientFactory.Create(TimeSpan.FromSeconds(60), new SessionConnector(session, routes));
        using var request = new HttpRequestMessage(HttpMethod.Get, api.TunnelDestination + "hello");
        request.Headers.TryAddWithoutValidation("X-Real-IP", "203.0.113.7");

        var response = client.SendAsync(request, CancellationToken.None);
        await using var served = await pair.Agent.AcceptStreamAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
        served.Accept();
        var head = await ReadHeadAsync(served);
        await served.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());

        using var answered = await response.WaitAsync(Wait.DefaultTimeout);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal("ok", await answered.Content.ReadAsStringAsync());
        Assert.StartsWith("GET /hello HTTP/1.1", head, StringComparison.Ordinal);
        Assert.Equal(new StreamOpenRequest(StreamKind.Http, "api", "203.0.113.7"), StreamOpenRequest.Decode(served.Metadata.Span));
    }

    [Fact]
    public async Task A_host_that_names_no_service_of_the_edge_is_refused_before_any_stream_opens()
    {
        var routes = new RouteTable();
        var (session, _) = await SessionAsync();
        routes.Register(session, [new ServiceClaim(new ServiceRegistration { Name = "web", Hostnames = ["app.test"] }, null)]);
        var connector = new SessionConnector(session, routes);
        var web = Assert.Single(session.Services);

        Assert.Same(web, connector.ServiceOf($"s{web.Id}.tunnel"));
        Assert.Null(connector.ServiceOf($"s{web.Id + 1}.tunnel"));
        Assert.Null(connector.ServiceOf("sx.tunnel"));
        Assert.Null(connector.ServiceOf("s.tunnel"));
        Assert.Null(connector.ServiceOf($"s{web.Id}.example"));
        Assert.Null(connector.ServiceOf($"s-{web.Id}.tunnel"));

        using var client = TunnelHttpClientFactory.Create(TimeSpan.FromSeconds(60), connector);
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://s{web.Id + 1}.tunnel/"), CancellationToken.None));
        var refused = Assert.IsType<TunnelConnectException>(error.InnerException);
        Assert.Equal(Warren.Protocol.Framing.ErrorCode.UnknownService, refused.Code);
        Assert.Equal(0, session.Mux.StreamCount);
    }

    [Theory]
    [InlineData("198.51.100.4", "198.51.100.4")]
    [InlineData("2001:db8::1", "2001:db8::1")]
    [InlineData("not an address", "")]
    [InlineData("198.51.100.4, 10.0.0.1", "")]
    public void The_opens_client_is_the_requests_real_ip_when_it_is_an_address(string header, string expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://s1.tunnel/");
        request.Headers.TryAddWithoutValidation("X-Real-IP", header);

        Assert.Equal(expected, SessionConnector.ClientOf(request));
        Assert.Equal("", SessionConnector.ClientOf(new HttpRequestMessage(HttpMethod.Get, "http://s1.tunnel/")));
    }

    private static async Task<string> ReadHeadAsync(Stream stream)
    {
        var head = new byte[4096];
        var read = 0;
        while (!Encoding.ASCII.GetString(head, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(head.AsMemory(read)).AsTask().WaitAsync(Wait.DefaultTimeout);
            Assert.NotEqual(0, n);
            read += n;
        }
        return Encoding.ASCII.GetString(head, 0, read);
    }

    private async Task<(AgentSession Session, MuxPair Pair)> SessionAsync()
    {
        var pair = await MuxPair.StartAsync(NullLoggerFactory.Instance);
        _pairs.Add(pair);
        return (new AgentSession(pair.Edge, "alice", "agent", null, DateTimeOffset.UnixEpoch), pair);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var pair in _pairs)
        {
            await pair.DisposeAsync();
        }
    }
}
