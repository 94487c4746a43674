using Microsoft.AspNetCore.Http.Features;

namespace Warren.Edge.Inspector;

/// <summary>
/// Stands in for Kestrel's upgrade feature on an inspected request: YARP upgrades through it, and gets the client's
/// connection wrapped so the inspector sees each WebSocket message go by (reads: client to service; writes: service
/// to client). HTTP/2 WebSockets (extended CONNECT) go through <see cref="InspectingExtendedConnectFeature"/>.
/// </summary>
internal sealed class InspectingUpgradeFeature(IHttpUpgradeFeature inner, Capture capture, TimeProvider time) : IHttpUpgradeFeature
{
    public bool IsUpgradableRequest => inner.IsUpgradableRequest;

    public async Task<Stream> UpgradeAsync()
    {
        var stream = await inner.UpgradeAsync().ConfigureAwait(false);
        return Watch(stream, capture, time);
    }

    /// <summary>Wraps an accepted WebSocket connection so each message in either direction becomes an event of <paramref name="capture"/>.</summary>
    internal static Stream Watch(Stream stream, Capture capture, TimeProvider time)
    {
        capture.Kind = "websocket";
        var fromClient = new WebSocketFrameReader((what, bytes) => capture.AddEvent(new CaptureEvent(time.GetUtcNow(), "client → service", what, bytes)));
        var toClient = new WebSocketFrameReader((what, bytes) => capture.AddEvent(new CaptureEvent(time.GetUtcNow(), "service → client", what, bytes)));
        return new CaptureStream(stream, fromClient.Feed, toClient.Feed);
    }
}
