using Microsoft.Extensions.Logging;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;

namespace Warren.SecurityTests.Harness;

/// <summary>
/// A hand-driven agent: TLS (pinned to the edge's certificate), the multiplexer handshake, and then whatever the
/// test sends on the control stream (docs/protocol.md §10.2), so it can misbehave in ways the real agent never does.
/// </summary>
internal sealed class RawAgent : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly Stream _transport;

    private RawAgent(Stream transport, MuxSession session)
    {
        _transport = transport;
        Session = session;
    }

    public MuxSession Session { get; }

    public ControlChannel? Control { get; private set; }

    /// <summary>TLS, then HELLO both ways (from <paramref name="source"/> when given). Throws when the edge drops the connection first.</summary>
    public static async Task<RawAgent> ConnectAsync(int port, string fingerprint, ILogger logger, SessionOptions? options = null, System.Net.IPAddress? source = null)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var tls = await AgentLink.DialTlsAsync(port, fingerprint, cts.Token, source);
        try
        {
            var session = await MuxSession.StartAsync(StreamTransport.Create(tls), SessionRole.Client, options ?? new SessionOptions(), logger,
                abortTransport: tls.Dispose, name: "raw-agent", cancellationToken: cts.Token);
            return new RawAgent(tls, session);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>Opens the control stream and sends {"type":"auth"}; returns the edge's answer (null: it hung up).</summary>
    public async Task<ControlMessage?> AuthenticateAsync(string token, string agent = "raw-agent")
    {
        using var cts = new CancellationTokenSource(Timeout);
        var stream = await Session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Control, "", "").Encode(), cts.Token);
        Control = new ControlChannel(stream);
        await Control.SendAsync(new ControlMessage { Type = ControlMessage.Auth, Token = token, Agent = agent }, cts.Token);
        return await Control.ReceiveAsync(cts.Token);
    }

    public async Task<IReadOnlyList<RegistrationResult>> RegisterAsync(params ServiceRegistration[] services)
    {
        var answer = await ExchangeAsync(new ControlMessage { Type = ControlMessage.Register, Services = services });
        Assert.Equal(ControlMessage.RegisterResult, answer.Type);
        return answer.Results!;
    }

    /// <summary>Sends one control message after login and returns the edge's answer; fails when the edge hangs up instead.</summary>
    public async Task<ControlMessage> ExchangeAsync(ControlMessage message)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var control = Control ?? throw new InvalidOperationException("authenticate first");
        await control.SendAsync(message, cts.Token);
        return await control.ReceiveAsync(cts.Token) ?? throw new InvalidOperationException("the edge ended the control stream instead of answering");
    }

    public async ValueTask DisposeAsync()
    {
        Session.Abort(Warren.Protocol.Framing.ErrorCode.NoError, "test done");
        await _transport.DisposeAsync();
        await Session.DisposeAsync().AsTask().WaitAsync(Timeout);
    }
}
