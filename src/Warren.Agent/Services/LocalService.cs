using System.Net.Security;
using System.Net.Sockets;
using Warren.Configuration;
using Warren.Protocol.Framing;

namespace Warren.Agent.Services;

/// <summary>
/// One configured service on the agent: its target (the only address it ever dials) and its concurrency limit.
/// </summary>
internal sealed class LocalService(ServiceConfig config) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(config.MaxConcurrency, config.MaxConcurrency);

    public ServiceConfig Config { get; } = config;

    public int InFlight => Config.MaxConcurrency - _slots.CurrentCount;

    /// <summary>Waits for a slot up to the queue timeout; false means the service is saturated (→ 503 at the edge).</summary>
    public Task<bool> TryAcquireAsync(CancellationToken cancellationToken) => _slots.WaitAsync(Config.QueueTimeout, cancellationToken);

    public void Release() => _slots.Release();

    public void Dispose() => _slots.Dispose();

    /// <summary>
    /// Connects to the target, and for a TCP service with <c>proxy_protocol</c> writes the PROXY header naming
    /// <paramref name="clientAddress"/> (the OPEN's "ip:port") first. Failure is reported as the stream error the edge
    /// maps to 502 or 504.
    /// </summary>
    public async Task<(Stream? Stream, ErrorCode Error)> DialAsync(string clientAddress, CancellationToken cancellationToken)
    {
        var target = Config.Target;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Config.DialTimeout);
        try
        {
            await socket.ConnectAsync(target.Host, target.Port, timeout.Token).ConfigureAwait(false);
            var network = new NetworkStream(socket, ownsSocket: true);
            if (Config.ProxyProtocol is { } version)
            {
                // Before any byte of the client's, and before TLS where there is any (docs/policy.md, "PROXY protocol").
                await network.WriteAsync(ProxyProtocolHeader.Build(version, clientAddress, socket.RemoteEndPoint, Config.Port ?? 0), timeout.Token).ConfigureAwait(false);
            }
            Stream stream = network;
            if (target.Scheme == "https")
            {
                var tls = new BackendConnection.TlsStream(network);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = target.Host,
#pragma warning disable CA5359 // the operator opted out per service (insecure_skip_verify) for a self-signed backend
                    RemoteCertificateValidationCallback = Config.InsecureSkipVerify ? static (_, _, _, _) => true : null,
#pragma warning restore CA5359
                }, timeout.Token).ConfigureAwait(false);
                stream = tls;
            }
            return (stream, ErrorCode.NoError);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return (null, ErrorCode.DialTimeout);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return (null, ErrorCode.DialFailed);
        }
        catch
        {
            // Cancelled (the edge gave up on the stream, or the session ended): the half-made connection goes too.
            socket.Dispose();
            throw;
        }
    }
}
