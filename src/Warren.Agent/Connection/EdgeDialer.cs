using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Warren.Protocol.Transport;
using Warren.Configuration;

namespace Warren.Agent.Connection;

/// <summary>
/// Opens the transport to the edge: TCP, then TLS verified by chain or by a pinned SHA-256 fingerprint, then sealed
/// records when the edge agrees them (docs/protocol.md §1.1).
/// </summary>
/// <param name="config">The agent's configuration: where the edge is and how its certificate is checked.</param>
/// <param name="timeout">TCP connect and TLS handshake together (<see cref="WarrenAgentOptions.DialTimeout"/>).</param>
/// <param name="logger">Where a refused certificate or a plain link is logged.</param>
internal sealed partial class EdgeDialer(AgentConfig config, TimeSpan timeout, ILogger logger)
{
    private readonly (string Host, int Port) _edge = ParseEndpoint(config.Edge);

    /// <summary>The link's stream (sealed records, TLS with an edge from before them, or plain TCP when insecure) and the socket under it.</summary>
    public async Task<(Stream Stream, LinkStream Link)> DialAsync(CancellationToken stopping)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        limit.CancelAfter(timeout);
        try
        {
            return await DialOnceAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            throw new TimeoutException($"no TLS session with the edge within {timeout.TotalSeconds:0.#} s");
        }
    }

    private async Task<(Stream, LinkStream)> DialOnceAsync(CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_edge.Host, _edge.Port, cancellationToken).ConfigureAwait(false);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            var network = new LinkStream(socket, ownsSocket: true);
            if (config.Insecure)
            {
                Log.InsecureLink(logger, config.Edge);
                return (network, network);
            }
            var tls = network.StartTls(leaveInnerStreamOpen: false);
            try
            {
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = _edge.Host,
                    RemoteCertificateValidationCallback = ValidateEdgeCertificate,
                    // Sealed records when the edge agrees (docs/protocol.md §1.1); an edge that does not know them or
                    // has them off selects nothing, and the link stays on TLS, as it does with sealed_records: false.
                    ApplicationProtocols = SealedLinkStream.Offer(config.SealedRecords),
                }, cancellationToken).ConfigureAwait(false);
                return (await SealedLinkStream.SwitchIfAgreedAsync(tls, network, isClient: true, ownsSocket: true, cancellationToken).ConfigureAwait(false), network);
            }
            catch
            {
                await tls.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }


    /// <summary>With a pin, only the full SHA-256 of the edge's certificate counts; without one, the normal chain check.</summary>
    private bool ValidateEdgeCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (config.EdgeFingerprint is { } pinned)
        {
            if (certificate is null)
            {
                return false;
            }
            var actual = SHA256.HashData(certificate.GetRawCertData());
            var expected = Convert.FromHexString(pinned);
            var match = CryptographicOperations.FixedTimeEquals(actual, expected);
            if (!match)
            {
                Log.FingerprintMismatch(logger, config.Edge, Convert.ToHexStringLower(actual));
            }
            return match;
        }
        if (errors != SslPolicyErrors.None)
        {
            Log.CertificateRejected(logger, config.Edge, errors.ToString());
            return false;
        }
        return true;
    }

    internal static (string Host, int Port) ParseEndpoint(string value) =>
        ConfigFormats.TryParseHostPort(value, out var host, out var port) ? (host, port) : throw new FormatException($"'{value}' is not host:port");

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Warning, "Agent link to {Edge} is PLAIN TCP (insecure: true): tokens and traffic travel unencrypted. Use only for local tests.", EventName = "InsecureLink")]
        public static partial void InsecureLink(ILogger logger, string edge);

        [LoggerMessage(101, LogLevel.Error, "The edge {Edge} presented a certificate with SHA-256 {Actual}, which does not match edge_fingerprint; refusing to connect", EventName = "FingerprintMismatch")]
        public static partial void FingerprintMismatch(ILogger logger, string edge, string actual);

        [LoggerMessage(102, LogLevel.Error, "The edge {Edge} presented a certificate that does not validate ({Errors}); set edge_fingerprint to pin a self-signed one", EventName = "CertificateRejected")]
        public static partial void CertificateRejected(ILogger logger, string edge, string errors);
    }
}
