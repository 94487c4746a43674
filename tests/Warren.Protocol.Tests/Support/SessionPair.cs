using Warren.Protocol.Session;

namespace Warren.Protocol.Tests.Support;

/// <summary>A client and a server session connected over one test transport.</summary>
internal sealed class SessionPair : IAsyncDisposable
{
    private readonly TransportEnd _clientEnd;
    private readonly TransportEnd _serverEnd;

    private SessionPair(MuxSession client, MuxSession server, TransportEnd clientEnd, TransportEnd serverEnd)
    {
        Client = client;
        Server = server;
        _clientEnd = clientEnd;
        _serverEnd = serverEnd;
    }

    public MuxSession Client { get; }
    public MuxSession Server { get; }

    /// <summary>The session of role <paramref name="opener"/>: the one a test opens streams on.</summary>
    public MuxSession Opener(SessionRole opener) => opener == SessionRole.Client ? Client : Server;

    /// <summary>The other session: the one that accepts.</summary>
    public MuxSession Acceptor(SessionRole opener) => opener == SessionRole.Client ? Server : Client;

    public static async Task<SessionPair> StartAsync(TransportKind kind, SessionOptions? clientOptions = null, SessionOptions? serverOptions = null)
    {
        var (c, s) = await TestTransport.CreateAsync(kind);
        var serverTask = MuxSession.StartAsync(s.Pipe, SessionRole.Server, serverOptions, abortTransport: s.Abort, name: "server");
        var client = await MuxSession.StartAsync(c.Pipe, SessionRole.Client, clientOptions, abortTransport: c.Abort, name: "client").Within();
        var server = await serverTask.Within();
        return new SessionPair(client, server, c, s);
    }

    /// <summary>Waits until neither session holds a stream.</summary>
    public Task WaitForNoStreamsAsync() =>
        Wait.UntilAsync(() => Client.StreamCount == 0 && Server.StreamCount == 0,
            $"both stream tables are empty (client {Client.StreamCount}, server {Server.StreamCount})");

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().AsTask().Within();
        await Server.DisposeAsync().AsTask().Within();
        _clientEnd.Owner?.Dispose();
        _serverEnd.Owner?.Dispose();
    }

    /// <summary>Every transport with either role opening: the session tests' matrix.</summary>
    public static TheoryData<TransportKind, SessionRole> Matrix => new()
    {
        { TransportKind.InMemory, SessionRole.Client },
        { TransportKind.InMemory, SessionRole.Server },
        { TransportKind.Tcp, SessionRole.Client },
        { TransportKind.Tcp, SessionRole.Server },
        { TransportKind.Tls, SessionRole.Client },
        { TransportKind.Tls, SessionRole.Server },
        { TransportKind.Sealed, SessionRole.Client },
        { TransportKind.Sealed, SessionRole.Server },
    };
}
