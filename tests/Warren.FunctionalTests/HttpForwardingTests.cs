using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>Plain HTTP through the tunnel: headers, bodies both ways, streaming responses.</summary>
public sealed class HttpForwardingTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Get_reaches_the_backend_with_Host_preserved_and_X_Forwarded_For_set_by_the_edge()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using var request = tunnel.Request(HttpMethod.Get, "/echo?q=1");
        // A client's own X-Forwarded-For must not reach the backend: the edge sets it from the connection.
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.9");

        using var response = await tunnel.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var lines = body.Split('\n');
        Assert.Equal("GET /echo?q=1", lines[0]);
        Assert.Contains("Host: app.test", lines);
        Assert.Contains("X-Forwarded-For: 127.0.0.1", lines);
        Assert.DoesNotContain("203.0.113.9", body, StringComparison.Ordinal);
        Assert.Contains("X-Forwarded-Proto: http", lines);
        Assert.Contains("X-Forwarded-Host: app.test", lines);
    }

    [Fact]
    public async Task Post_body_is_forwarded_and_echoed()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        var payload = string.Concat(Enumerable.Range(0, 5000).Select(i => $"line {i} through the tunnel\n"));
        using var request = tunnel.Request(HttpMethod.Post, "/echo");
        request.Content = new StringContent(payload, Encoding.UTF8, "text/plain");

        using var response = await tunnel.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("POST /echo\n", body, StringComparison.Ordinal);
        Assert.Contains("\nHost: app.test\n", body, StringComparison.Ordinal);
        Assert.Contains($"\nContent-Length: {Encoding.UTF8.GetByteCount(payload)}\n", body, StringComparison.Ordinal);
        Assert.EndsWith("\n\n" + payload, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_of_20_MB_streamed_from_a_generator_arrives_intact()
    {
        const long size = 20L * 1024 * 1024;
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        string expected;
        using (var hash = SHA256.Create())
        {
            expected = Convert.ToHexStringLower(await hash.ComputeHashAsync(new GeneratorStream(size)));
        }
        using var request = tunnel.Request(HttpMethod.Post, "/sha256");
        // Not seekable and no buffer of the body anywhere in the test: it is generated as the client sends it.
        request.Content = new StreamContent(new GeneratorStream(size), 64 * 1024);
        request.Content.Headers.ContentLength = size;

        using var response = await tunnel.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{expected} {size}", body);
    }

    [Fact]
    public async Task Server_sent_events_arrive_one_by_one_before_the_response_ends()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using var request = tunnel.Request(HttpMethod.Get, "/stream?count=3&intervalMs=1000");
        using var response = await tunnel.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var events = new List<(string Id, DateTimeOffset SentAt, DateTimeOffset ReceivedAt)>();
        while (await ReadEventAsync(reader) is { } e)
        {
            events.Add((e.Id, e.SentAt, DateTimeOffset.UtcNow));
        }

        Assert.Equal(["1", "2", "3"], events.Select(e => e.Id));
        // Ordering by events: event 1 was in the client's hands before the backend even sent event 3, so nothing
        // (edge, tunnel, agent) buffered the response until it completed.
        Assert.True(events[0].ReceivedAt < events[2].SentAt,
            $"event 1 was received at {events[0].ReceivedAt:O}, after event 3 was sent at {events[2].SentAt:O}");
        Assert.True(events[1].ReceivedAt < events[2].SentAt,
            $"event 2 was received at {events[1].ReceivedAt:O}, after event 3 was sent at {events[2].SentAt:O}");
    }

    /// <summary>One "id: n / data: event n of m at TIME" event; null at the end of the stream.</summary>
    private static async Task<(string Id, DateTimeOffset SentAt)?> ReadEventAsync(StreamReader reader)
    {
        string? id = null;
        DateTimeOffset? sentAt = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                return (id ?? throw new InvalidDataException("event without id"), sentAt ?? throw new InvalidDataException("event without data"));
            }
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var at = line.LastIndexOf(" at ", StringComparison.Ordinal);
                sentAt = DateTimeOffset.Parse(line[(at + 4)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return id is null ? null : throw new InvalidDataException("stream ended inside an event");
    }
}
