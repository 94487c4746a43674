using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Warren.Configuration;
using Warren.Edge.Routing;

namespace Warren.Edge.Forwarding;

/// <summary>
/// A drained service's WebSockets end at the drain's timeout (docs/operations.md, "Draining a service and
/// maintenance"), where they used to keep the drain going for ever. On HTTP/1.1 the client's input is ended
/// (shutdown of the socket's receiving side): the forwarder passes the end of input to the backend through the tunnel,
/// and as the backend closes its side the response ends and the connection closes with a FIN each way, no reset. An
/// HTTP/2 WebSocket shares its connection, so only its stream is reset. Only upgrade requests are looked at: one header
/// check per request otherwise.
/// </summary>
internal sealed class DrainCloser(RouteTable routes)
{
    public RequestDelegate Wrap(RequestDelegate next) => context =>
        context.Request.Headers.Upgrade.Count > 0 || HttpMethods.IsConnect(context.Request.Method) ? InvokeAsync(context, next) : next(context);

    private async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host) || host.Length == 0
            || routes.MatchHttp(host, request.Path.Value ?? "/") is not { } service)
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        using var drained = service.DrainExpired.Register(static c => Close((HttpContext)c!), context);
        await next(context).ConfigureAwait(false);
    }

    private static void Close(HttpContext context)
    {
        if (context.Features.Get<IHttpResetFeature>() is { } reset)
        {
            reset.Reset(0); // NO_ERROR: this stream ends, the connection's others go on
            return;
        }
        try
        {
            context.Features.Get<IConnectionSocketFeature>()?.Socket.Shutdown(SocketShutdown.Receive);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }
}
