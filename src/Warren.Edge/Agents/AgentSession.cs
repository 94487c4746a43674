using System.Net;
using Warren.Edge.Routing;
using Warren.Edge.Tokens;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Agents;

/// <summary>An authenticated agent session: the multiplexer plus who it is and what it registered.</summary>
internal sealed class AgentSession(MuxSession mux, string tokenName, string agentName, EndPoint? remote, DateTimeOffset connectedAt)
{
    private static long s_nextId;

    public long Id { get; } = Interlocked.Increment(ref s_nextId);
    public MuxSession Mux { get; } = mux;
    /// <summary>The token this session authenticated with: it owns the hostnames and ports the session claims.</summary>
    public string TokenName { get; } = tokenName;
    public string AgentName { get; } = agentName;
    public EndPoint? Remote { get; } = remote;
    public DateTimeOffset ConnectedAt { get; } = connectedAt;

    /// <summary>Services this session registered successfully (replaced as a whole on re-registration).</summary>
    public IReadOnlyList<ServiceEntry> Services { get; set; } = [];

    /// <summary>When the session last registered (a TimeProvider timestamp): registrations are spaced (RegistrationHandler.MinInterval).</summary>
    public long? LastRegistration { get; set; }

    /// <summary>What the session's token may claim.</summary>
    public TokenGrant? Grant { get; init; }

    public bool IsUsable => !Mux.IsGoingAway;

    /// <summary>Opens a stream to <paramref name="service"/> on this session; every open is checked against what it registered.</summary>
    public ValueTask<MuxStream> OpenAsync(ServiceEntry service, StreamKind kind, string clientAddress, CancellationToken cancellationToken)
    {
        if (!Services.Contains(service))
        {
            throw new InvalidOperationException($"session {Id} does not serve {service.Name}");
        }
        var metadata = new StreamOpenRequest(kind, service.Name, clientAddress).Encode();
        return Mux.OpenStreamAsync(metadata, cancellationToken);
    }

    public override string ToString() => $"{AgentName}#{Id} ({Remote})";
}
