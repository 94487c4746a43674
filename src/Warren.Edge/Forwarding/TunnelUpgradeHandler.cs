using System.Net;
using System.Net.Http;
using System.Text;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Sends an upgrade request (a WebSocket handshake) over its own tunnel stream and answers with the stream itself.
/// Through <see cref="SocketsHttpHandler"/> an upgraded connection kept HttpClient's connection for its whole life:
/// two 4 KiB buffers and a copy through them for every byte the service sent (docs/performance.md, "Per
/// WebSocket"). Here the request head is written straight onto the stream, the response head is read and parsed,
/// and a 101's content is the tunnel stream (with whatever followed the head in front of it), which YARP splices
/// with the client's upgraded connection as before: its copiers, activity timeout and error handling are unchanged.
/// Any other answer (the service refused the upgrade) comes back with its body framed by Content-Length, chunked
/// coding or the end of the stream, and the stream is closed after it: it is never reused for another request.
/// </summary>
internal sealed class TunnelUpgradeHandler(TimeSpan openTimeout, Func<HttpRequestMessage, CancellationToken, ValueTask<Stream>>? open = null)
    : HttpMessageHandler
{
    /// <summary>As <see cref="SocketsHttpHandler.MaxResponseHeadersLength"/>'s default: 64 KiB for the status line and headers.</summary>
    internal const int MaxResponseHeadBytes = 64 * 1024;

    private readonly Func<HttpRequestMessage, CancellationToken, ValueTask<Stream>> _open = open ?? TunnelHttpClientFactory.OpenAsync;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is not null)
        {
            // Kestrel refuses an upgrade request with a body (400) before it gets here; this is the guard, not a path.
            throw new HttpRequestException("an upgrade request with a body is not forwarded");
        }
        var head = Http1Head.Request(request);
        var stream = await OpenAsync(request, cancellationToken).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(head, cancellationToken).ConfigureAwait(false);
            var response = await new Http1Reader(stream, MaxResponseHeadBytes).ReadResponseAsync(cancellationToken).ConfigureAwait(false);
            response.RequestMessage = request;
            return response;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask<Stream> OpenAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(openTimeout);
        try
        {
            return await _open(request, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // What SocketsHttpHandler throws when its ConnectTimeout passes: YARP answers 504.
            throw new TaskCanceledException($"the tunnel stream was not opened within {openTimeout.TotalSeconds:0.#} s (ConnectTimeout)", new TimeoutException(ex.Message, ex));
        }
    }
}

/// <summary>Writes an HTTP/1.1 request head as <see cref="SocketsHttpHandler"/> would: ASCII, one line per header.</summary>
internal static class Http1Head
{
    public static byte[] Request(HttpRequestMessage request)
    {
        var uri = request.RequestUri ?? throw new HttpRequestException("the request has no target");
        var text = new StringBuilder(512);
        text.Append(request.Method.Method).Append(' ').Append(uri.PathAndQuery).Append(" HTTP/1.1\r\n");
        Line(text, "Host", request.Headers.Host ?? uri.Authority);
        foreach (var (name, values) in request.Headers.NonValidated)
        {
            if (!string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase))
            {
                // Several values go on one line, joined with the header's own separator ("; " for Cookie, ", " else).
                Line(text, name, values.ToString());
            }
        }
        text.Append("\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static void Line(StringBuilder text, string name, string value)
    {
        foreach (var c in value)
        {
            // A line break would end the header and start another (response splitting in reverse); anything outside
            // ASCII is refused as SocketsHttpHandler refuses it.
            if (c is (< ' ' and not '\t') or > '~')
            {
                throw new HttpRequestException($"the value of request header '{name}' has a character that cannot be sent");
            }
        }
        text.Append(name).Append(": ").Append(value).Append("\r\n");
    }
}
