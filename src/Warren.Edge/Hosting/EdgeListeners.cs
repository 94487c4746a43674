using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Limits;
using Warren.Edge.Shield;
using Warren.Edge.Telemetry;
using Warren.Edge.Tls;

namespace Warren.Edge.Hosting;

/// <summary>
/// The edge's Kestrel listeners, one builder each: public HTTP, public HTTPS (certificate by SNI), and the agents
/// listener (TLS, then the multiplexer). Each records its <see cref="ListenOptions"/> under its name, from which the
/// bound port is read after start (a port given as 0 is chosen by the OS).
/// </summary>
internal sealed class EdgeListeners(EdgeMetrics metrics, PerIpConnectionLimiter perIp, ShieldConnectionGate shield)
{
    private readonly Dictionary<string, ListenOptions> _listeners = [];

    public int? Port(string name) => _listeners.GetValueOrDefault(name)?.IPEndPoint?.Port;

    /// <summary>The name of the listener bound to <paramref name="port"/> ("other" when none is).</summary>
    public string NameOf(int port) => _listeners.FirstOrDefault(l => l.Value.IPEndPoint?.Port == port).Key ?? "other";

    /// <summary>Request limits for every public listener (docs/security.md).</summary>
    public static void ApplyLimits(KestrelServerOptions kestrel, EdgeLimitsConfig limits)
    {
        kestrel.AddServerHeader = false;
        var k = kestrel.Limits;
        ApplyLiveLimits(k, limits);
        k.MaxConcurrentConnections = limits.MaxConnections;
        k.MaxConcurrentUpgradedConnections = limits.MaxConnections;
        // Kestrel's defaults, kept on purpose and named here so they are visible (docs/security.md):
        // 32 KiB of headers in at most 100 fields, 8 KiB request line.
        k.MaxRequestHeadersTotalSize = 32 * 1024;
        k.MaxRequestHeaderCount = 100;
        k.MaxRequestLineSize = 8 * 1024;
        Http2Hardening.Apply(k.Http2);
    }

    /// <summary>
    /// The limits Kestrel takes for each new connection (body size, data rates, headers timeout): set
    /// at start, and again on reload (Limits/LiveLimits.cs), when they hold for connections accepted from then on.
    /// </summary>
    public static void ApplyLiveLimits(KestrelServerLimits k, EdgeLimitsConfig limits)
    {
        k.MaxRequestBodySize = limits.MaxRequestBodySize;
        k.RequestHeadersTimeout = limits.RequestHeadersTimeout;
        // Slow clients (docs/security.md "Slow clients"): Kestrel's 240 B/s let a client trickling 300 B/s hold a
        // service's slot for as long as it liked; limits.min_*_data_rate, 1 KiB/s by default.
        k.MinRequestBodyDataRate = DataRate(limits.MinRequestBodyDataRate, limits.DataRateGracePeriod);
        k.MinResponseDataRate = DataRate(limits.MinResponseDataRate, limits.DataRateGracePeriod);
    }

    private static MinDataRate? DataRate(long bytesPerSecond, TimeSpan grace) => bytesPerSecond > 0 ? new MinDataRate(bytesPerSecond, grace) : null;

    /// <summary>listen.http on <paramref name="socket"/> (Hosting/ListenSockets.cs): HTTP/1.1, banned clients refused at accept, capped per client IP, bytes counted.</summary>
    public void ListenHttp(KestrelServerOptions kestrel, Socket socket) => kestrel.Listen((IPEndPoint)socket.LocalEndPoint!, l =>
    {
        l.Use(shield.Middleware);
        l.Use(perIp.Middleware);
        l.Use(ConnectionTelemetry.Middleware(metrics, "http", countBytes: true));
        l.Protocols = HttpProtocols.Http1;
        _listeners["http"] = l;
    });

    /// <summary>
    /// listen.https: HTTP/1.1 and HTTP/2 by ALPN, the certificate chosen by SNI (<paramref name="handshake"/>), capped
    /// per client IP, bytes counted; a banned client is refused at accept, before the handshake. With ACME tls-alpn-01 (<paramref name="acmeTlsAlpn"/>) a CA's validation handshake
    /// is recognised before TLS and closed after it, never reaching a service.
    /// </summary>
    public void ListenHttps(KestrelServerOptions kestrel, Socket socket, PublicTlsHandshake handshake, bool acmeTlsAlpn) => kestrel.Listen((IPEndPoint)socket.LocalEndPoint!, l =>
    {
        l.Use(shield.Middleware);
        l.Use(perIp.Middleware);
        l.Protocols = HttpProtocols.Http1AndHttp2;
        if (acmeTlsAlpn)
        {
            l.Use(handshake.PeekAlpn);
        }
        l.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = handshake.OnConnectionAsync });
        if (acmeTlsAlpn)
        {
            l.Use(PublicTlsHandshake.CloseAcmeTls);
        }
        l.Use(ConnectionTelemetry.Middleware(metrics, "https", countBytes: true));
        _listeners["https"] = l;
    });
}
