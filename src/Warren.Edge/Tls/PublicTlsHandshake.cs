using System.Buffers;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Warren.Edge.Acme;

namespace Warren.Edge.Tls;

/// <summary>
/// The public HTTPS listener's handshake (docs/https.md). Three pieces, in connection order:
/// <list type="number">
/// <item><see cref="PeekAlpn"/> (before TLS), only while a TLS-ALPN-01 challenge is pending: reads the
/// ClientHello without consuming it and notes whether it offers "acme-tls/1".</item>
/// <item><see cref="OnConnectionAsync"/> (Kestrel's TLS callback): the challenge certificate for such a handshake,
/// else the SNI selection; with no certificate the client gets a fatal unrecognized_name alert (RFC 6066 §3) instead
/// of a bare close, so a browser or curl says which name was refused.</item>
/// <item><see cref="CloseAcmeTls"/> (after TLS): an acme-tls/1 connection ends after its handshake (RFC 8737 §3).</item>
/// </list>
/// </summary>
internal sealed class PublicTlsHandshake(SniCertificateSelector sni, TlsAlpn01Responder? alpn)
{
    private const string AcmeTlsItem = "warren.acme-tls/1";

    /// <summary>How long a client may take to send its ClientHello while it is peeked (Kestrel's handshake timeout then applies).</summary>
    internal static TimeSpan PeekTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A TLS 1.2-framed fatal unrecognized_name alert: record type 21, version 3.3, length 2, level 2, description 112.</summary>
    private static readonly byte[] UnrecognizedNameAlert = [21, 3, 3, 0, 2, 2, 112];

    /// <summary>Connection middleware before UseHttps.</summary>
    public ConnectionDelegate PeekAlpn(ConnectionDelegate next) => connection => PeekAlpnAsync(connection, next);

    /// <summary>Connection middleware after UseHttps: a TLS-ALPN-01 validation connection carries no HTTP (RFC 8737 §3).</summary>
    public static ConnectionDelegate CloseAcmeTls(ConnectionDelegate next) => connection =>
        connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual(TlsAlpn01Responder.Protocol.Protocol.Span) == true
            ? Task.CompletedTask
            : next(connection);

    private async Task PeekAlpnAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (alpn is { HasPending: true })
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            timeout.CancelAfter(PeekTimeout);
            var input = connection.Transport.Input;
            try
            {
                while (true)
                {
                    var read = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                    var result = ClientHelloAlpn.Offers(read.Buffer, TlsAlpn01Responder.Protocol.Protocol.Span);
                    // Consume nothing: the TLS layer reads the same bytes next.
                    input.AdvanceTo(read.Buffer.Start, result == ClientHelloAlpn.Result.NeedMore ? read.Buffer.End : read.Buffer.Start);
                    if (result == ClientHelloAlpn.Result.Offered)
                    {
                        connection.Items[AcmeTlsItem] = true;
                    }
                    if (result != ClientHelloAlpn.Result.NeedMore || read.IsCompleted || read.IsCanceled)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return; // nothing (complete) within the time limit: close, as Kestrel's handshake timeout would
            }
        }
        await next(connection).ConfigureAwait(false);
    }

    public async ValueTask<SslServerAuthenticationOptions> OnConnectionAsync(TlsHandshakeCallbackContext context)
    {
        var name = context.ClientHelloInfo.ServerName;
        if (alpn is not null && context.Connection.Items.ContainsKey(AcmeTlsItem) && alpn.Find(name) is { } challenge)
        {
            return new SslServerAuthenticationOptions { ServerCertificateContext = challenge, ApplicationProtocols = [TlsAlpn01Responder.Protocol] };
        }
        if (sni.Select(name) is { } certificate)
        {
            // ApplicationProtocols left null: Kestrel offers h2 and http/1.1 as the listener allows.
            return new SslServerAuthenticationOptions { ServerCertificateContext = certificate };
        }
        // Nothing has been written to the client yet (SslStream has only read the ClientHello): the alert goes out
        // as the server's first and only record. Kestrel logs the AuthenticationException at debug level.
        try
        {
            await context.Connection.Transport.Output.WriteAsync(UnrecognizedNameAlert, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
        }
        throw new AuthenticationException(string.IsNullOrEmpty(name) ? "no SNI in the ClientHello" : $"no certificate for '{name}'");
    }
}
