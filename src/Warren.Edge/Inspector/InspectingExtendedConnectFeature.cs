using Microsoft.AspNetCore.Http.Features;

namespace Warren.Edge.Inspector;

/// <summary>
/// The HTTP/2 counterpart of <see cref="InspectingUpgradeFeature"/>: a WebSocket over HTTP/2 is an extended CONNECT
/// (RFC 8441) that YARP accepts through this feature, and the stream it gets back is wrapped so the inspector sees
/// each WebSocket message go by (reads: client to service; writes: service to client).
/// </summary>
internal sealed class InspectingExtendedConnectFeature(IHttpExtendedConnectFeature inner, Capture capture, TimeProvider time) : IHttpExtendedConnectFeature
{
    public bool IsExtendedConnect => inner.IsExtendedConnect;

    public string? Protocol => inner.Protocol;

    public async ValueTask<Stream> AcceptAsync()
    {
        var stream = await inner.AcceptAsync().ConfigureAwait(false);
        return InspectingUpgradeFeature.Watch(stream, capture, time);
    }
}
