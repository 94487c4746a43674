using System.Text.RegularExpressions;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// Request smuggling and upgrade smuggling against the public listener: ambiguous framing is refused with 400 and
/// the connection closed, so a request hidden in a body never reaches a backend; only WebSocket upgrades are
/// forwarded as upgrades (docs/security.md).
/// </summary>
public sealed partial class SmugglingTests(ITestOutputHelper output) : SecurityTest(output)
{
    private const string Smuggled = $"GET /smuggled HTTP/1.1\r\nHost: {GoodHost}\r\n\r\n";

    [Fact]
    public async Task Content_length_with_transfer_encoding_gets_400_and_nothing_is_smuggled()
    {
        // CL.TE: a front end reading Content-Length stops inside the chunked body; one reading chunked sees a second request.
        await AssertRefusedAsync($"POST /echo HTTP/1.1\r\nHost: {GoodHost}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{Smuggled}");
        await Log.WaitForAsync(Wait.DefaultTimeout, "[AmbiguousFraming]");
    }

    [Fact]
    public async Task Duplicate_content_length_gets_400_and_nothing_is_smuggled() =>
        await AssertRefusedAsync($"POST /echo HTTP/1.1\r\nHost: {GoodHost}\r\nContent-Length: 0\r\nContent-Length: {Smuggled.Length}\r\n\r\n{Smuggled}");

    [Fact]
    public async Task Obs_fold_header_gets_400_and_nothing_is_smuggled() =>
        // A folded header line: a parser that unfolds it sees one header, one that does not sees two (Content-Length among them).
        await AssertRefusedAsync($"POST /echo HTTP/1.1\r\nHost: {GoodHost}\r\nX-Folded: a\r\n Content-Length: {Smuggled.Length}\r\n\r\n{Smuggled}");

    [Fact]
    public async Task H2c_upgrade_is_not_forwarded_as_an_upgrade()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        var answer = await RawHttp.ExchangeAsync(edge.HttpPort,
            $"GET /echo HTTP/1.1\r\nHost: {GoodHost}\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
        Log.Note("edge answered:\n" + answer);
        // An ordinary response: no 101, and the backend saw neither the Upgrade nor the HTTP2-Settings header.
        Assert.Equal(200, RawHttp.StatusOf(answer));
        Assert.DoesNotContain("\nUpgrade:", answer, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("HTTP2-Settings:", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Single(StatusLine().Matches(answer));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task A_refused_WebSocket_upgrade_reaches_the_client_with_its_whole_chunked_body()
    {
        // The edge reads the service's answer to an upgrade itself (Forwarding/Http1Reader.cs): a non-101 answer's
        // body is decoded from its chunked framing and framed again by Kestrel, never passed through as raw bytes.
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        var answer = await RawHttp.ExchangeAsync(edge.HttpPort,
            $"GET /stream?count=3&intervalMs=0 HTTP/1.1\r\nHost: {GoodHost}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        Log.Note("edge answered:\n" + answer);
        Assert.Equal(200, RawHttp.StatusOf(answer));
        Assert.Single(StatusLine().Matches(answer));
        Assert.Contains("data: event 1 of 3", answer, StringComparison.Ordinal);
        Assert.Contains("data: event 3 of 3", answer, StringComparison.Ordinal);
        Assert.EndsWith("0\r\n\r\n", answer, StringComparison.Ordinal); // the client's chunked body ends properly

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    /// <summary>Sends the attack on one connection: one 400, the connection closed, no request for /smuggled anywhere.</summary>
    private async Task AssertRefusedAsync(string attack)
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        var answer = await RawHttp.ExchangeAsync(edge.HttpPort, attack);
        Log.Note("edge answered:\n" + answer);
        Assert.Equal(400, RawHttp.StatusOf(answer));
        Assert.Single(StatusLine().Matches(answer)); // no response for a second request: the connection closed after the 400
        // A request after the attack is logged (access log) once it completes, so by then a smuggled one would be too.
        await AssertStillServesAsync(edge);
        await Log.WaitForAsync(Wait.DefaultTimeout, "[HttpAccess]", "/bytes/100000");
        Assert.Empty(Log.Matching("/smuggled"));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [GeneratedRegex(@"(^|\n)HTTP/1\.1 \d{3} ")]
    private static partial Regex StatusLine();
}
